"""The code of docs/channels.md: a socket, a channel with every kind of callback,
the reply shapes, and a channel that replies later.

Serve it with ``uvicorn examples.docs.channels:app --port 4000``; phoenix.js
connects with ``new Socket("/socket", {authToken: "secret-token"})``
(``js/auth_token.mjs``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from phoenix_py import (
    Channel,
    ChannelReply,
    ConnectInfo,
    Endpoint,
    Socket,
    SocketRef,
    error,
    ok,
    reply,
    reply_with,
)

#: Stands in for a real verification (a JWT: see docs/authentication.md).
TOKENS = {"secret-token": "alice", "token-of-bob": "bob"}


def check_token(token: object) -> str | None:
    """The user ``token`` belongs to, or ``None``."""
    return TOKENS.get(token) if isinstance(token, str) else None


class RoomChannel(Channel):
    intercepts = ("censored",)

    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        if topic == "room:forbidden":
            return error({"reason": "unauthorized"})
        return {"topic": topic, "user": self.assigns["user"]}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "echo":
            return reply_with("ok", payload)
        if event == "shout":
            await self.broadcast("shout", payload)
            return ok()
        if event == "push_me":
            self.push("pushed", payload)
            return ok()
        if event == "censor":
            await self.broadcast("censored", payload)
            return ok()
        raise ValueError(f"RoomChannel does not handle {event!r}")  # crashes this channel only

    async def handle_out(self, event: str, payload: Any) -> None:
        self.push(event, {**payload, "text": "***"})


#: The reply each returns, as the client gets it (the payload of the ``phx_reply``).
REPLIES = [
    ok(),  # {"status": "ok", "response": {}}
    ok({"id": 7}),  # {"status": "ok", "response": {"id": 7}}
    error({"reason": "nope"}),  # {"status": "error", "response": {"reason": "nope"}}
    reply_with("pending", None),  # {"status": "pending", "response": null}
]


async def do_the_work(payload: Any) -> Any:
    """Stands in for your own coroutine (a query, a call to another service)."""
    await asyncio.sleep(0.01)
    return payload


class JobChannel(Channel):
    async def join(self, topic: str, payload: Any) -> None:
        self.jobs: set[asyncio.Task[None]] = set()
        return None

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "run":
            task = asyncio.create_task(self.run(self.socket_ref(), payload))
            self.jobs.add(task)
            task.add_done_callback(self.jobs.discard)
            return None  # no reply yet; the channel handles its next message
        return error({"reason": f"unknown event {event}"})

    async def run(self, ref: SocketRef, payload: Any) -> None:
        result = await do_the_work(payload)
        reply(ref, ok({"result": result}))


class UserSocket(Socket):
    channels = (("room:*", RoomChannel), ("jobs:*", JobChannel))

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        token = connect_info.auth_token or params.get("token")
        user = check_token(token)  # your own verification
        if user is None:
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
