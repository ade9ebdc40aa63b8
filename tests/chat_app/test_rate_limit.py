"""Rate limiters: in memory, and in a real Redis shared by two limiters (two instances)."""

from __future__ import annotations

import asyncio

import pytest

from examples.chat_app.rate_limit import MemoryRateLimiter, RateLimiter, RedisRateLimiter

from ..redis_server import free_port, redis_server

pytestmark = pytest.mark.anyio


async def allowed(limiter: RateLimiter, key: str, attempts: int) -> int:
    return sum([await limiter.allow(key) for _ in range(attempts)])


async def test_memory_allows_10_a_second_per_key() -> None:
    limiter = MemoryRateLimiter(limit=10, period=0.3)
    assert await allowed(limiter, "ann", 15) == 10
    assert await allowed(limiter, "bob", 1) == 1
    await asyncio.sleep(0.35)
    assert await allowed(limiter, "ann", 1) == 1


@pytest.mark.slow
async def test_redis_shares_the_count_between_instances() -> None:
    with redis_server() as redis:
        first, second = RedisRateLimiter(redis.url), RedisRateLimiter(redis.url)
        try:
            assert await allowed(first, "ann", 6) + await allowed(second, "ann", 6) == 10
            assert await allowed(second, "bob", 1) == 1
            await asyncio.sleep(1.05)
            assert await allowed(first, "ann", 1) == 1
        finally:
            await first.close()
            await second.close()


@pytest.mark.slow
async def test_redis_down_lets_messages_through() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert await allowed(limiter, "ann", 11) == 11
    finally:
        await limiter.close()
