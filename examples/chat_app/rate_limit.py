"""Rate limits: at most ``limit`` events per ``period`` seconds per key (a sliding window).

``MemoryRateLimiter`` counts in this process; ``RedisRateLimiter`` counts in
Redis, so that every instance of a cluster shares one count per user
(CHAT_API.md: "more than 10 messages in one second from one user"). If Redis
cannot answer, the Redis limiter lets the message through and logs it: a chat
that stops when its rate limiter is down is worse than one briefly unlimited.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict, deque
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger("chat_app.rate_limit")


class RateLimiter(Protocol):
    async def allow(self, key: str) -> bool:
        """Count one event for ``key``; ``False`` when it is over the limit (it is not counted)."""
        ...

    async def close(self) -> None:
        """Release what the limiter holds (connections)."""
        ...


class MemoryRateLimiter:
    def __init__(self, limit: int = 10, period: float = 1.0) -> None:
        self.limit, self.period = limit, period
        self._events: defaultdict[str, deque[float]] = defaultdict(deque)

    async def allow(self, key: str) -> bool:
        now = time.monotonic()
        window = self._events[key]
        while window and window[0] <= now - self.period:
            window.popleft()
        if len(window) >= self.limit:
            return False
        window.append(now)
        return True

    async def close(self) -> None:
        self._events.clear()


class RedisRateLimiter:
    """One sorted set per key, scored by time; entries older than the period are dropped."""

    def __init__(
        self, url: str, limit: int = 10, period: float = 1.0, *, prefix: str = "chat_app:rate:"
    ) -> None:
        self.limit, self.period, self.prefix = limit, period, prefix
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0)

    async def allow(self, key: str) -> bool:
        name, now, event = self.prefix + key, time.time(), uuid.uuid4().hex
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(name, 0, now - self.period)
                pipe.zadd(name, {event: now})
                pipe.zcard(name)
                pipe.expire(name, max(1, int(self.period) + 1))
                _, _, count, _ = await pipe.execute()
            if count <= self.limit:
                return True
            await self._redis.zrem(name, event)
            return False
        except (RedisError, OSError) as exc:
            logger.warning("rate limit not applied, Redis did not answer: %s", exc)
            return True

    async def close(self) -> None:
        await self._redis.aclose()
