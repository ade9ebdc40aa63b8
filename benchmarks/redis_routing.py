"""What topic routing over Redis saves: receiver CPU per broadcast it does not need.

Two instances on a real redis-server. Instance B (a subprocess) subscribes to a
share of TOPICS topics; instance A publishes MESSAGES broadcasts spread evenly
over all topics. B reports the CPU time its process spent while they flowed,
and how many it received. Run: ``python benchmarks/redis_routing.py`` (needs
redis-server on PATH). Figures are ratios within one run, not absolute times.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phoenix_py import Broadcast, PubSub
from phoenix_py.pubsub.redis import RedisAdapter
from tests.redis_server import RedisServer

TOPICS = 1_000
MESSAGES = 20_000


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def deliver(self, message: object, cache: dict[object, object]) -> None:
        self.count += 1


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def receiver(url: str, share: float) -> None:
    pubsub = PubSub(RedisAdapter(url, node_name="b"))
    await pubsub.start()
    counter = Counter()
    wanted = int(TOPICS * share)
    started = time.perf_counter()
    for n in range(wanted):
        pubsub.subscribe(f"room:{n}", counter)
    await asyncio.sleep(0.5)
    subscribe_seconds = time.perf_counter() - started
    print("ready", flush=True)
    before = cpu()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "done"
    await asyncio.sleep(0.5)
    spent = cpu() - before
    print(
        json.dumps(
            {
                "share": share,
                "topics": wanted,
                "received": counter.count,
                "cpu_s": round(spent, 3),
                "subscribe_s": round(subscribe_seconds, 3),
            }
        )
    )
    await pubsub.stop()


async def publisher(url: str, share: float) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--receiver",
        url,
        str(share),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    pubsub = PubSub(RedisAdapter(url, node_name="a"))
    await pubsub.start()
    for n in range(MESSAGES):
        topic = f"room:{n % TOPICS}"
        await pubsub.broadcast(topic, Broadcast(topic, "msg", {"body": "x" * 200}))
        if n % 500 == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(1.0)
    await pubsub.stop()
    proc.stdin.write(b"done\n")
    await proc.stdin.drain()
    result = json.loads((await proc.stdout.readline()).decode())
    await proc.wait()
    return result


async def main() -> None:
    redis = RedisServer()
    redis.start()
    try:
        rows = [await publisher(redis.url, share) for share in (1.0, 0.1, 0.01)]
    finally:
        redis.stop()
    full = rows[0]["cpu_s"] or 1e-9
    print(f"{MESSAGES} broadcasts of 200 bytes over {TOPICS} topics; receiver CPU:")
    print("| receiver subscribes to | received | receiver CPU | vs all topics |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['topics']} topics | {row['received']} | {row['cpu_s']} s | "
            f"{row['cpu_s'] / full:.2f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--receiver":
        asyncio.run(receiver(sys.argv[2], float(sys.argv[3])))
    else:
        asyncio.run(main())
