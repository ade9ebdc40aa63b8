"""One live view over the socket: the ``lv:<id>`` channel (LIVEVIEW_PROTOCOL.md §2, §4, §5).

``LiveChannel`` is a phoenix_py ``Channel``, so a view runs as one: its
callbacks one at a time in arrival order, a crash stops this view only
(``phx_error``; the client rejoins and the view mounts afresh), and the
socket and its other views go on.

* join: the CSRF check made at connect, the session token (its id must be
  the topic's), the static token, then the route (a navigation join must stay
  in the token's live session: ``unauthorized``; a bad token: ``stale``; both
  make the client load the page), mount, handle_params, and the full render:
  ``{"rendered": ..., "liveview_version": "1.2.12"}``. A mount that navigates
  answers ``{"redirect": ...}`` or ``{"live_redirect": ...}`` instead.
* ``event``: decoded (forms as Plug decodes them, ``_target`` as a key path),
  ``handle_event``, then the reply: ``{"diff": ...}`` or ``{}``; a hook's reply
  value travels as the diff's ``"r"``; ``push_event``s as ``"e"``; a changed
  ``page_title`` as ``"t"``.
* ``live_patch``: ``handle_params`` on the same view, or ``{"link_redirect":
  true}`` for a URL of another view.
* messages (pubsub, ``send_info``, async results): their callback, then a
  ``diff`` push when anything changed.
* navigation from a callback: ``push_patch`` runs ``handle_params`` and pushes
  ``live_patch`` before the diff; ``push_navigate`` and ``redirect`` answer
  (or push) ``live_redirect``/``redirect`` and stop the channel.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

from .._core.params import parse_params
from ..channel import Channel, ChannelReply, error
from ..pubsub.base import PubSub
from ..telemetry import (
    LIVE_COMPONENT_HANDLE_EVENT,
    LIVE_VIEW_HANDLE_EVENT,
    LIVE_VIEW_HANDLE_PARAMS,
    LIVE_VIEW_MOUNT,
    LIVE_VIEW_RENDER,
)
from ._client_payloads import announce_uploads, event_value, preflight_uploads, record_progress
from ._components import Components
from ._render import Renderer
from ._routes import Routes
from ._ticker import RenderTicker
from ._tokens import SessionToken, Tokens
from ._view_process import AsyncDone, PubSubBatch, ViewProcess
from .component import LiveComponent
from .uploads import UploadConfig, UploadEntry
from .view import LiveView, Navigation

logger = logging.getLogger("phoenix_py.live")

LIVEVIEW_VERSION = "1.2.12"
STALE = {"reason": "stale"}
UNAUTHORIZED = {"reason": "unauthorized"}
_MAX_PATCHES = 20  # as Phoenix: a push_patch loop stops here


class LiveContext(Protocol):
    """What the live channel needs from the app that mounted it (``app.Live``)."""

    tokens: Tokens
    router: Routes
    pubsub: PubSub
    ticker: RenderTicker

    def renderer(self, view: type[LiveView] | type[LiveComponent]) -> Renderer:
        """A fresh renderer of a view's or a component's compiled template."""
        ...

    def register_upload(self, view_id: str, upload: UploadConfig, entry: UploadEntry) -> None:
        """Let ``lvu:<entry ref>`` find ``entry`` (until ``unregister_uploads``)."""
        ...

    def unregister_uploads(self, view_id: str) -> None:
        """The view is gone: its entries can no longer be uploaded to."""
        ...


class LiveChannel(Channel):
    """The channel behind one live view; see the module docs."""

    view: LiveView
    renderer: Renderer
    url: str

    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        live: LiveContext = self.socket.context
        if not isinstance(payload, dict) or not self.socket.assigns.get("csrf_ok"):
            return error(STALE)
        token = live.tokens.verify_session(payload.get("session"))
        view_id = topic[len("lv:") :]
        if token is None or token.id != view_id:
            return error(STALE)
        static = payload.get("static")
        dead_flash = {} if static is None else live.tokens.verify_static(static, view_id)
        if dead_flash is None:
            return error(STALE)
        url = payload.get("redirect") or payload.get("url")
        if not isinstance(url, str):
            return error(STALE)
        found = self._route(live, token, url, navigating="redirect" in payload)
        if isinstance(found, ChannelReply):
            return found
        view_cls, path_params = found
        params = payload.get("params")
        self.process = ViewProcess(self, live, params if isinstance(params, dict) else {})
        self.view = view_cls(self.process)
        self.renderer = live.renderer(view_cls)
        self.components = Components(self.view, live.renderer)
        self.url = url
        flash = {**dead_flash, **live.tokens.verify_flash(payload.get("flash"))}
        self.view.assign(flash=flash)
        params = {**parse_params(urlsplit(url).query), **path_params}
        mounting = {"view": view_cls, "connected": True, "params": params, "uri": url}
        mounting["session"] = token.session
        with LIVE_VIEW_MOUNT(mounting):
            await self.view.mount(params, token.session)
        navigated = self._join_navigation(live)
        if navigated is not None:
            return navigated
        await self._handle_params(params, url)
        reply: dict[str, Any] = {}
        ended = await self._navigate(live, reply)
        if ended is not None:
            return error(ended)
        rendered = self._render(full=True)
        return {"rendered": rendered, "liveview_version": LIVEVIEW_VERSION, **reply}

    def _route(
        self, live: LiveContext, token: SessionToken, url: str, *, navigating: bool
    ) -> tuple[type[LiveView], dict[str, str]] | ChannelReply:
        matched = live.router.match(url)
        if navigating:
            if matched is None or matched[0].live_session != token.live_session:
                return error(UNAUTHORIZED)
            return matched[0].view, matched[1]
        route = live.router.by_name.get(token.view)
        if route is None:
            return error(STALE)
        if matched is not None and matched[0].view is route.view:
            return route.view, matched[1]
        return route.view, {}

    def _join_navigation(self, live: LiveContext) -> ChannelReply | None:
        navigation = self.view.navigation
        if navigation is None or navigation.kind == "patch":
            return None
        self.view.navigation = None
        return error(self._redirect_payload(live, navigation))

    # Client events

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        live: LiveContext = self.socket.context
        if not isinstance(payload, dict):
            return error({"reason": "malformed payload"})
        if event == "event":
            return await self._event(live, payload)
        if event == "live_patch":
            return await self._live_patch(live, payload)
        if event == "allow_upload":
            return self._allow_upload(live, payload)
        if event == "progress":
            return self._progress(payload)
        if event == "cids_will_destroy":
            return _ok({})
        if event == "cids_destroyed":
            cids = payload.get("cids")
            return _ok({"cids": self.components.destroy(cids if isinstance(cids, list) else [])})
        return error({"reason": f"unknown event {event!r}"})

    async def _event(self, live: LiveContext, payload: dict[str, Any]) -> ChannelReply:
        name = payload.get("event")
        kind = payload.get("type")
        if not isinstance(name, str) or not isinstance(kind, str):
            return error({"reason": "malformed event"})
        cid = payload.get("cid")
        component = self.components.get(cid) if isinstance(cid, int) else None
        if isinstance(cid, int) and component is None:
            return error({"reason": f"no component with cid {cid}"})
        value = event_value(kind, payload.get("value"), payload.get("meta"))
        announce_uploads(self.view, payload.get("uploads"))
        if component is not None and isinstance(cid, int):
            metadata = {"view": type(self.view), "component": type(component)}
            with LIVE_COMPONENT_HANDLE_EVENT({**metadata, "event": name, "params": value}):
                answer = await component.handle_event(name, value)
            self.components.touch(cid)
        elif name == "lv:clear-flash":
            key = value.get("key")
            self.view.clear_flash(key if isinstance(key, str) else None)
            answer = None
        else:
            with LIVE_VIEW_HANDLE_EVENT({"view": type(self.view), "event": name, "params": value}):
                answer = await self.view.handle_event(name, value)
        ended = await self._navigate(live, None)
        if ended is not None:
            self.stop("shutdown")
            return _ok(ended)
        reply: dict[str, Any] = {}
        diff = self._render(full=False)
        if isinstance(answer, dict) and kind == "hook":
            diff["r"] = answer
        if diff:
            reply["diff"] = diff
        return _ok(reply)

    # Uploads (``_client_payloads``)

    def _allow_upload(self, live: LiveContext, payload: dict[str, Any]) -> ChannelReply:
        view_id = self.topic[len("lv:") :]
        reply = preflight_uploads(self.view, payload, view_id, live.tokens, live.register_upload)
        if reply is None:
            return error({"reason": "no such upload"})
        diff = self._render(full=False)
        return _ok({**reply, "diff": diff} if diff else reply)

    def _progress(self, payload: dict[str, Any]) -> ChannelReply:
        if not record_progress(self.view, payload):
            return error({"reason": "no such upload entry"})
        diff = self._render(full=False)
        return _ok({"diff": diff} if diff else {})

    async def _live_patch(self, live: LiveContext, payload: dict[str, Any]) -> ChannelReply:
        url = payload.get("url")
        if not isinstance(url, str):
            return error({"reason": "malformed live_patch"})
        matched = live.router.match(url)
        if matched is None or matched[0].view is not type(self.view):
            return _ok({"link_redirect": True})
        self.url = url
        params = {**parse_params(urlsplit(url).query), **matched[1]}
        await self._handle_params(params, url)
        ended = await self._navigate(live, None)
        if ended is not None:
            self.stop("shutdown")
            return _ok(ended)
        diff = self._render(full=False)
        return _ok({"diff": diff} if diff else {})

    # Messages

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, PubSubBatch):
            started = time.perf_counter()
            try:
                await self._handle_batch(message)
            finally:
                live: LiveContext = self.socket.context
                live.ticker.spent(time.perf_counter() - started)
            return
        if isinstance(message, AsyncDone):
            await message.done(message.result, message.error)
        else:
            await self.view.handle_info(message)
        if not await self._navigated():
            self._push_diff()

    async def _handle_batch(self, batch: PubSubBatch) -> None:
        for message in batch.messages:
            await self.view.handle_info(message)
            if await self._navigated():
                return
        self._push_diff()

    def _push_diff(self) -> None:
        diff = self._render(full=False)
        if diff:
            self.push("diff", diff)

    async def _navigated(self) -> bool:
        """After a message: a patch is carried out; a navigate or redirect is pushed
        and ends the view (True)."""
        if self.view.navigation is None:
            return False
        ended = await self._navigate(self.socket.context, None)
        if ended is None:
            return False
        [(event, target)] = ended.items()
        self.push(event, target)
        self.stop("shutdown")
        return True

    async def terminate(self, reason: str | BaseException) -> None:
        view = getattr(self, "view", None)
        if view is None:
            return
        self.process.close()
        live: LiveContext = self.socket.context
        live.unregister_uploads(self.topic[len("lv:") :])
        for upload in (view.assigns.get("uploads") or {}).values():
            upload.discard_all()
        await view.terminate(reason)

    # After a callback: navigation, then the render

    async def _navigate(
        self, live: LiveContext, join_reply: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Carry out what a callback asked for. A patch runs ``handle_params`` and
        goes out as a ``live_patch`` push (in ``join_reply`` during a join); a
        navigate or redirect ends the view: its payload is returned."""
        for _ in range(_MAX_PATCHES):
            navigation = self.view.navigation
            if navigation is None:
                return None
            self.view.navigation = None
            if navigation.kind != "patch":
                return self._redirect_payload(live, navigation)
            matched = live.router.match(navigation.to)
            if matched is None or matched[0].view is not type(self.view):
                raise ValueError(
                    f"push_patch to {navigation.to!r}: patch to the same view; "
                    "use push_navigate for another one"
                )
            self.url = navigation.to
            patch = {"to": navigation.to, "kind": "replace" if navigation.replace else "push"}
            if join_reply is not None:
                join_reply["live_patch"] = patch
            else:
                self.push("live_patch", patch)
            params = {**parse_params(urlsplit(navigation.to).query), **matched[1]}
            await self._handle_params(params, navigation.to)
        name = type(self.view).__name__
        raise RuntimeError(f"{name}: more than {_MAX_PATCHES} push_patch in a row")

    def _redirect_payload(self, live: LiveContext, navigation: Navigation) -> dict[str, Any]:
        target: dict[str, Any] = {"to": navigation.to}
        flash = self.view.assigns.get("flash") or {}
        if flash:
            target["flash"] = live.tokens.sign_flash(flash)
        if navigation.kind == "redirect":
            return {"redirect": target}
        target["kind"] = "replace" if navigation.replace else "push"
        return {"live_redirect": target}

    async def _handle_params(self, params: dict[str, Any], uri: str) -> None:
        metadata = {"view": type(self.view), "connected": True, "params": params, "uri": uri}
        with LIVE_VIEW_HANDLE_PARAMS(metadata):
            await self.view.handle_params(params, uri)

    def _render(self, *, full: bool) -> dict[str, Any]:
        if LIVE_VIEW_RENDER.listened:
            with LIVE_VIEW_RENDER({"view": type(self.view), "connected": True, "full": full}):
                return self._diff(full=full)
        return self._diff(full=full)

    def _diff(self, *, full: bool) -> dict[str, Any]:
        view = self.view
        changed = None if full else view.changed
        diff = self.renderer.render(view.assigns, changed, view.streams, self.components)
        rendered_components = self.components.take()
        if rendered_components:
            diff["c"] = rendered_components
        if "page_title" in view.assigns and (full or "page_title" in view.changed):
            diff["t"] = str(view.assigns["page_title"])
        if view.events:
            diff["e"] = view.events
            view.events = []
        view.changed = set()
        for ops in view.streams.values():
            ops.clear()
        return diff


def _ok(payload: dict[str, Any]) -> ChannelReply:
    return ChannelReply("ok", payload)
