"""What the app is told at start: where it listens, its database, Redis, its JWT secret.

Each setting is a command-line flag and an environment variable (``__main__``).
The database URL is written as in CHAT_API.md (``sqlite:///PATH`` or
``postgresql://...``) and mapped to SQLAlchemy's async drivers here. When no
secret is given, one is generated once and kept in a file beside the SQLite
database (in the working directory for PostgreSQL), so that tokens survive a
restart.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite:///chat_app.sqlite3"
SECRET_FILE_NAME = "chat_app.secret"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    #: ``redis://HOST:PORT/N``: run as one instance of a cluster.
    redis_url: str | None = None
    #: Signs the JWTs (and, derived from it, the LongPoll sessions).
    secret: str | None = None


def async_database_url(url: str) -> str:
    """The SQLAlchemy URL with its async driver (aiosqlite, asyncpg) for ``url``.

    Raises:
        ValueError: the URL is neither SQLite nor PostgreSQL.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(
        f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST/NAME"
    )


def secret_file(database_url: str) -> Path:
    """Where the generated secret is kept: beside the SQLite file, else in the working directory."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(str(parsed.database)).resolve().parent / SECRET_FILE_NAME
    return Path.cwd() / SECRET_FILE_NAME


def load_or_create_secret(path: Path) -> str:
    """The secret stored at ``path``, created there (readable by its owner only) if absent."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another instance, starting at the same time, wrote it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secret + "\n")
    return secret
