"""python-socketio under test, the same scenario as ``phoenix_py_server``.

Event ``join`` (acknowledged) enters the room; event ``publish`` (room,
payload) emits ``msg`` to the room, skipping the sender. Run by the suite as::

    python -m benchmarks.servers.socketio_server --port 4000
"""

from __future__ import annotations

from typing import Any

import socketio

from benchmarks.servers.common import arguments, serve


def build_app() -> socketio.ASGIApp:
    sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)

    @sio.event
    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return "ok"

    @sio.event
    async def publish(sid: str, room: str, payload: Any) -> None:
        await sio.emit("msg", payload, room=room, skip_sid=sid)

    return socketio.ASGIApp(sio, socketio_path="socket.io")


def main() -> None:
    args = arguments(__doc__).parse_args()
    serve(build_app(), args)


if __name__ == "__main__":
    main()
