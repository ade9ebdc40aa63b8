"""The code of docs/authentication.md: tokens issued and refreshed, a socket guarded
by them, joins authorized in the channel, revocation, and key rotation.

Serve it with ``JWT_SECRET=... uvicorn examples.docs.authentication:app --port 4000``;
the page script ``js/fresh_token.mjs`` connects with the access token its page keeps.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from phoenix_py import Channel, ChannelReply, ConnectInfo, Endpoint, Socket, error
from phoenix_py.auth import JWTAuth, SigningKey

#: At least 32 random bytes, kept out of the code (without JWT_SECRET: one per process).
SECRET = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(48)

auth = JWTAuth.hs256(SECRET, issuer="my-app", audience="web")


def sign_in(user_id: str, role: str = "member") -> dict[str, str]:
    """What a successful sign-in hands out."""
    claims = {"role": role}
    return {
        "access": auth.issue(user_id, claims=claims),  # "typ": "access", 15 minutes
        "refresh": auth.issue(user_id, claims=claims, token_type="refresh"),  # 30 days
    }


async def refreshed(refresh_token: str) -> str:
    """A new access token with the refresh token's subject and claims (or ``TokenError``)."""
    return await auth.refresh(refresh_token)


class RoomChannel(Channel):
    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        user_id = self.assigns["user_id"]
        if topic.startswith("room:private:") and topic != f"room:private:{user_id}":
            return error({"reason": "unauthorized"})
        return {"user_id": user_id}


class UserSocket(Socket):
    channels = (("room:*", RoomChannel),)

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        return await self.authenticate(auth, params, connect_info)

    def id(self) -> str | None:
        return f"user_socket:{self.assigns['user_id']}"


endpoint = Endpoint()
app = Starlette(
    routes=[Mount("/socket", app=endpoint.socket_app(UserSocket))],
    lifespan=endpoint.lifespan,
)


async def sign_out(access_token: str) -> None:
    """Refuse the token from now on; its sockets close, on every node (1001)."""
    await endpoint.revoke(auth, access_token)


def rotating_auth(old: SigningKey, new: SigningKey) -> JWTAuth:
    """EdDSA keys named by ``kid``: new tokens signed with ``new``, both verify."""
    return JWTAuth.asymmetric(
        "EdDSA",
        keys={"2026-01": old, "2026-07": new},
        signing_kid="2026-07",
    )
