"""A token bucket: ``capacity`` events at once, refilled at ``per_second``.

Pure: the caller passes the time, so tests drive it with any clock.
"""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("_capacity", "_per_second", "_tokens", "_updated")

    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        self._capacity = capacity
        self._per_second = per_second
        self._tokens = capacity
        self._updated = now

    def allow(self, now: float) -> bool:
        """Take one token if there is one."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._per_second)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
