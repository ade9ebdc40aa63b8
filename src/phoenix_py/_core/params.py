"""Query strings to connect params, with Plug's bracket keys (PHOENIX_PROTOCOL.md §1.1).

phoenix.js serializes nested params as ``user[id]=1&user[tags][0]=a``; Plug,
and so Phoenix, reads that as ``{"user": {"id": "1", "tags": {"0": "a"}}}``.
``key[]=x`` appends to a list. Values stay strings. A later key wins a conflict.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\[\]]*)\]")


def parse_params(query: bytes | str) -> dict[str, Any]:
    if isinstance(query, bytes):
        # Plug keeps raw bytes; UTF-8 is what browsers send unescaped.
        query = query.decode("utf-8", "replace")
    params: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        bracket = key.find("[")
        if bracket <= 0 or not key.endswith("]"):
            params[key] = value
            continue
        path = [key[:bracket], *_PART.findall(key[bracket:])]
        _put(params, path, value)
    return params


def _put(target: dict[str, Any], path: list[str], value: str) -> None:
    for index, part in enumerate(path[:-1]):
        nxt = path[index + 1]
        child = target.get(part)
        if nxt == "":
            if not isinstance(child, list):
                child = target[part] = []
            child.append(value)
            return
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[path[-1]] = value
