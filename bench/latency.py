"""Enqueue-to-receive latency: N jobs at a fixed rate to one connected client.

Starts its own redis-server and one `python -m gateway` pod on free loopback ports,
connects one python-socketio client, adds jobs with the official Python bullmq
producer at a steady rate, and reports p50/p90/p99/max of the time from just before
`Queue.add` to the event's arrival at the client.

    .venv/bin/python bench/latency.py --jobs 1000 --rate 200
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.clients import RecordingClient  # noqa: E402
from tests.support.gateway import GatewayProcess, base_env  # noqa: E402
from tests.support.jobs import Producer, notification  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402
from tests.support.tokens import mint  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def run(jobs: int, rate: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        pod = GatewayProcess(base_env(redis.url, LOG_LEVEL="WARNING"), Path(tmp)).start()
        try:
            await pod.started()
            client = await RecordingClient(pod.url, "/data_owner", mint("bench", None)).connect()
            producer = Producer(redis.url)
            sent: dict[str, float] = {}
            received: dict[str, float] = {}

            async def receive() -> None:
                while len(received) < jobs:
                    _, payload = await client.events.get()
                    received[payload["id"]] = time.perf_counter()

            receiver = asyncio.create_task(receive())
            interval = 1.0 / rate
            start = time.perf_counter()
            for number in range(jobs):
                target = start + number * interval
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the load, not synchronising
                resource = f"r-{number}"
                sent[resource] = time.perf_counter()
                await producer.add("records:updated", notification(["user:bench"], resource))
            send_seconds = time.perf_counter() - start
            await asyncio.wait_for(receiver, 60)
            latencies_ms = [(received[key] - sent[key]) * 1000 for key in sent]
            await client.close()
            await producer.close()
        finally:
            pod.signal_term()
            await pod.exit_code()
            redis.stop()
    return {
        "jobs": jobs,
        "target_rate": rate,
        "achieved_rate": round(jobs / send_seconds, 1),
        "p50_ms": round(statistics.median(latencies_ms), 2),
        "p90_ms": round(percentile(latencies_ms, 0.90), 2),
        "p99_ms": round(percentile(latencies_ms, 0.99), 2),
        "max_ms": round(max(latencies_ms), 2),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.jobs, args.rate))))


if __name__ == "__main__":
    main()
