"""Test live views in-process, the way Phoenix.LiveViewTest does: no browser, no network.

``live(app, path)`` does what a browser would: the dead render (through the
app's own routes, called in-process), then the join over an in-process socket
(``phoenix_py.testing``), and keeps the page's rendered tree, merging every
diff as the client does (``_client``). Then click, change, submit, patch, and
assert on the HTML with CSS selectors (beautifulsoup4/soupsieve, in the
``test`` extra)::

    from phoenix_py.live.testing import live

    async def test_counter():
        view = await live(my_live, "/counter")
        assert view.text("#count") == "0"
        await view.element("#inc").click()
        assert view.text("#count") == "1"

        await view.form("#user-form", {"user": {"name": "ab"}}).change()
        assert view.text("#name-error") == "name is too short"

        await view.element("#go").click()
        view.assert_redirect("/elsewhere")

Each action waits for the server's reply (``timeout``, 1 s), applying the
pushes that came before it (``live_patch``, server ``diff``s) in order.
``view.html()`` first applies what the server pushed since (a pubsub message,
an async result); ``await view.sync()`` waits a moment for such pushes.
An exception in the view is raised again in the test.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette

from .._core.message import Message
from ..testing import TestChannel, TestSocket, connect
from ..types import ConnectInfo
from ._client import ClientTree
from .app import Live, LiveSocket

__all__ = ["LiveViewTest", "Redirected", "live"]


class Redirected(AssertionError):
    """The view navigated away (``to``, ``kind``: ``redirect``, ``navigate`` or ``patch``)."""

    def __init__(self, to: str, kind: str) -> None:
        super().__init__(f"the view {kind} to {to!r}")
        self.to, self.kind = to, kind


async def live(
    app: Live, path: str, *, headers: dict[str, str] | None = None, timeout: float = 1.0
) -> LiveViewTest:
    """Load ``path`` as a browser would, then join its view; see the module docs."""
    page = await _dead_render(app, path, headers or {})
    info = ConnectInfo(
        transport="test",
        headers={"cookie": page.cookie, **(headers or {})},
        peer=("127.0.0.1", 0),
        scheme="ws",
        host="testserver",
        path=app.socket_path + "/websocket",
        query_string="",
    )
    socket = await connect(
        LiveSocket,
        {"_csrf_token": page.csrf_token, "vsn": "2.0.0"},
        connect_info=info,
        endpoint=app.endpoint,
        context=app,
    )
    view = LiveViewTest(app, socket, page, timeout)
    await view.join()
    return view


@dataclass
class _Page:
    url: str
    status: int
    html: str
    cookie: str
    csrf_token: str
    view_id: str
    session: str
    static: str


async def _dead_render(app: Live, path: str, headers: dict[str, str]) -> _Page:
    transport = httpx.ASGITransport(app=Starlette(routes=app.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(path, headers=headers)
    if response.status_code in (301, 302, 303, 307):
        raise Redirected(response.headers["location"], "redirect")
    if response.status_code != 200:
        raise AssertionError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
    text = response.text
    cookie = "; ".join(f"{name}={value}" for name, value in response.cookies.items())
    return _Page(
        url=str(response.url),
        status=response.status_code,
        html=text,
        cookie=cookie,
        csrf_token=_attribute(text, r'name="csrf-token" content="([^"]*)"'),
        view_id=_attribute(text, r'<div id="(phx-[^"]+)" data-phx-main'),
        session=_attribute(text, r'data-phx-session="([^"]*)"'),
        static=_attribute(text, r'data-phx-static="([^"]*)"'),
    )


def _attribute(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise AssertionError(f"the page has no {pattern!r}: is it a live route?")
    return html.unescape(found.group(1))


@dataclass
class LiveViewTest:
    """A joined live view; see the module docs."""

    app: Live
    socket: TestSocket
    page: _Page
    timeout: float
    url: str = ""
    title: str | None = None
    events: list[tuple[str, Any]] = field(default_factory=list)
    navigation: Redirected | None = None
    _tree: ClientTree | None = None
    _channel: TestChannel | None = None
    _seen: int = 0
    _file_refs: int = 0  # the client numbers the files it tracks

    __test__ = False

    async def join(self) -> None:
        self.url = self.page.url
        payload = {
            "url": self.url,
            "params": {"_csrf_token": self.page.csrf_token, "_mounts": 0},
            "session": self.page.session,
            "static": self.page.static,
        }
        topic = f"lv:{self.page.view_id}"
        ref = self.socket.next_ref()
        await self.socket.send(Message(topic, "phx_join", payload, ref, ref))
        reply = await self._reply(topic, ref)
        if reply["status"] != "ok":
            raise AssertionError(f"the join was refused: {reply['response']}")
        self._channel = TestChannel(self.socket, topic, ref)
        self._apply_rendered(reply["response"]["rendered"], full=True)

    # Reading the page

    def html(self) -> str:
        """The view's current HTML (after what the server pushed meanwhile)."""
        self._drain()
        return self._tree_or_fail().html()

    def select(self, selector: str) -> list[Any]:
        """The elements ``selector`` matches (bs4 ``Tag`` objects)."""
        from bs4 import BeautifulSoup

        return list(BeautifulSoup(self.html(), "html.parser").select(selector))

    def has(self, selector: str, text: str | None = None) -> bool:
        return any(
            text is None or element.get_text(strip=True) == text
            for element in self.select(selector)
        )

    def text(self, selector: str) -> str:
        """The trimmed text of the first element ``selector`` matches."""
        found = self.select(selector)
        if not found:
            raise AssertionError(f"no element matches {selector!r} in:\n{self.html()}")
        text: str = found[0].get_text().strip()
        return text

    async def sync(self, seconds: float = 0.05) -> None:
        """Let the view's background work and pubsub messages arrive."""
        await asyncio.sleep(seconds)
        self._drain()

    # Acting

    def element(self, selector: str) -> _Element:
        return _Element(self, selector)

    def form(self, selector: str, data: dict[str, Any] | None = None) -> _Form:
        return _Form(self, selector, data or {})

    async def hook(self, event: str, value: Any) -> Any:
        """A hook's ``pushEvent(event, value)``; returns the reply value (or ``None``)."""
        reply = await self.push_event("hook", event, value)
        diff = reply.get("diff", {})
        return diff.get("r")

    async def upload(
        self,
        name: str,
        files: list[tuple[str, bytes, str]],
        *,
        form: str = "form",
        progress: bool = True,
    ) -> dict[str, Any]:
        """Choose ``files`` (name, content, type) for upload ``name``'s input and send
        them as the client does: the form's ``phx-change`` announcing them,
        ``allow_upload``, then each entry's chunks over ``lvu:<ref>`` and its
        ``progress`` (unless ``progress`` is false). Returns the preflight reply."""
        inputs = self.select(f'{form} input[type="file"][name="{name}"]')
        if not inputs:
            raise AssertionError(f"no live file input for {name!r} in {form!r}")
        upload_ref = str(inputs[0]["data-phx-upload-ref"])
        entries = []
        for file_name, content, content_type in files:
            entries.append(
                {
                    "ref": str(self._file_refs),
                    "name": file_name,
                    "size": len(content),
                    "type": content_type,
                    "path": name,
                }
            )
            self._file_refs += 1
        form_tag = self.select(form)[0]
        change = form_tag.get("phx-change")
        if change is not None:
            payload = {
                "type": "form",
                "event": change,
                "value": "",
                "uploads": {upload_ref: entries},
            }
            payload["meta"] = {"_target": name}
            self._apply_reply(await self._push("event", payload))
        reply = await self._push("allow_upload", {"ref": upload_ref, "entries": entries})
        self._apply_reply(reply)
        for entry, (_, content, _) in zip(entries, files, strict=True):
            token = reply.get("entries", {}).get(entry["ref"])
            if token is None:
                continue
            chunk_size = reply["config"]["chunk_size"]
            topic = f"lvu:{entry['ref']}"
            join_ref = self.socket.next_ref()
            await self.socket.send(Message(topic, "phx_join", {"token": token}, join_ref, join_ref))
            joined = await self._reply(topic, join_ref)
            if joined["status"] != "ok":
                raise AssertionError(f"lvu join refused: {joined['response']}")
            upload_channel = TestChannel(self.socket, topic, join_ref)
            for start in range(0, max(len(content), 1), chunk_size):
                ref = await upload_channel.push("chunk", content[start : start + chunk_size])
                answer = await self._reply(topic, ref)
                if answer["status"] != "ok":
                    raise AssertionError(f"chunk refused: {answer['response']}")
            if progress:
                self._apply_reply(
                    await self._push(
                        "progress", {"ref": upload_ref, "entry_ref": entry["ref"], "progress": 100}
                    )
                )
        return reply

    async def patch(self, path: str) -> None:
        """Follow a ``data-phx-link="patch"`` link to ``path``."""
        url = httpx.URL(self.url).join(path)
        reply = await self._push("live_patch", {"url": str(url)})
        if reply.get("link_redirect"):
            raise Redirected(str(url), "navigate")
        self.url = str(url)
        self._apply_reply(reply)

    async def push_event(
        self,
        kind: str,
        event: str,
        value: Any,
        meta: dict[str, Any] | None = None,
        cid: int | None = None,
    ) -> dict[str, Any]:
        """Send an event as the client does (``cid``: to that component)."""
        payload: dict[str, Any] = {"type": kind, "event": event, "value": value}
        if meta:
            payload["meta"] = meta
        if cid is not None:
            payload["cid"] = cid
        reply = await self._push("event", payload)
        self._apply_reply(reply)
        await self._destroy_orphans()
        return reply

    async def _destroy_orphans(self) -> None:
        """As the client does once components left the page."""
        tree = self._tree_or_fail()
        orphans = tree.orphan_cids()
        if orphans and self.navigation is None:
            await self._push("cids_will_destroy", {"cids": orphans})
            destroyed = await self._push("cids_destroyed", {"cids": orphans})
            tree.prune(destroyed.get("cids", []))

    # Asserting

    def assert_redirect(self, to: str | None = None) -> Redirected:
        """The view navigated (``push_navigate``/``redirect``), to ``to`` when given."""
        self._drain()
        if self.navigation is None or self.navigation.kind == "patch":
            raise AssertionError(f"expected a redirect; the view is at {self.url}")
        if to is not None and self.navigation.to != to:
            raise AssertionError(f"expected a redirect to {to!r}, got {self.navigation.to!r}")
        return self.navigation

    def assert_patch(self, to: str) -> None:
        self._drain()
        if not self.url.endswith(to):
            raise AssertionError(f"expected the view patched to {to!r}; it is at {self.url}")

    def assert_push_event(self, event: str, payload: Any = ...) -> Any:
        self._drain()
        for name, sent in self.events:
            if name == event and (payload is ... or sent == payload):
                self.events.remove((name, sent))
                return sent
        raise AssertionError(f"expected a push_event {event!r}; pushed: {self.events!r}")

    # Wire

    async def _push(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.navigation is not None and self.navigation.kind != "patch":
            raise AssertionError(f"the view is gone: {self.navigation}")
        channel = self._channel
        if channel is None:
            raise AssertionError("the view has not joined")
        ref = await channel.push(event, payload)
        reply = await self._reply(channel.topic, ref)
        if reply["status"] != "ok":
            raise AssertionError(f"{event} got an error reply: {reply['response']}")
        response: dict[str, Any] = reply["response"]
        return response

    async def _reply(self, topic: str, ref: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            found = self._drain(until=(topic, ref))
            if found is not None:
                return found
            if loop.time() > deadline:
                raise AssertionError(f"no reply to {ref} within {self.timeout} s")
            await asyncio.sleep(0.001)

    def _drain(self, until: tuple[str, str] | None = None) -> dict[str, Any] | None:
        """Apply what arrived in order; the reply to ``until`` when it is among it."""
        self.socket.raise_crash()  # an exception in the view fails the test with its traceback
        messages = self.socket.received()
        while self._seen < len(messages):
            message = messages[self._seen]
            self._seen += 1
            if (
                until is not None
                and message.event == "phx_reply"
                and (
                    message.topic,
                    message.ref,
                )
                == until
            ):
                payload: dict[str, Any] = message.payload
                return payload
            self._apply_push(message)
        return None

    def _apply_push(self, message: Message) -> None:
        if message.event == "diff":
            self._apply_rendered(message.payload, full=False)
        elif message.event == "live_patch":
            self.url = str(httpx.URL(self.url).join(message.payload["to"]))
        elif message.event in ("redirect", "live_redirect"):
            kind = "redirect" if message.event == "redirect" else "navigate"
            self.navigation = Redirected(message.payload["to"], kind)
        elif message.event == "phx_error":
            raise AssertionError(f"the view crashed: {message.payload}")

    def _apply_reply(self, reply: dict[str, Any]) -> None:
        if "redirect" in reply:
            self.navigation = Redirected(reply["redirect"]["to"], "redirect")
        elif "live_redirect" in reply:
            self.navigation = Redirected(reply["live_redirect"]["to"], "navigate")
        if "diff" in reply:
            self._apply_rendered(reply["diff"], full=False)

    def _apply_rendered(self, rendered: dict[str, Any], *, full: bool) -> None:
        if "t" in rendered:
            self.title = rendered["t"]
        for event in rendered.get("e", []):
            self.events.append((event[0], event[1]))
        if full or self._tree is None:
            self._tree = ClientTree(rendered)
        else:
            self._tree.merge(rendered)

    def _tree_or_fail(self) -> ClientTree:
        if self._tree is None:
            raise AssertionError("the view has not joined")
        return self._tree


@dataclass
class _Element:
    view: LiveViewTest
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
class _Form:
    view: LiveViewTest
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
