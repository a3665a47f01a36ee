"""Room subscriptions on a real Redis Cluster (3 masters, 3 replicas): what a pod pays to
follow its sockets' rooms, roomcast's subscriber against redis-py 8's `ClusterPubSub`
(when the interpreter has redis-py 8; the project pins 7.4, so run that half from a
scratch venv: `python -m venv /tmp/r8 && /tmp/r8/bin/pip install -e .[dev] redis==8.1.0`).

Measured, per implementation:
- subscribe N channels at once (a pod starting with N local user rooms): wall time until
  every one is confirmed, and the pod's CPU for it;
- churn: C loop iterations, each adding and removing a few channels (connects and
  disconnects), CPU per change and commands sent;
- delivery latency of one SPUBLISH to a subscribed channel (median of 50), idle CPU.

Usage: python bench/cluster_subscribe.py [--channels 5000] [--churn 2000]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
from redis.asyncio.cluster import RedisCluster as AsyncCluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roomcast import RoomSubscriber, room_channel
from tests.support.redis_cluster import RedisCluster


def names(count: int, start: int = 0) -> list[str]:
    return [room_channel("{app-main}", "/data_owner", f"user:{n}") for n in range(start, count)]


async def spublish(client: AsyncCluster, channel: str, data: bytes) -> None:
    await client.execute_command("SPUBLISH", channel, data)


async def bench_roomcast(cluster: RedisCluster, channels: int, churn: int) -> dict[str, float]:
    got: asyncio.Queue[float] = asyncio.Queue()
    subscriber = RoomSubscriber(
        [("127.0.0.1", port) for port in cluster.ports[:2]],
        lambda channel, data: got.put_nowait(time.monotonic()),
    )
    subscriber.start()
    publisher = AsyncCluster(host="127.0.0.1", port=cluster.ports[0])
    await publisher.initialize()
    try:
        wanted = names(channels)
        cpu, wall = time.process_time(), time.monotonic()
        subscriber.add(wanted)
        async with asyncio.timeout(120):
            await subscriber.wait_established(wanted)
        result = {
            "subscribe_s": time.monotonic() - wall,
            "subscribe_cpu_us_per_channel": (time.process_time() - cpu) / channels * 1e6,
        }
        sent = subscriber.commands_sent
        extra = names(channels + churn * 4, channels)
        cpu = time.process_time()
        for i in range(churn):
            # Per iteration: two sockets join new rooms, two leave theirs.
            subscriber.add(extra[4 * i : 4 * i + 2])
            subscriber.discard(extra[4 * i - 4 : 4 * i - 2] if i else [])
            await asyncio.sleep(0)
        async with asyncio.timeout(60):
            await subscriber.wait_established(extra[4 * churn - 4 : 4 * churn - 2])
        result["churn_cpu_us_per_change"] = (time.process_time() - cpu) / (churn * 4) * 1e6
        result["churn_commands"] = subscriber.commands_sent - sent
        result.update(await latency(publisher, got, wanted[0]))
        return result
    finally:
        await subscriber.close()
        await publisher.aclose()


async def latency(publisher: AsyncCluster, got: "asyncio.Queue[float]", channel: str) -> dict[
    str, float
]:
    while not got.empty():
        got.get_nowait()
    delays = []
    for _ in range(50):
        sent = time.monotonic()
        await spublish(publisher, channel, b"x")
        delays.append(await asyncio.wait_for(got.get(), 10) - sent)
    cpu = time.process_time()
    await asyncio.sleep(2)
    return {
        "latency_ms_median": statistics.median(delays) * 1000,
        "idle_cpu_percent": (time.process_time() - cpu) / 2 * 100,
    }


async def bench_redis_py(cluster: RedisCluster, channels: int, churn: int) -> dict[str, float]:
    client = AsyncCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=13)
    await client.initialize()  # else ssubscribe raises SlotNotCoveredError (8.1.0)
    pubsub = client.pubsub()
    got: asyncio.Queue[float] = asyncio.Queue()
    stop = asyncio.Event()

    async def read() -> None:
        while not stop.is_set():
            message = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                got.put_nowait(time.monotonic())

    publisher = AsyncCluster(host="127.0.0.1", port=cluster.ports[0])
    await publisher.initialize()
    try:
        wanted = names(channels)
        cpu, wall = time.process_time(), time.monotonic()
        await pubsub.ssubscribe(*wanted)
        result = {
            "subscribe_s": time.monotonic() - wall,
            "subscribe_cpu_us_per_channel": (time.process_time() - cpu) / channels * 1e6,
        }
        reader = asyncio.create_task(read())
        extra = names(channels + churn * 4, channels)
        cpu = time.process_time()
        for i in range(churn):
            await pubsub.ssubscribe(*extra[4 * i : 4 * i + 2])
            if i:
                await pubsub.sunsubscribe(*extra[4 * i - 4 : 4 * i - 2])
        result["churn_cpu_us_per_change"] = (time.process_time() - cpu) / (churn * 4) * 1e6
        result["churn_commands"] = churn * 4  # one command per channel
        result.update(await latency(publisher, got, wanted[0]))
        stop.set()
        await reader
        return result
    finally:
        await pubsub.aclose()
        await client.aclose()
        await publisher.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=5000)
    parser.add_argument("--churn", type=int, default=2000)
    args = parser.parse_args()
    cluster = RedisCluster(Path(tempfile.mkdtemp(prefix="bench-cluster-"))).start()
    try:
        print(f"redis-py {redis.__version__}, {args.channels} channels, "
              f"{args.churn} churn iterations")
        print("roomcast", {k: round(v, 2) for k, v in
                           (await bench_roomcast(cluster, args.channels, args.churn)).items()})
        if int(redis.__version__.split(".")[0]) >= 8:
            cluster.flushall()
            print("redis-py ClusterPubSub", {k: round(v, 2) for k, v in (
                await bench_redis_py(cluster, args.channels, args.churn)).items()})
    finally:
        cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
