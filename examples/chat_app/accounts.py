"""Accounts: what a valid username, password, room name and message body are,
and passwords hashed with Argon2id (argon2-cffi), off the event loop.

Validators return ``{"field": ["what is wrong", ...]}``, empty when valid, the
shape of CHAT_API.md's ``{"errors": ...}``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .schema import ROOM_NAME_MAX

USERNAME = re.compile(r"[A-Za-z0-9_]{3,32}")
PASSWORD_MIN = 8
#: phoenix.js and browsers send text; a longer password only costs hashing time.
PASSWORD_MAX = 1024
BODY_MAX = 4000

Errors = dict[str, list[str]]

_hasher = PasswordHasher()
#: Verified when the user does not exist, so that both answers take as long.
_UNKNOWN_USER_HASH = _hasher.hash("no user has this password")


def username_errors(username: Any) -> Errors:
    if not isinstance(username, str):
        return {"username": ["is required (a string)"]}
    if USERNAME.fullmatch(username) is None:
        return {"username": ["must be 3-32 letters, digits or _"]}
    return {}


def password_errors(password: Any) -> Errors:
    if not isinstance(password, str):
        return {"password": ["is required (a string)"]}
    if len(password) < PASSWORD_MIN:
        return {"password": [f"must be at least {PASSWORD_MIN} characters"]}
    if len(password) > PASSWORD_MAX:
        return {"password": [f"must be at most {PASSWORD_MAX} characters"]}
    return {}


def room_errors(name: Any, private: Any) -> Errors:
    errors: Errors = {}
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["is required (a non-blank string)"]
    elif len(name.strip()) > ROOM_NAME_MAX:
        errors["name"] = [f"must be at most {ROOM_NAME_MAX} characters"]
    if not isinstance(private, bool):
        errors["private"] = ["must be true or false"]
    return errors


def body_errors(body: Any) -> Errors:
    if not isinstance(body, str) or not body.strip():
        return {"body": ["can't be blank"]}
    if len(body) > BODY_MAX:
        return {"body": [f"should be at most {BODY_MAX} characters"]}
    return {}


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def check_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (unknown user), as slow as a mismatch."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _UNKNOWN_USER_HASH, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify) and password_hash is not None
