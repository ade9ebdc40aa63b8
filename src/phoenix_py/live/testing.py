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
from dataclasses import dataclass, field
from typing import Any

import httpx

from .._core.message import Message
from ..testing import TestChannel, TestSocket, connect
from ..types import ConnectInfo
from ._client import ClientTree
from ._testing_elements import Element, Form
from ._testing_page import Page, Redirected, load_page
from .app import Live

__all__ = ["LiveViewTest", "Redirected", "live"]


async def live(
    app: Live,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    connect_params: dict[str, Any] | None = None,
    timeout: float = 1.0,
) -> LiveViewTest:
    """Load ``path`` as a browser would, then join its view; see the module docs.

    ``headers`` go with the page's request and the socket's upgrade (a ``cookie``
    header there is merged with the cookies the page set, as a browser's cookie jar
    does); ``connect_params`` are what ``LiveSocket``'s ``params`` would add (the
    view's ``connect_params``)."""
    page = await load_page(app, path, headers or {})
    info = ConnectInfo(
        transport="test",
        headers={**(headers or {}), "cookie": page.cookie},
        peer=("127.0.0.1", 0),
        scheme="ws",
        host="testserver",
        path=app.socket_path + "/websocket",
        query_string="",
    )
    socket = await connect(
        app.socket_class,
        {"_csrf_token": page.csrf_token, "vsn": "2.0.0"},
        connect_info=info,
        endpoint=app.endpoint,
        context=app,
    )
    view = LiveViewTest(app, socket, page, timeout, connect_params or {})
    await view.join()
    return view


@dataclass
class LiveViewTest:
    """A joined live view; see the module docs."""

    app: Live
    socket: TestSocket
    page: Page
    timeout: float
    connect_params: dict[str, Any] = field(default_factory=dict)
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
            "params": {**self.connect_params, "_csrf_token": self.page.csrf_token, "_mounts": 0},
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

    def element(self, selector: str) -> Element:
        return Element(self, selector)

    def form(self, selector: str, data: dict[str, Any] | None = None) -> Form:
        return Form(self, selector, data or {})

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
