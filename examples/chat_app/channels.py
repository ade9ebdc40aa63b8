"""The socket and its channels (CHAT_API.md, "Channels").

* ``ChatSocket``: connects with the JWT of ``POST /api/sessions`` (``token``
  param or phoenix.js ``authToken``), through ``Socket.authenticate``.
* ``RoomChannel`` on ``room:<id>``: history on join, ``new_message`` (validated,
  rate limited per user, cluster-wide with Redis, stored, then broadcast
  through the rooms' ``History``, so that a rejoin with ``since`` gets the
  messages it missed), ``typing`` (to the others, not kept), and Presence
  keyed by user id with metas ``{"username", "online_at"}``.
* ``UserChannel`` on ``user:<id>`` (its own user only) and ``PublicRoomsChannel``
  on ``rooms:public``: ``room_added`` when the user is added to a room or a
  public room is created, so that the page's room list stays live.

What they use (the store, the auth, the presence, the rate limiter, the history) is the
endpoint's ``state``, a ``Services`` that ``app.create_app`` builds, so that
several apps can live in one process (tests do).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from phoenix_py import Broadcast, Channel, ChannelReply, ConnectInfo, Socket, error, ok
from phoenix_py.auth import JWTAuth
from phoenix_py.history import History
from phoenix_py.presence import Presence

from .accounts import body_errors
from .http_api import PUBLIC_ROOMS_TOPIC, user_topic
from .rate_limit import RateLimiter
from .store import JSON, ChatStore

HISTORY_ON_JOIN = 50


@dataclass(frozen=True)
class Services:
    """What the channels use, shared by every connection of one app."""

    store: ChatStore
    auth: JWTAuth
    presence: Presence
    rate_limiter: RateLimiter
    #: Every room's ``new_message`` broadcasts, kept for the clients that rejoin.
    history: History


class ChatChannel(Channel):
    state: Services

    @property
    def user(self) -> JSON:
        user: JSON = self.assigns["user"]
        return user


class RoomChannel(ChatChannel):
    intercepts = ("typing",)

    @property
    def history(self) -> History:
        return self.state.history

    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        store = self.state.store
        _, _, raw_id = topic.partition(":")
        room = await store.get_room(int(raw_id)) if raw_id.isdigit() else None
        if room is None:
            return error({"reason": "not_found"})
        if not await store.can_read(room, self.user["id"]):
            return error({"reason": "unauthorized"})
        self.room = room
        self.send_info("after_join")
        if isinstance(payload, dict) and "since" in payload:
            # a rejoin: the runtime sends what came after ``since`` (recovered: true),
            # or the client fetches the last messages itself (recovered: false)
            return {"room": room}
        return {"room": room, "messages": await store.messages(room["id"], limit=HISTORY_ON_JOIN)}

    async def handle_info(self, message: Any) -> None:
        if message == "after_join":
            presence = self.state.presence
            online_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            presence.track(
                self, self.user["id"], {"username": self.user["username"], "online_at": online_at}
            )
            self.push("presence_state", presence.list(self.topic))

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "new_message":
            return await self.new_message(payload)
        if event == "typing":
            await self.typing()
            return ok()
        return error({"reason": f"unknown event {event!r}"})

    async def typing(self) -> None:
        """``typing`` to the others in the room. Not kept (this channel's ``broadcast``
        would keep it): a rejoin must not replay it. Each channel's ``handle_out`` leaves
        out the typist's own tabs, as the LiveView pages do."""
        typing = Broadcast(self.topic, "typing", {"user": self.user})
        await self.history.pubsub.broadcast(self.topic, typing)

    async def handle_out(self, event: str, payload: Any) -> None:
        if payload["user"]["id"] != self.user["id"]:  # typing: the others only
            self.push(event, payload)

    async def new_message(self, payload: Any) -> ChannelReply:
        body = payload.get("body") if isinstance(payload, dict) else None
        errors = body_errors(body)
        if errors:
            return error({"errors": errors})
        if not await self.state.rate_limiter.allow(str(self.user["id"])):
            return error({"reason": "rate_limited"})
        body = cast(str, body)  # validated above
        message = await self.state.store.insert_message(self.room["id"], self.user, body)
        await self.broadcast("new_message", message)
        return ok({"id": message["id"]})


class UserChannel(ChatChannel):
    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        if topic != user_topic(self.user["id"]):
            return error({"reason": "unauthorized"})
        return {}


class PublicRoomsChannel(ChatChannel):
    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        return {}


class ChatSocket(Socket):
    channels = (
        ("room:*", RoomChannel),
        ("user:*", UserChannel),
        (PUBLIC_ROOMS_TOPIC, PublicRoomsChannel),
    )
    state: Services

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        if not await self.authenticate(self.state.auth, params, connect_info):
            return False
        claims = self.assigns["claims"]
        self.assigns["user"] = {"id": int(claims["sub"]), "username": claims["name"]}
        return True

    def id(self) -> str:
        return f"user_socket:{self.assigns['user']['id']}"
