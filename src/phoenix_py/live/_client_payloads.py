"""What the client's payloads mean for a view: event values, and the files of uploads.

* an event's ``value`` as ``handle_event`` gets it: a form's URL-encoded
  fields decoded as Plug decodes them (``user[name]`` nests), ``_target`` as
  a key path, and the ``meta`` the client adds;
* a form event's ``uploads``: the files chosen since, which become entries;
* ``allow_upload``: the preflight, each accepted entry with a signed token
  for its ``lvu:<ref>`` channel;
* ``progress``: what an entry's channel reports, or the client's error for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._core.params import parse_params
from ._tokens import Tokens
from .uploads import UploadConfig, UploadEntry
from .view import LiveView


def event_value(kind: str, value: Any, meta: Any) -> dict[str, Any]:
    """An event's value as ``handle_event`` gets it (Phoenix's ``decode_event_type``)."""
    if kind == "form":
        decoded = parse_params(value) if isinstance(value, str) else {}
        if isinstance(meta, dict):
            decoded.update(meta)
        target = decoded.get("_target")
        if isinstance(target, str):
            decoded["_target"] = _key_path(target)
        return decoded
    if isinstance(value, dict):
        return value
    return {} if value is None else {"value": value}


def _key_path(name: str) -> list[str]:
    """``user[address][city]`` as ``["user", "address", "city"]``."""
    head, _, rest = name.partition("[")
    return [head, *[part for part in rest.replace("]", "").split("[") if part]] if rest else [head]


def _upload_by_ref(view: LiveView, ref: Any) -> UploadConfig | None:
    uploads = view.assigns.get("uploads") or {}
    return next((upload for upload in uploads.values() if upload.ref == ref), None)


def announce_uploads(view: LiveView, announced: Any) -> None:
    """A form event names the files chosen since: they become entries."""
    if not isinstance(announced, dict):
        return
    for ref, entries in announced.items():
        upload = _upload_by_ref(view, ref)
        if upload is not None and isinstance(entries, list):
            upload.put_entries(entries)
            view.changed.add("uploads")


def preflight_uploads(
    view: LiveView,
    payload: dict[str, Any],
    view_id: str,
    tokens: Tokens,
    register: Callable[[str, UploadConfig, UploadEntry], None],
) -> dict[str, Any] | None:
    """The ``allow_upload`` reply (``None``: no such upload): the entries checked, and
    a token for each accepted one, which ``register`` lets its channel find."""
    upload = _upload_by_ref(view, payload.get("ref"))
    entries = payload.get("entries")
    if upload is None or not isinstance(entries, list):
        return None
    upload.put_entries(entries)
    refs = [entry.get("ref") for entry in entries if isinstance(entry, dict)]
    reply = upload.preflight(
        refs, lambda ref, entry_ref: tokens.sign_upload(view_id, ref, entry_ref)
    )
    for entry in upload.entries:
        if entry.ref in reply["entries"]:
            register(view_id, upload, entry)
    view.changed.add("uploads")
    return reply


def record_progress(view: LiveView, payload: dict[str, Any]) -> bool:
    """Apply a ``progress`` report to its entry (False: no such entry)."""
    upload = _upload_by_ref(view, payload.get("ref"))
    entry = upload.entry(payload.get("entry_ref")) if upload is not None else None
    if upload is None or entry is None:
        return False
    progress = payload.get("progress")
    if isinstance(progress, int):
        entry.progress = max(entry.progress, min(progress, 100))
        entry.done = entry.progress == 100 and entry.written == entry.client_size
    elif isinstance(progress, dict):
        entry.errors = [*entry.errors, str(progress.get("error", "failed"))]
        entry.valid = False
    view.changed.add("uploads")
    return True
