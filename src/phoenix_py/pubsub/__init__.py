"""Publish/subscribe: local fan-out plus a pluggable adapter for other nodes."""

from .adapter import Adapter
from .base import PubSub, Subscriber
from .memory import MemoryAdapter, MemoryHub

__all__ = ["Adapter", "MemoryAdapter", "MemoryHub", "PubSub", "Subscriber"]
