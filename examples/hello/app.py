"""The getting-started app: one socket with one channel, mounted in Starlette.

Run it from the repository root::

    uvicorn examples.hello.app:app --port 4000

phoenix.js connects with ``new Socket("/socket", {params: {user: "alice"}})``.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from phoenix_py import Channel, ChannelReply, ConnectInfo, Endpoint, Socket, error, ok


class RoomChannel(Channel):
    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        if topic != "room:lobby":
            return error({"reason": "unauthorized"})
        return {"user": self.assigns["user"]}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "new_msg":
            message = {"user": self.assigns["user"], "body": payload["body"]}
            await self.broadcast("new_msg", message)  # to every client on this topic
            return ok()
        if event == "ping":
            return ok({"pong": payload})
        return error({"reason": f"unknown event {event}"})


class UserSocket(Socket):
    channels = (("room:*", RoomChannel),)

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        user = params.get("user")
        if not isinstance(user, str) or not user:
            return False  # refused: HTTP 403
        self.assigns["user"] = user
        return True

    def id(self) -> str | None:
        return f"user_socket:{self.assigns['user']}"


endpoint = Endpoint()
app = Starlette(
    routes=[Mount("/socket", app=endpoint.socket_app(UserSocket))],
    lifespan=endpoint.lifespan,
)
