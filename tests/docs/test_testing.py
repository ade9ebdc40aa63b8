"""The tests of docs/testing.md are examples/docs/testing.py; they run from here."""

from __future__ import annotations

from examples.docs.testing import (
    anyio_backend,
    pytestmark,
    test_a_failed_assertion_says_what_the_client_got,
    test_new_msg_reaches_everyone_in_the_room,
    test_refusals,
)

__all__ = [
    "anyio_backend",
    "pytestmark",
    "test_a_failed_assertion_says_what_the_client_got",
    "test_new_msg_reaches_everyone_in_the_room",
    "test_refusals",
]
