"""Redis' own time per notification log call (notification_log.NotificationLog), case by
case, from `INFO commandstats` (the script calls' µs per call, as Redis counts them) and
`INFO cpu` (Redis' CPU over the case): what the recovery log adds on Redis' side.

Cases, each on a fresh log in one redis-server, appends 64 at a time:

- publish_only:  GATEWAY_RECOVERY_SECONDS=0: the append script publishes, logs nothing;
- department:    one room, under the count bound (GATEWAY_RECOVERY_MAX_ENTRIES);
- at_bound:      one room with the namespace's entries at the count bound, so every
                 append also trims the stream by one and rewrites the floor key;
- user_rooms:    each notification to one of 1,000 user rooms (unicast);
- new_rooms:     each notification to a room never used before;
- read_15 / read_500: a reconnect's read of one room, 15 / 500 notifications behind.

    .venv/bin/python bench/log_cost.py --appends 20000
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402

from notification_log import NotificationLog  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

NS = "/data_owner"
ARGS = '["records:updated",{"id":"r-1","data":{"status":"ready","ref":"R-1"},"metadata":' \
       '{"trace_id":"critical-events:1:1","timestamp":"2026-12-01T08:00:00.000Z"}}'
BATCH = 64


async def redis_cpu(client: "Redis") -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def script_stats(client: "Redis") -> tuple[int, float]:
    stats = await client.info("commandstats")
    calls, usec = 0, 0.0
    for name in ("cmdstat_evalsha", "cmdstat_eval"):
        if name in stats:
            calls += int(stats[name]["calls"])
            usec += float(stats[name]["usec"])
    return calls, usec


async def timed(
    client: "Redis", name: str, calls: int, call: Callable[[int], Awaitable[Any]]
) -> dict[str, Any]:
    await client.config_resetstat()
    cpu0, t0 = await redis_cpu(client), time.monotonic()
    for start in range(0, calls, BATCH):
        await asyncio.gather(*(call(n) for n in range(start, min(calls, start + BATCH))))
    wall = time.monotonic() - t0
    cpu = await redis_cpu(client) - cpu0
    script_calls, usec = await script_stats(client)
    row = {
        "case": name, "calls": calls,
        "script_us_per_call": round(usec / max(script_calls, 1), 2),
        "redis_cpu_us_per_call": round(cpu * 1e6 / calls, 2),
        "calls_per_s": round(calls / wall),
        "used_memory_mb": round((await client.info("memory"))["used_memory"] / 2**20, 1),
    }
    print(json.dumps(row), flush=True)
    return row


def log_for(client: "Redis", retention: float, max_entries: int) -> NotificationLog:
    return NotificationLog(client, "bench", "bench-channel", retention, max_entries)


async def cases(client: "Redis", args: argparse.Namespace) -> list[dict[str, Any]]:
    n = args.appends
    rows = []
    off = log_for(client, 0, 100_000)
    rows.append(await timed(client, "publish_only", n,
                            lambda i: off.append(NS, ["department:A"], ARGS)))
    await client.flushall()
    on = log_for(client, 120, 100_000)
    rows.append(await timed(client, "department", n,
                            lambda i: on.append(NS, ["department:A"], ARGS)))
    await client.flushall()
    bounded = log_for(client, 120, args.bound)
    for start in range(0, args.bound, BATCH):  # fill up to the bound
        await asyncio.gather(*(bounded.append(NS, ["department:B"], ARGS)
                               for _ in range(min(BATCH, args.bound - start))))
    rows.append(await timed(client, "at_bound", n,
                            lambda i: bounded.append(NS, ["department:B"], ARGS)))
    await client.flushall()
    rows.append(await timed(client, "user_rooms", n,
                            lambda i: on.append(NS, [f"user:u{i % 1000}"], ARGS)))
    await client.flushall()
    rows.append(await timed(client, "new_rooms", n,
                            lambda i: on.append(NS, [f"user:new{i}"], ARGS)))
    await client.flushall()
    for behind in (15, 500):
        rows.append(await read_case(client, on, behind, max(200, n // 20)))
    return rows


async def read_case(
    client: "Redis", log: NotificationLog, behind: int, reads: int
) -> dict[str, Any]:
    """A client of department C (and its own user room, quiet) `behind` notifications
    behind, read `reads` times."""
    position = await log.position()
    for _ in range(behind):
        await log.append(NS, ["department:C"], ARGS)

    async def read(i: int) -> None:
        result = await log.read(NS, ["department:C", "user:u1"], position.epoch,
                                position.last, 5000)
        assert len(result.messages) == behind, result.status

    return await timed(client, f"read_{behind}", reads, read)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        client = Redis.from_url(redis.url)
        try:
            rows = await cases(client, args)
        finally:
            await client.aclose()
            redis.stop()
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=1))  # noqa: ASYNC240


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--bound", type=int, default=10_000,
                        help="GATEWAY_RECOVERY_MAX_ENTRIES of the at_bound case")
    parser.add_argument("--output", help="also write the rows to this JSON file")
    asyncio.run(main(parser.parse_args()))
