"""LiveViews: server-rendered pages kept live over the channel (the view API).

A view is a class with a template and callbacks, close to Phoenix's::

    class Counter(LiveView):
        template = '<p id="count">{{ count }}</p><button phx-click="inc">+</button>'

        async def mount(self, params, session):
            self.assign(count=0)

        async def handle_event(self, event, value):
            if event == "inc":
                self.assign(count=self.assigns["count"] + 1)

One instance serves one page in one browser tab: it is made for the dead
render (``connected`` false), and again when the client joins over the socket
(``connected`` true), where it then lives until the page goes. Callbacks, all
``async``:

* ``mount(params, session)``: set the first assigns. ``params`` are the URL's
  path and query params; ``session`` what the live session puts in the token.
* ``handle_params(params, url)``: after mount and on every live patch.
* ``handle_event(event, value)``: a ``phx-*`` binding fired; ``value`` is a
  dict (forms decoded as Plug does, with ``_target``). A hook's ``pushEvent``
  gets the return value as its reply.
* ``handle_info(message)``: pubsub messages (``subscribe``), ``send_info``.
* ``handle_async(name, result)``: a ``start_async`` task ended.
* ``terminate(reason)``.

Change tracking (``_assigns``): ``assign`` marks a name changed unless it is
given an equal immutable value; a list or dict counts as changed whenever it
is assigned, so mutate a copy and assign it. The next render evaluates only
the template slots that read a changed name, and sends only what differs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ..errors import UsageError
from ._assigns import Assigns
from ._render import StreamOps
from ._templates import Templated
from .component import LiveComponent
from .uploads import UploadConfig, UploadEntry

logger = logging.getLogger("phoenix_py.live")


class ViewRuntime(Protocol):
    """What a view calls on the process that runs it (the channel, or the dead render)."""

    @property
    def connected(self) -> bool:
        """True over the socket, False during the HTTP dead render."""
        ...

    @property
    def state(self) -> Any:
        """The application's state (``Endpoint(state=...)``)."""
        ...

    def subscribe(self, topic: str) -> None:
        """Deliver the topic's broadcasts to ``handle_info``."""
        ...

    def unsubscribe(self, topic: str) -> None:
        """Stop delivering ``topic``."""
        ...

    async def broadcast_to(self, topic: str, event: str, payload: Any) -> None:
        """Broadcast on any topic, cluster-wide."""
        ...

    def track(self, presence: Any, topic: str, key: str, meta: dict[str, Any]) -> None:
        """Track this view in ``presence`` on ``topic`` until it ends."""
        ...

    def send_info(self, message: Any) -> None:
        """Queue ``message`` for ``handle_info``, after the current callback."""
        ...

    def send_after(self, message: Any, seconds: float) -> asyncio.TimerHandle:
        """``send_info(message)`` in ``seconds`` (cancelled if the view ends first)."""
        ...

    @property
    def connect_params(self) -> dict[str, Any]:
        """The params the client joined with (``LiveSocket``'s ``params``)."""
        ...

    def spawn(
        self, work: Awaitable[Any], done: Callable[[Any, BaseException | None], Awaitable[None]]
    ) -> None:
        """Run ``work`` beside the view; then ``await done(result, error)`` in the view's
        order (between its other callbacks) and render what changed."""
        ...


@dataclass(frozen=True, slots=True)
class AsyncResult:
    """An ``assign_async`` value: ``loading`` until the work ends, then ``ok`` or ``failed``."""

    loading: bool = True
    ok: bool = False
    failed: bool = False
    result: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Navigation:
    """A pending push_patch, push_navigate or redirect."""

    kind: str  # "patch", "navigate", "redirect"
    to: str
    replace: bool = False


class LiveView(Assigns, Templated):
    """Base class of live views; see the module docs.

    Class attributes: ``template`` (Jinja2 source), or ``template_file`` (a path
    relative to the module that defines the view); ``components``, the live
    components its template renders by name (``live_component(Name, id=...)``).
    """

    components: ClassVar[dict[str, type[LiveComponent]]] = {}

    def __init__(self, runtime: ViewRuntime) -> None:
        super().__init__()
        self._runtime = runtime
        self.assigns["flash"] = {}
        self.changed.add("flash")
        self.events: list[list[Any]] = []
        self.navigation: Navigation | None = None
        self.streams: dict[str, StreamOps] = {}
        self._dom_ids: dict[str, Callable[[Any], str]] = {}

    @property
    def connected(self) -> bool:
        return self._runtime.connected

    @property
    def state(self) -> Any:
        """The application's state, as given to ``Endpoint(state=...)``."""
        return self._runtime.state

    # Callbacks

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        return None

    async def handle_params(self, params: dict[str, Any], url: str) -> None:
        return None

    async def handle_event(self, event: str, value: dict[str, Any]) -> Any:
        raise UsageError(f"{type(self).__name__} does not handle the event {event!r}")

    async def handle_info(self, message: Any) -> None:
        logger.warning("%s got a message it does not handle: %r", type(self).__name__, message)

    async def handle_async(self, name: str, result: AsyncResult) -> None:
        if result.failed:
            logger.warning("%s: async %r failed: %s", type(self).__name__, name, result.error)

    async def terminate(self, reason: str | BaseException) -> None:
        return None

    # To the client

    def push_event(self, event: str, payload: Any) -> None:
        """Send ``event`` to the client's hooks and ``window`` (``phx:<event>``)."""
        self.events.append([event, payload])

    def push_patch(self, to: str, *, replace: bool = False) -> None:
        """Change the URL without a new mount: ``handle_params`` runs again."""
        self.navigation = Navigation("patch", to, replace)

    def push_navigate(self, to: str, *, replace: bool = False) -> None:
        """Go to another live view of the same live session, without a page load."""
        self.navigation = Navigation("navigate", to, replace)

    def redirect(self, to: str) -> None:
        """A full page load of ``to``."""
        self.navigation = Navigation("redirect", to)

    def put_flash(self, kind: str, message: str) -> None:
        self.assign(flash={**self.assigns["flash"], kind: message})

    def clear_flash(self, kind: str | None = None) -> None:
        flash = (
            {} if kind is None else {k: v for k, v in self.assigns["flash"].items() if k != kind}
        )
        self.assign(flash=flash)

    # Streams (``{% for dom_id, item in streams.NAME %}``)

    def stream(
        self,
        name: str,
        items: Iterable[Any],
        *,
        at: int = -1,
        reset: bool = False,
        limit: int | None = None,
        dom_id: Callable[[Any], str] | None = None,
    ) -> None:
        """Insert ``items`` into stream ``name`` (made on first use); ``reset`` empties it first."""
        if dom_id is not None:
            self._dom_ids[name] = dom_id
        ops = self.streams.get(name)
        if ops is None:
            ops = self.streams[name] = StreamOps(str(len(self.streams)), [], [])
        if reset:
            ops.clear()
            ops.reset = True
        for item in items:
            ops.inserts.append((self._dom_id(name, item), at, limit, False, item))
        self.changed.add("streams")

    def stream_insert(
        self,
        name: str,
        item: Any,
        *,
        at: int = -1,
        limit: int | None = None,
        update_only: bool = False,
    ) -> None:
        ops = self._stream(name)
        ops.inserts.append((self._dom_id(name, item), at, limit, update_only, item))
        self.changed.add("streams")

    def stream_delete(self, name: str, item: Any) -> None:
        self.stream_delete_by_dom_id(name, self._dom_id(name, item))

    def stream_delete_by_dom_id(self, name: str, dom_id: str) -> None:
        ops = self._stream(name)
        ops.inserts = [insert for insert in ops.inserts if insert[0] != dom_id]
        ops.deletes.append(dom_id)
        self.changed.add("streams")

    def _stream(self, name: str) -> StreamOps:
        ops = self.streams.get(name)
        if ops is None:
            raise UsageError(
                f"no stream {name!r}: call self.stream({name!r}, items) in mount first"
            )
        return ops

    def _dom_id(self, name: str, item: Any) -> str:
        make = self._dom_ids.get(name)
        if make is not None:
            return make(item)
        key = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
        if key is None:
            raise UsageError(
                f"stream {name!r} items need an id (a dict key or attribute), or pass "
                "dom_id=lambda item: ... to self.stream"
            )
        return f"{name}-{key}"

    # Uploads (see ``uploads``)

    def allow_upload(
        self,
        name: str,
        *,
        accept: str | list[str] = "any",
        max_entries: int = 1,
        max_file_size: int = 8_000_000,
        auto_upload: bool = False,
        chunk_size: int = 64_000,
    ) -> UploadConfig:
        """Accept files for upload ``name`` (``uploads.NAME`` in the template)."""
        upload = UploadConfig(name, accept, max_entries, max_file_size, auto_upload, chunk_size)
        uploads = dict(self.assigns.get("uploads", {}))
        uploads[name] = upload
        self.assign(uploads=uploads)
        return upload

    def upload(self, name: str) -> UploadConfig:
        upload = self.assigns.get("uploads", {}).get(name)
        if not isinstance(upload, UploadConfig):
            raise UsageError(f"no upload {name!r}: call self.allow_upload({name!r}, ...) in mount")
        return upload

    def consume_uploaded_entries(
        self, name: str, function: Callable[[Path, UploadEntry], Any]
    ) -> list[Any]:
        """``function(path, entry)`` for each finished entry of ``name``, which is then
        forgotten (its file deleted); the results, in order."""
        upload = self.upload(name)
        results = []
        for entry in [entry for entry in upload.entries if entry.done]:
            if entry.path is not None:
                results.append(function(entry.path, entry))
            upload.discard(entry)
        self.changed.add("uploads")
        return results

    def cancel_upload(self, name: str, ref: str) -> None:
        upload = self.upload(name)
        entry = upload.entry(ref)
        if entry is not None:
            upload.discard(entry)
            self.changed.add("uploads")

    # The rest of the app

    def subscribe(self, topic: str) -> None:
        """Receive ``topic``'s broadcasts in ``handle_info`` (while connected)."""
        self._runtime.subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        self._runtime.unsubscribe(topic)

    async def broadcast(self, topic: str, event: str, payload: Any) -> None:
        """Broadcast ``event`` on ``topic`` to every subscriber in the cluster."""
        await self._runtime.broadcast_to(topic, event, payload)

    def track(self, presence: Any, topic: str, key: str, meta: dict[str, Any]) -> None:
        """Be present on ``topic`` under ``key`` while this view lives (connected only)."""
        if self.connected:
            self._runtime.track(presence, topic, key, meta)

    def send_info(self, message: Any) -> None:
        self._runtime.send_info(message)

    def send_after(self, message: Any, seconds: float) -> asyncio.TimerHandle | None:
        """Deliver ``message`` to ``handle_info`` in ``seconds`` (Phoenix's
        ``Process.send_after``); ``cancel()`` the handle to call it off. Connected only."""
        if not self.connected:
            return None
        return self._runtime.send_after(message, seconds)

    @property
    def connect_params(self) -> dict[str, Any]:
        """The client's connect params (``new LiveSocket(url, Socket, {params})`` and the
        client's own ``_mounts``, ...), as Phoenix's ``get_connect_params``; ``{}`` in
        the dead render."""
        return self._runtime.connect_params if self.connected else {}

    def start_async(self, name: str, work: Callable[[], Awaitable[Any]]) -> None:
        """Run ``work()`` beside the view; ``handle_async(name, result)`` gets its outcome."""
        if not self.connected:
            return

        def done(result: Any, error: BaseException | None) -> Awaitable[None]:
            return self.handle_async(name, _outcome(result, error))

        self._runtime.spawn(work(), done)

    def assign_async(self, names: str | Iterable[str], work: Callable[[], Awaitable[Any]]) -> None:
        """Assign ``AsyncResult()`` (loading) to each name now, and ``work()``'s result
        (a dict by name, or the value for a single name) once it is there."""
        keys = [names] if isinstance(names, str) else list(names)
        self.assign(**{key: AsyncResult() for key in keys})
        if not self.connected:
            return

        async def apply(result: Any, error: BaseException | None) -> None:
            outcome = _outcome(result, error)
            for key in keys:
                if outcome.ok:
                    value = result[key] if len(keys) > 1 else result
                    self.assign(**{key: AsyncResult(loading=False, ok=True, result=value)})
                else:
                    self.assign(**{key: outcome})

        self._runtime.spawn(work(), apply)


def _outcome(result: Any, error: BaseException | None) -> AsyncResult:
    if error is None:
        return AsyncResult(loading=False, ok=True, result=result)
    return AsyncResult(loading=False, failed=True, error=f"{type(error).__name__}: {error}")


__all__ = ["AsyncResult", "LiveView", "Navigation", "ViewRuntime"]
