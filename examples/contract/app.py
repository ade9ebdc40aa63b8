"""The contract app: channels and HTTP endpoints exactly as CONTRACT.md fixes them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from phoenix_py import (
    Channel,
    ChannelReply,
    ConnectInfo,
    Endpoint,
    PubSub,
    Socket,
    error,
    ok,
    reply_with,
)
from phoenix_py.auth import JWTAuth
from phoenix_py.history import History
from phoenix_py.metrics import PrometheusMetrics
from phoenix_py.presence import Presence

from .dashboard import dashboard_routes
from .live import ASSET_ROUTES, contract_live
from .roster import Rosters


@dataclass(frozen=True)
class ContractState:
    """The app's objects, reachable as ``self.state`` in the socket and its channels."""

    presence: Presence
    #: Who is in each live room, shared by the room's views (``roster``).
    rosters: Rosters
    #: The ``history:*`` topics' messages: the last 1,000 for 300 s.
    history: History
    #: Set in JWT mode: connecting then needs a valid token, whose ``sub`` is the user.
    auth: JWTAuth | None = None


class RoomChannel(Channel):
    intercepts = ("censored",)
    state: ContractState

    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        if topic == "room:forbidden" or not self.may_join_private(topic):
            return error({"reason": "unauthorized"})
        if isinstance(payload, dict) and payload.get("crash") is True:
            raise RuntimeError("the client asked this join to crash")
        return {"topic": topic, "user": self.assigns.get("user")}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event in ("echo", "binary_echo"):
            return reply_with("ok", payload)
        if event == "echo_error":
            return reply_with("error", payload)
        if event == "noreply":
            return None
        if event == "shout":
            await self.broadcast("shout", payload)
            return ok()
        if event == "shout_others":
            await self.broadcast_from("shout", payload)
            return ok()
        if event == "push_me":
            self.push("pushed", payload)
            return ok()
        if event == "censor":
            await self.broadcast("censored", payload)
            return ok()
        if event == "slow_echo":
            await asyncio.sleep(payload["ms"] / 1000)
            return reply_with("ok", payload)
        if event == "crash":
            raise RuntimeError("the client asked this channel to crash")
        if event == "stop":
            self.stop()
            return ok()
        raise ValueError(f"RoomChannel does not handle {event!r}")

    async def handle_out(self, event: str, payload: Any) -> None:
        self.push(event, {**payload, "text": "***"})

    def may_join_private(self, topic: str) -> bool:
        """JWT mode: ``room:private:<user>`` is that user's alone."""
        if self.state.auth is None or not topic.startswith("room:private:"):
            return True
        return topic == f"room:private:{self.assigns['user']}"


class PresenceChannel(Channel):
    state: ContractState

    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        # Unique across instances that share a pubsub, not only in this process.
        self.key = self.assigns.get("user") or f"anon-{uuid.uuid4().hex[:12]}"
        name = payload.get("name") if isinstance(payload, dict) else None
        self.meta: dict[str, Any] = {"name": name or self.key}
        self.send_info("after_join")
        return {}

    async def handle_info(self, message: Any) -> None:
        if message == "after_join":
            self.state.presence.track(self, self.key, self.meta)
            self.push("presence_state", self.state.presence.list(self.topic))

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "update" and isinstance(payload, dict):
            self.meta = {**self.meta, **payload}
            self.state.presence.update(self, self.key, self.meta)
            return ok()
        raise ValueError(f"PresenceChannel does not handle {event!r}")


class BenchChannel(Channel):
    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        return {}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "broadcast":
            await self.broadcast("broadcast", payload)
            return ok()
        raise ValueError(f"BenchChannel does not handle {event!r}")


class HistoryChannel(Channel):
    """Broadcasts kept and numbered; a join with ``since`` gets what it missed."""

    state: ContractState

    @property
    def history(self) -> History:
        return self.state.history

    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        return {}  # the runtime adds offset, epoch and recovered

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "shout":
            position = await self.broadcast("shout", payload)
            return ok({"offset": position.offset if position else None})
        raise ValueError(f"HistoryChannel does not handle {event!r}")


class ContractSocket(Socket):
    channels = (
        ("room:*", RoomChannel),
        ("presence:*", PresenceChannel),
        ("bench:*", BenchChannel),
        ("history:*", HistoryChannel),
    )
    state: ContractState

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        auth = self.state.auth
        if auth is not None:
            return await self.authenticate(auth, params, connect_info, assign="user")
        if params.get("token") == "bad":
            return False
        user = params.get("user")
        self.assigns["user"] = user if isinstance(user, str) and user else None
        return True

    def id(self) -> str | None:
        user = self.assigns["user"]
        return f"user_socket:{user}" if user else None


#: Signs LongPoll session tokens. Every instance of a cluster shares it, so that
#: any instance can serve any LongPoll client; a real app reads its own from
#: the environment.
SECRET_KEY = "contract app: a development secret, shared by every instance"


def create_app(
    redis_url: str | None = None,
    *,
    presence_down_period: float = 30.0,
    jwt_secret: str | None = None,
    history_ttl: float = 300.0,
    dashboard_token: str | None = None,
    **socket_options: Any,
) -> Starlette:
    """The app: in-memory pubsub, or Redis at ``redis_url`` so that several
    instances are one cluster; JWT mode with ``jwt_secret`` (HS256 tokens with
    ``exp`` and ``sub``, from any issuer). ``presence_down_period``,
    ``history_ttl`` (how long ``history:*`` messages are kept; CONTRACT.md
    fixes 300 s) and ``socket_options`` (``Endpoint.socket_app``) let tests
    shorten timeouts; ``dashboard_token`` mounts the dashboard (``dashboard``)."""
    auth = (
        None
        if jwt_secret is None
        else JWTAuth.hs256(
            jwt_secret,
            require=("exp", "sub"),
            leeway=0,  # CONTRACT.md: expired means refused
        )
    )
    if redis_url is None:
        pubsub = PubSub()
        history = History(pubsub, size=1000, ttl=history_ttl)
    else:
        from phoenix_py.pubsub.redis import RedisAdapter
        from phoenix_py.pubsub.redis_history import RedisHistory

        adapter = RedisAdapter(redis_url, namespace="contract")
        pubsub = PubSub(adapter)
        history = History(pubsub, size=1000, ttl=history_ttl, store=RedisHistory(adapter))
    presence = Presence(
        pubsub,
        down_period=presence_down_period,
        broadcast_period=min(1.5, presence_down_period / 4),
    )
    state = ContractState(presence, Rosters(presence, pubsub), history, auth)
    endpoint = Endpoint(pubsub, state=state, secret_key=SECRET_KEY)
    live = contract_live(endpoint, SECRET_KEY)
    metrics = PrometheusMetrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Counting while the app runs, not from create_app: tests build apps they never start.
        with metrics:
            async with endpoint.lifespan(app):
                yield

    async def broadcast(request: Request) -> JSONResponse:
        body = await request.json()
        topic, event, payload = body["topic"], body["event"], body["payload"]
        if topic.startswith("history:"):
            await history.broadcast(topic, event, payload)
        else:
            await endpoint.broadcast(topic, event, payload)
        return JSONResponse({"ok": True})

    async def disconnect(request: Request) -> JSONResponse:
        body = await request.json()
        await endpoint.disconnect(f"user_socket:{body['user']}")
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/api/broadcast", broadcast, methods=["POST"]),
            Route("/api/disconnect", disconnect, methods=["POST"]),
            Route("/metrics", metrics.asgi_app()),
            *ASSET_ROUTES,
            *live.routes(),
            *dashboard_routes(endpoint, SECRET_KEY, dashboard_token),
            Mount(
                "/socket",
                app=endpoint.socket_app(
                    ContractSocket, **{"check_origin": False, "longpoll": True, **socket_options}
                ),
            ),
        ],
        lifespan=lifespan,
    )
    app.state.endpoint = endpoint
    app.state.metrics = metrics
    app.state.presence = presence
    app.state.live = live
    return app
