"""Live uploads in-process (phoenix_py.live.testing): the contract's /lv/upload page,
the limits, and a client that lies or forges: each refused with a clear reply."""

from __future__ import annotations

import hashlib

import pytest

from examples.contract.app import create_app
from phoenix_py._core.message import Message
from phoenix_py.live import Live
from phoenix_py.live.testing import live

pytestmark = pytest.mark.anyio

LIVE: Live = create_app().state.live


async def test_upload_and_consume() -> None:
    view = await live(LIVE, "/lv/upload")
    notes, data = b"hello\n" * 50, bytes(range(256)) * 300  # 76,800 bytes: two chunks
    reply = await view.upload(
        "doc", [("notes.txt", notes, "text/plain"), ("data.bin", data, "application/octet-stream")]
    )
    assert set(reply["entries"]) == {"0", "1"} and reply["config"]["chunk_size"] == 64_000
    assert [tag.get_text() for tag in view.select(".entry-progress")] == ["100", "100"]
    await view.form("#upload-form").submit()
    assert [tag.get_text() for tag in view.select("[data-testid=uploaded]")] == [
        f"notes.txt {len(notes)} {hashlib.sha256(notes).hexdigest()}",
        f"data.bin {len(data)} {hashlib.sha256(data).hexdigest()}",
    ]
    assert view.select("[data-testid=entry]") == []


async def test_limits_are_errors_on_the_page() -> None:
    view = await live(LIVE, "/lv/upload")
    reply = await view.upload("doc", [("big.bin", b"x" * 100_001, "application/octet-stream")])
    assert reply["entries"] == {} and reply["errors"] == {"0": ["too_large"]}
    assert view.text(".entry-error") == "too_large"
    await view.upload("doc", [(f"f{n}.txt", b"x", "text/plain") for n in range(2)])
    assert view.text(".upload-error") == "too_many_files"


async def test_a_client_that_lies_about_the_size_is_stopped() -> None:
    view = await live(LIVE, "/lv/upload")
    upload_ref = view.select("input[type=file]")[0]["data-phx-upload-ref"]
    entry = {"ref": "7", "name": "liar.bin", "size": 10, "type": "application/octet-stream"}
    reply = await view._push("allow_upload", {"ref": upload_ref, "entries": [entry]})
    token = reply["entries"]["7"]
    socket = view.socket
    join_ref = socket.next_ref()
    await socket.send(Message("lvu:7", "phx_join", {"token": token}, join_ref, join_ref))
    assert (await view._reply("lvu:7", join_ref))["status"] == "ok"
    ref = socket.next_ref()
    await socket.send(Message("lvu:7", "chunk", b"x" * 100_001, ref, join_ref))
    answer = await view._reply("lvu:7", ref)
    assert answer == {
        "status": "error",
        "response": {"reason": "file_size_limit_exceeded", "limit": 100_000},
    }
    assert view.text("#upload-form button") == "upload"  # the view lives on


async def test_forged_tokens_and_unknown_refs_are_refused() -> None:
    view = await live(LIVE, "/lv/upload")
    socket = view.socket
    join_ref = socket.next_ref()
    await socket.send(Message("lvu:0", "phx_join", {"token": "forged"}, join_ref, join_ref))
    assert (await view._reply("lvu:0", join_ref))["response"] == {"reason": "invalid_token"}
    with pytest.raises(AssertionError, match="no such upload"):
        await view._push("allow_upload", {"ref": "phx-nope", "entries": []})
    upload_ref = view.select("input[type=file]")[0]["data-phx-upload-ref"]
    with pytest.raises(AssertionError, match="no such upload entry"):
        await view._push("progress", {"ref": upload_ref, "entry_ref": "9", "progress": 50})
