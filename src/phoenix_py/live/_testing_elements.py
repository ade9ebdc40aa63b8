"""The elements and forms of a page under test: what firing their bindings sends.

``LiveViewTest.element(selector)`` and ``form(selector, data)`` give these: a
click, key or form event built from the element's attributes as the client
builds it (``phx-value-*``, a button's value, ``phx-target``, the pushes of a
JS command list; a form's fields, with ``data`` over them and ``_target``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode


class Page(Protocol):
    """The view under test, as its elements use it (``testing.LiveViewTest``)."""

    def select(self, selector: str) -> list[Any]: ...

    async def push_event(
        self,
        kind: str,
        event: str,
        value: Any,
        meta: dict[str, Any] | None = None,
        cid: int | None = None,
    ) -> dict[str, Any]: ...


@dataclass
class Element:
    view: Page
    selector: str

    def _tag(self) -> Any:
        found = self.view.select(self.selector)
        if not found:
            raise AssertionError(f"no element matches {self.selector!r}")
        return found[0]

    async def click(self, value: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fire the element's ``phx-click`` (an event name, or a JS command list's pushes)."""
        return await self._fire("click", value)

    async def keyup(self, key: str) -> dict[str, Any]:
        return await self._fire("keyup", {"key": key})

    async def keydown(self, key: str) -> dict[str, Any]:
        return await self._fire("keydown", {"key": key})

    async def _fire(self, kind: str, value: dict[str, Any] | None) -> dict[str, Any]:
        tag = self._tag()
        binding = tag.get(f"phx-{kind}")
        if binding is None:
            raise AssertionError(f"{self.selector!r} has no phx-{kind}")
        meta = {
            name[len("phx-value-") :]: str(item)
            for name, item in tag.attrs.items()
            if name.startswith("phx-value-")
        }
        if tag.name in ("button", "input", "select", "textarea"):
            meta["value"] = str(tag.get("value", ""))
        target = str(tag.get("phx-target", ""))
        cid = int(target) if target.isdigit() else None
        if binding.startswith("["):  # a JS command list: only its pushes reach the server
            reply: dict[str, Any] = {}
            for command, args in json.loads(binding):
                if command == "push":
                    payload = {**meta, **args.get("value", {}), **(value or {})}
                    reply = await self.view.push_event(kind, args["event"], payload, cid=cid)
            return reply
        return await self.view.push_event(kind, binding, {**meta, **(value or {})}, cid=cid)


@dataclass
class Form:
    view: Page
    selector: str
    data: dict[str, Any]

    def _fields(self) -> list[tuple[str, str]]:
        form = self.view.select(self.selector)
        if not form:
            raise AssertionError(f"no form matches {self.selector!r}")
        fields: dict[str, str] = {}
        for element in form[0].select("input[name], textarea[name], select[name]"):
            if element.get("type") in ("submit", "button", "file"):
                continue
            fields[element["name"]] = str(element.get("value", element.get_text()))
        fields.update(_flatten(self.data))
        return list(fields.items())

    async def change(self, target: str | None = None) -> dict[str, Any]:
        """Fire the form's ``phx-change`` with its fields and ``data``; ``_target``
        is ``target``, or the first field ``data`` sets."""
        fields = self._fields()
        binding = self.view.select(self.selector)[0].get("phx-change")
        if binding is None:
            raise AssertionError(f"{self.selector!r} has no phx-change")
        changed = target or next(iter(_flatten(self.data)), None)
        meta = {"_target": changed} if changed else None
        return await self.view.push_event("form", binding, urlencode(fields), meta)

    async def submit(self) -> dict[str, Any]:
        """Fire the form's ``phx-submit`` with its fields and ``data``."""
        binding = self.view.select(self.selector)[0].get("phx-submit")
        if binding is None:
            raise AssertionError(f"{self.selector!r} has no phx-submit")
        return await self.view.push_event("form", binding, urlencode(self._fields()))


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"user": {"name": "a"}}`` as ``{"user[name]": "a"}``, as a browser names fields."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = str(value)
    return flat
