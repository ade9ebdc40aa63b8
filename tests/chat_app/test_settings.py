"""Settings: database URLs, the secret kept beside the database, flags and environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.chat_app.__main__ import parse_args
from examples.chat_app.settings import (
    DEFAULT_DATABASE_URL,
    async_database_url,
    load_or_create_secret,
    secret_file,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///chat.sqlite3", "sqlite+aiosqlite:///chat.sqlite3"),
        ("sqlite:////var/chat.db", "sqlite+aiosqlite:////var/chat.db"),
        ("postgresql://u:p@db:5432/chat", "postgresql+asyncpg://u:p@db:5432/chat"),
        ("postgres://u@db/chat", "postgresql+asyncpg://u@db/chat"),
    ],
)
def test_database_urls_get_their_async_driver(url: str, expected: str) -> None:
    assert async_database_url(url) == expected


def test_other_databases_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="use sqlite:///PATH or postgresql://"):
        async_database_url("mysql://u@db/chat")


def test_the_secret_is_generated_once_beside_the_database(tmp_path: Path) -> None:
    path = secret_file(f"sqlite:///{tmp_path / 'data' / 'chat.sqlite3'}")
    assert path == tmp_path / "data" / "chat_app.secret"
    secret = load_or_create_secret(path)
    assert len(secret) >= 32
    assert load_or_create_secret(path) == secret
    assert path.stat().st_mode & 0o777 == 0o600


def test_flags_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args([]).database_url == DEFAULT_DATABASE_URL
    monkeypatch.setenv("CHAT_PORT", "4321")
    monkeypatch.setenv("CHAT_REDIS", "redis://127.0.0.1:6379/0")
    args = parse_args(["--secret", "from the flag"])
    assert (args.port, args.redis, args.secret) == (
        4321,
        "redis://127.0.0.1:6379/0",
        "from the flag",
    )


def test_a_bad_database_url_stops_at_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--database-url", "oracle://x"])
    assert "unsupported database URL" in capsys.readouterr().err
