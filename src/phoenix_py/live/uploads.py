"""Live uploads: files chosen in the browser, sent in chunks over the socket (protocol §6).

In a view::

    async def mount(self, params, session):
        self.allow_upload("doc", accept="any", max_entries=2, max_file_size=100_000,
                          auto_upload=True)

    async def handle_event(self, event, value):
        if event == "save":
            def read(path, entry):
                return path.read_bytes()
            contents = self.consume_uploaded_entries("doc", read)

and in its template, inside a form with ``phx-change`` (the client announces
the chosen files with that event)::

    {{ live_file_input(uploads.doc) }}
    {% for entry in uploads.doc.entries %}{{ entry.client_name }} {{ entry.progress }}%
      {% for error in upload_errors(uploads.doc, entry) %}{{ error }}{% endfor %}{% endfor %}
    {% for error in upload_errors(uploads.doc) %}{{ error }}{% endfor %}

The flow, as the phoenix_live_view 1.2 client drives it: the ``phx-change``
event carries the chosen files' names, sizes and types, and the server makes
them entries (``too_large``, ``not_accepted`` and ``too_many_files`` checked
here); the client then asks ``allow_upload`` and gets a signed token per valid
entry and the chunk size; it joins ``lvu:<entry ref>`` with that token and
pushes the file in binary ``chunk`` frames (``UploadChannel``), each written to
a temporary file, a file over ``max_file_size`` stopped; it reports
``progress`` on the view's topic. ``consume_uploaded_entries`` hands each
finished entry's file to a function and forgets it; what is not consumed is
deleted when the view ends.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

__all__ = ["UploadConfig", "UploadEntry", "live_file_input", "upload_errors"]

CHUNK_SIZE = 64_000
CHUNK_TIMEOUT_MS = 10_000


@dataclass(eq=False)
class UploadEntry:
    """One chosen file: what the client said of it, and how far it got."""

    ref: str
    upload_ref: str
    client_name: str
    client_size: int
    client_type: str
    valid: bool = True
    preflighted: bool = False
    progress: int = 0
    done: bool = False
    errors: list[str] = field(default_factory=list)
    path: Path | None = None  # the temporary file the chunks go to
    written: int = 0

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


@dataclass(eq=False)
class UploadConfig:
    """``allow_upload``'s result, as templates read it (``uploads.NAME``)."""

    name: str
    accept: str | list[str]
    max_entries: int
    max_file_size: int
    auto_upload: bool
    chunk_size: int = CHUNK_SIZE
    chunk_timeout: int = CHUNK_TIMEOUT_MS
    ref: str = field(default_factory=lambda: f"phx-{secrets.token_urlsafe(8)}")
    entries: list[UploadEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # for the whole upload

    def entry(self, ref: Any) -> UploadEntry | None:
        return next((entry for entry in self.entries if entry.ref == ref), None)

    def put_entries(self, announced: list[Any]) -> None:
        """Make entries of files the client announced (validated as Phoenix does)."""
        for client in announced:
            if not isinstance(client, dict) or self.entry(client.get("ref")) is not None:
                continue
            size = client.get("size")
            entry = UploadEntry(
                ref=str(client.get("ref")),
                upload_ref=self.ref,
                client_name=str(client.get("name", "")),
                client_size=size if isinstance(size, int) else -1,
                client_type=str(client.get("type", "")),
            )
            if not isinstance(size, int) or size > self.max_file_size:
                entry.valid, entry.errors = False, ["too_large"]
            elif not self.accepts(entry.client_name, entry.client_type):
                entry.valid, entry.errors = False, ["not_accepted"]
            self.entries.append(entry)
        too_many = len(self.entries) > self.max_entries
        self.errors = ["too_many_files"] if too_many else []

    def accepts(self, name: str, content_type: str) -> bool:
        if self.accept == "any":
            return True
        for accepted in self.accept if isinstance(self.accept, list) else [self.accept]:
            if accepted.startswith(".") and name.lower().endswith(accepted.lower()):
                return True
            if accepted.endswith("/*") and content_type.startswith(accepted[:-1]):
                return True
            if accepted == content_type:
                return True
        return False

    def preflight(self, refs: list[Any], sign: Any) -> dict[str, Any]:
        """The ``allow_upload`` reply: a token per valid entry, errors of the others."""
        allowed = self.entries[: self.max_entries]
        tokens: dict[str, str] = {}
        errors: dict[str, list[str]] = {}
        for entry in allowed:
            if entry.ref not in refs or entry.preflighted:
                continue
            if not entry.valid:
                errors[entry.ref] = entry.errors
                continue
            entry.preflighted = True
            entry.path = _temporary_file()
            tokens[entry.ref] = sign(self.ref, entry.ref)
        config = {
            "max_file_size": self.max_file_size,
            "max_entries": self.max_entries,
            "chunk_size": self.chunk_size,
            "chunk_timeout": self.chunk_timeout,
        }
        reply: dict[str, Any] = {"ref": self.ref, "config": config, "entries": tokens}
        reply["errors"] = errors
        if self.errors and not self.auto_upload:
            reply["error"] = [[self.ref, error] for error in self.errors]
        return reply

    def discard(self, entry: UploadEntry) -> None:
        entry.discard()
        self.entries = [other for other in self.entries if other is not entry]
        self.errors = ["too_many_files"] if len(self.entries) > self.max_entries else []

    def discard_all(self) -> None:
        for entry in self.entries:
            entry.discard()
        self.entries, self.errors = [], []


def live_file_input(upload: UploadConfig, **attributes: str) -> Markup:
    """The ``<input type="file">`` the client drives the upload from (Phoenix's
    ``live_file_input``); ``attributes`` are added to it (``class_="..."`` for ``class``)."""
    refs = {
        "active": [entry.ref for entry in upload.entries],
        "done": [entry.ref for entry in upload.entries if entry.done],
        "preflighted": [entry.ref for entry in upload.entries if entry.preflighted],
    }
    parts = [
        f'id="{escape(upload.ref)}"',
        'type="file"',
        f'name="{escape(upload.name)}"',
    ]
    if upload.accept != "any":
        accept = upload.accept if isinstance(upload.accept, str) else ",".join(upload.accept)
        parts.append(f'accept="{escape(accept)}"')
    parts += [
        'data-phx-hook="Phoenix.LiveFileUpload"',
        f'data-phx-upload-ref="{escape(upload.ref)}"',
        f'data-phx-active-refs="{escape(",".join(refs["active"]))}"',
        f'data-phx-done-refs="{escape(",".join(refs["done"]))}"',
        f'data-phx-preflighted-refs="{escape(",".join(refs["preflighted"]))}"',
    ]
    errored = [entry.ref for entry in upload.entries if entry.errors]
    if upload.errors:
        errored.append(upload.ref)
    if errored:
        parts.append(f'data-phx-error-refs="{escape(",".join(errored))}"')
    if upload.auto_upload:
        parts.append("data-phx-auto-upload")
    if upload.max_entries > 1:
        parts.append("multiple")
    for name, value in attributes.items():
        parts.append(f'{escape(name.rstrip("_").replace("_", "-"))}="{escape(value)}"')
    return Markup(f"<input {' '.join(parts)}>")


def upload_errors(upload: UploadConfig, entry: UploadEntry | None = None) -> list[str]:
    """The upload's own errors (``too_many_files``), or one entry's (``too_large``, ...)."""
    return list(upload.errors if entry is None else entry.errors)


def _temporary_file() -> Path:
    handle, name = tempfile.mkstemp(prefix="phoenix_py_upload_")
    os.close(handle)
    return Path(name)
