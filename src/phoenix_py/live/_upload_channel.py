"""``lvu:<entry ref>``: one upload entry's file, sent in binary ``chunk`` pushes (§6).

The client joins with the token ``allow_upload`` gave the entry; each ``chunk``
(a binary frame) is appended to the entry's temporary file and answered ok;
one that would take the file past ``max_file_size`` is answered
``file_size_limit_exceeded`` and the channel stops. A token that does not
verify, or whose entry is gone or already has its channel, is refused.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..channel import Channel, ChannelReply, error, ok
from ._tokens import Tokens
from .uploads import UploadConfig, UploadEntry


class UploadRegistry(Protocol):
    """Where the views of this app leave their preflighted entries (``app.Live``)."""

    tokens: Tokens

    def upload_entry(self, view_id: str, entry_ref: str) -> tuple[UploadConfig, UploadEntry] | None:
        """The entry a token names, while its view lives."""
        ...


class UploadChannel(Channel):
    """The channel of one upload entry; see the module docs."""

    upload: UploadConfig
    entry: UploadEntry

    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        registry: UploadRegistry = self.socket.context
        token = payload.get("token") if isinstance(payload, dict) else None
        verified = registry.tokens.verify_upload(token)
        if verified is None:
            return error({"reason": "invalid_token"})
        view_id, _upload_ref, entry_ref = verified
        found = registry.upload_entry(view_id, entry_ref)
        if found is None or topic != f"lvu:{entry_ref}":
            return error({"reason": "invalid_token"})
        self.upload, self.entry = found
        if self.entry.written or self.entry.done:
            return error({"reason": "already_registered"})
        return {}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event != "chunk" or not isinstance(payload, bytes):
            return error({"reason": "send the file as binary chunk pushes"})
        entry, limit = self.entry, self.upload.max_file_size
        if entry.path is None or entry.written + len(payload) > limit:
            self.stop("shutdown")
            return error({"reason": "file_size_limit_exceeded", "limit": limit})
        with entry.path.open("ab") as file:
            file.write(payload)
        entry.written += len(payload)
        return ok()
