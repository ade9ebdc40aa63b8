"""A sliding window of per-second buckets: how many, how much and the largest, each second.

The window keeps one bucket per second of the last ``seconds`` seconds in a
ring, so its memory is fixed whatever the traffic: a value lands in the bucket
of the current second (the ring slot whose second has passed is reset first),
and the series read back zeros for seconds in which nothing happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SlidingWindow:
    """Counts, sums and maxima per second over the last ``seconds`` seconds.

    Args:
        seconds: how many seconds the series cover.
        clock: seconds, monotonic (``time.monotonic``; tests give their own).
    """

    def __init__(self, seconds: int = 60, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 1:
            raise ValueError("a window covers at least one second")
        self.seconds = seconds
        self._clock = clock
        # One slot more than the series show: the current second, still filling.
        self._size = size = seconds + 1
        self._stamps = [-1] * size  # the second each slot holds
        self._counts = [0] * size
        self._sums = [0.0] * size
        self._maxima = [0.0] * size

    def add(self, value: float = 0.0) -> None:
        """Count one event of ``value`` in the current second."""
        second = int(self._clock())
        slot = second % self._size
        if self._stamps[slot] != second:
            self._stamps[slot] = second
            self._counts[slot] = 0
            self._sums[slot] = 0.0
            self._maxima[slot] = 0.0
        self._counts[slot] += 1
        self._sums[slot] += value
        if value > self._maxima[slot]:
            self._maxima[slot] = value

    def counts(self) -> list[int]:
        """Events per second, oldest first, ending with the last complete second."""
        return [self._counts[slot] if fresh else 0 for slot, fresh in self._slots()]

    def sums(self) -> list[float]:
        """The values' total per second (same seconds as ``counts``)."""
        return [self._sums[slot] if fresh else 0.0 for slot, fresh in self._slots()]

    def means(self) -> list[float]:
        """The mean value per second; 0 for a second without events."""
        return [
            self._sums[slot] / self._counts[slot] if fresh and self._counts[slot] else 0.0
            for slot, fresh in self._slots()
        ]

    def maxima(self) -> list[float]:
        """The largest value per second; 0 for a second without events."""
        return [self._maxima[slot] if fresh else 0.0 for slot, fresh in self._slots()]

    def _slots(self) -> list[tuple[int, bool]]:
        # The current second is still filling: the series stop at the one before it.
        last = int(self._clock()) - 1
        seconds = range(last - self.seconds + 1, last + 1)
        return [
            (second % self._size, self._stamps[second % self._size] == second) for second in seconds
        ]
