"""The tests of docs/live.md are examples/docs/live_testing.py; they run from here."""

from __future__ import annotations

from examples.docs.live_testing import (
    anyio_backend,
    pytestmark,
    test_components_keep_their_own_stars,
    test_the_counter,
    test_the_room_streams_messages_to_every_view,
    test_the_upload,
)

__all__ = [
    "anyio_backend",
    "pytestmark",
    "test_components_keep_their_own_stars",
    "test_the_counter",
    "test_the_room_streams_messages_to_every_view",
    "test_the_upload",
]
