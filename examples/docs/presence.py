"""The code of docs/presence.md: who is in a room, with the Presence of the app's state.

Serve it with ``uvicorn examples.docs.presence:app --port 4000``; the page
script ``js/presence.mjs`` joins ``room:lobby`` and prints the presence list
at every sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from phoenix_py import Channel, ChannelReply, ConnectInfo, Endpoint, PubSub, Socket, ok
from phoenix_py.presence import Presence


@dataclass(frozen=True)
class Services:
    """The app's objects: ``self.state`` in its socket and channels."""

    presence: Presence


class RoomChannel(Channel):
    state: Services

    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        name = payload.get("name") if isinstance(payload, dict) else None
        self.meta: dict[str, Any] = {"name": name or self.assigns["user"]}
        self.send_info("after_join")
        return {}

    async def handle_info(self, message: Any) -> None:
        if message == "after_join":
            presence = self.state.presence
            presence.track(self, self.assigns["user"], self.meta)
            self.push("presence_state", presence.list(self.topic))

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "rename" and isinstance(payload, dict):
            self.meta = {**self.meta, "name": payload.get("name")}
            self.state.presence.update(self, self.assigns["user"], self.meta)
            return ok()
        raise ValueError(f"RoomChannel does not handle {event!r}")


class UserSocket(Socket):
    channels = (("room:*", RoomChannel),)

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        user = params.get("user")
        if not isinstance(user, str) or not user:
            return False
        self.assigns["user"] = user
        return True


pubsub = PubSub()
presence = Presence(pubsub)  # before the endpoint starts
endpoint = Endpoint(pubsub, state=Services(presence))
app = Starlette(
    routes=[Mount("/socket", app=endpoint.socket_app(UserSocket))],
    lifespan=endpoint.lifespan,
)


class CountingPresence(Presence):
    """Each presence with the number of its metas (a user's open tabs)."""

    def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
        return {key: {**p, "count": len(p["metas"])} for key, p in presences.items()}
