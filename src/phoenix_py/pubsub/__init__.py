"""Publish/subscribe: local fan-out plus a pluggable adapter for other nodes."""

from .base import Adapter, PubSub, Subscriber
from .memory import MemoryAdapter, MemoryHub

__all__ = ["Adapter", "MemoryAdapter", "MemoryHub", "PubSub", "Subscriber"]
