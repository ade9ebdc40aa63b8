"""The HTTP API of CHAT_API.md: sign up, sign in, rooms, members and message history.

JSON in, JSON out. A missing, expired or invalid bearer token gets 401
``{"error": ...}``; a body that is not a JSON object gets 400; invalid fields
get 422 ``{"errors": {"field": [...]}}``. Adding a member to a room tells that
user's sockets at once (``user:<id>`` topic, event ``room_added``), and a new
public room is announced on ``rooms:public``, so pages update without a reload.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from phoenix_py import Endpoint
from phoenix_py.auth import JWTAuth, TokenError

from .accounts import (
    Errors,
    check_password,
    hash_password,
    password_errors,
    room_errors,
    username_errors,
)
from .store import JSON, ChatStore

MESSAGES_LIMIT_DEFAULT, MESSAGES_LIMIT_MAX = 50, 100
PUBLIC_ROOMS_TOPIC = "rooms:public"

Handler = Callable[[Request, JSON], Awaitable[JSONResponse]]


class BadRequest(Exception):
    """The request cannot be read; answered 400 with this message."""


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


def invalid(errors: Errors) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=422)


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def optional_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc


class ChatApi:
    """The routes, bound to the app's store, JWT auth and endpoint."""

    def __init__(self, store: ChatStore, auth: JWTAuth, endpoint: Endpoint) -> None:
        self.store = store
        self.auth = auth
        self.endpoint = endpoint

    def routes(self) -> list[Route]:
        return [
            Route("/api/users", self.plain(self.sign_up), methods=["POST"]),
            Route("/api/sessions", self.plain(self.sign_in), methods=["POST"]),
            Route("/api/rooms", self.signed_in(self.list_rooms), methods=["GET"]),
            Route("/api/rooms", self.signed_in(self.create_room), methods=["POST"]),
            Route(
                "/api/rooms/{room_id:int}/members",
                self.signed_in(self.add_member),
                methods=["POST"],
            ),
            Route(
                "/api/rooms/{room_id:int}/messages",
                self.signed_in(self.list_messages),
                methods=["GET"],
            ),
        ]

    # Wrappers: bad requests and authentication

    def plain(
        self, handler: Callable[[Request], Awaitable[JSONResponse]]
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                return await handler(request)
            except BadRequest as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        return endpoint

    def signed_in(self, handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def with_user(request: Request) -> JSONResponse:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return JSONResponse({"error": "missing bearer token"}, status_code=401)
            try:
                claims = await self.auth.verify(token.strip())
            except TokenError as exc:
                return JSONResponse({"error": f"token {exc.reason}"}, status_code=401)
            return await handler(request, {"id": int(claims["sub"]), "username": claims["name"]})

        return self.plain(with_user)

    # Accounts

    async def sign_up(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        username, password = body.get("username"), body.get("password")
        errors = {**username_errors(username), **password_errors(password)}
        if errors:
            return invalid(errors)
        username, password = cast(str, username), cast(str, password)  # validated above
        user = await self.store.create_user(username, await hash_password(password))
        if user is None:
            return JSONResponse(
                {"errors": {"username": ["has already been taken"]}}, status_code=409
            )
        return JSONResponse({"user": user}, status_code=201)

    async def sign_in(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return invalid({"credentials": ["username and password are required (strings)"]})
        found = await self.store.find_user(username)
        user, password_hash = found if found is not None else (None, None)
        if user is None or not await check_password(password_hash, password):
            return JSONResponse({"error": "invalid username or password"}, status_code=401)
        token = self.auth.issue(str(user["id"]), claims={"name": user["username"]})
        return JSONResponse({"token": token, "user": user})

    # Rooms

    async def list_rooms(self, request: Request, user: JSON) -> JSONResponse:
        return JSONResponse({"rooms": await self.store.rooms_for(user["id"])})

    async def create_room(self, request: Request, user: JSON) -> JSONResponse:
        body = await json_object(request)
        name, private = body.get("name"), body.get("private", False)
        errors = room_errors(name, private)
        if errors:
            return invalid(errors)
        name = cast(str, name).strip()  # validated above
        room = await self.store.create_room(name, private=private, creator_id=user["id"])
        if room is None:
            return JSONResponse({"errors": {"name": ["has already been taken"]}}, status_code=409)
        if not room["private"]:
            await self.endpoint.broadcast(PUBLIC_ROOMS_TOPIC, "room_added", {"room": room})
        return JSONResponse({"room": room}, status_code=201)

    async def add_member(self, request: Request, user: JSON) -> JSONResponse:
        room = await self.store.get_room(request.path_params["room_id"])
        if room is None:
            return JSONResponse({"error": "no such room"}, status_code=404)
        if not await self.store.is_member(room["id"], user["id"]):
            return JSONResponse({"error": "only members can add members"}, status_code=403)
        username = (await json_object(request)).get("username")
        found = await self.store.find_user(username) if isinstance(username, str) else None
        if found is None:
            return invalid({"username": ["no user has this name"]})
        member, _ = found
        if await self.store.add_member(room["id"], member["id"]):
            await self.endpoint.broadcast(user_topic(member["id"]), "room_added", {"room": room})
        return JSONResponse({"room": room, "user": member}, status_code=201)

    async def list_messages(self, request: Request, user: JSON) -> JSONResponse:
        before = optional_int(request, "before")
        limit = optional_int(request, "limit")
        if limit is None:
            limit = MESSAGES_LIMIT_DEFAULT
        if not 1 <= limit <= MESSAGES_LIMIT_MAX:
            return invalid({"limit": [f"must be between 1 and {MESSAGES_LIMIT_MAX}"]})
        room = await self.store.get_room(request.path_params["room_id"])
        if room is None:
            return JSONResponse({"error": "no such room"}, status_code=404)
        if not await self.store.can_read(room, user["id"]):
            return JSONResponse({"error": "you are not a member of this room"}, status_code=403)
        messages = await self.store.messages(room["id"], before=before, limit=limit)
        return JSONResponse({"messages": messages})
