"""The pubsub contracts (``pubsub/adapter.py``): the adapters and ``PubSub`` keep them.

That the package's modules import each other in one direction only (no
cycle: adapters never import ``base.py``) is checked with every other module's
imports, in ``tests/test_layers.py``.
"""

from __future__ import annotations

import inspect

import pytest

from phoenix_py import PubSub
from phoenix_py.pubsub.adapter import Adapter, LocalPubSub
from phoenix_py.pubsub.memory import MemoryAdapter
from phoenix_py.pubsub.redis import RedisAdapter


def protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    }


def test_the_adapter_contract_lists_seven_methods() -> None:
    assert sorted(protocol_methods(Adapter)) == [
        "broadcast",
        "direct_broadcast",
        "start",
        "stop",
        "subscribed",
        "unwatch",
        "watch",
    ]
    assert all(getattr(Adapter, name).__doc__ for name in protocol_methods(Adapter))


@pytest.mark.parametrize("adapter_cls", [MemoryAdapter, RedisAdapter])
def test_adapters_keep_the_contract(adapter_cls: type) -> None:
    for name, expected in protocol_methods(Adapter).items():
        method = getattr(adapter_cls, name)
        assert inspect.iscoroutinefunction(method) == inspect.iscoroutinefunction(
            getattr(Adapter, name)
        ), name
        assert list(inspect.signature(method).parameters) == list(expected.parameters), name


def test_pubsub_is_what_an_adapter_calls_back() -> None:
    pubsub = PubSub()
    for name, expected in protocol_methods(LocalPubSub).items():
        parameters = list(inspect.signature(getattr(pubsub, name)).parameters)
        assert parameters[: len(expected.parameters) - 1] == list(expected.parameters)[1:]
    assert all(getattr(LocalPubSub, name).__doc__ for name in ("codec", "local_broadcast"))
    assert pubsub.codec is not None
