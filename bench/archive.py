"""Archive 100,000 finished jobs: jobs/s, Redis memory before and after, rows in PostgreSQL.

One redis-server and one PostgreSQL of its own (fsync on: PostgreSQL's defaults), both
in a temporary directory. The finished jobs are made for real: Python bullmq adds them
to a paused `critical-events` (5% of them invalid, so they fail), one `python -m gateway`
pod consumes them, and Redis saves the result once. Then, for each batch size, Redis is
restarted from that snapshot, the table emptied, and `python -m archiver --once` (min
age 0) moves everything; the pass time comes from the archiver's own log line, its CPU
time from the kernel.

    .venv/bin/python bench/archive.py                      # 100,000 jobs, batch 1000
    .venv/bin/python bench/archive.py --jobs 20000 --batches 100,1000,5000
"""

import argparse
import asyncio
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from bullmq import Queue  # noqa: E402

from tests.support.gateway import GatewayProcess, base_env  # noqa: E402
from tests.support.jobs import notification  # noqa: E402
from tests.support.postgres import PostgresProcess  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

QUEUE = "critical-events"
KEEP = {"removeOnComplete": False, "removeOnFail": False}
CHUNK = 1000


def job(n: int) -> dict[str, Any]:
    rooms = [f"user:{n % 5000}", f"department:{'ABCDEFGH'[n % 8]}"]
    if n % 20 == 19:
        rooms = ["admins"]  # invalid: fails at once, archived as failed
    return {
        "name": "records:updated",
        "data": notification(rooms, f"res-{n}", data={
            "reference_number": f"R-{n}", "status": "ready", "amount": n * 3,
        }, metadata={"triggered_by": f"u-{n % 97}"}),
        "opts": {**KEEP, "jobId": f"records:res-{n}:1"},
    }


async def used_memory(url: str) -> tuple[int, int]:
    """Redis' used_memory and its number of keys."""
    client = aioredis.Redis.from_url(url)
    try:
        info = await client.info("memory")
        return int(info["used_memory"]), int(await client.dbsize())
    finally:
        await client.aclose()


async def loaded(url: str) -> None:
    """Until Redis has loaded its snapshot (it answers LOADING before that)."""
    client = aioredis.Redis.from_url(url)
    try:
        while True:
            try:
                await client.ping()
                return
            except aioredis.BusyLoadingError:
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def finished(url: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        return int(await client.zcard(f"bull:{QUEUE}:completed")) + int(
            await client.zcard(f"bull:{QUEUE}:failed")
        )
    finally:
        await client.aclose()


async def fill(redis: RedisProcess, jobs: int, log_dir: Path) -> float:
    """`jobs` finished jobs in Redis, consumed by a real pod; seconds it took."""
    queue = Queue(QUEUE, {"connection": redis.url})
    await queue.pause()
    for start in range(0, jobs, CHUNK):
        await queue.addBulk([job(n) for n in range(start, min(start + CHUNK, jobs))])
    pod = GatewayProcess(base_env(redis.url, GATEWAY_QUEUES=f"{QUEUE}=32"), log_dir).start()
    try:
        await pod.started()
        started = time.monotonic()
        await queue.resume()
        while (done := await finished(redis.url)) < jobs:
            print(f"  {done}/{jobs} finished", end="\r", flush=True)
            await asyncio.sleep(1)
        seconds = time.monotonic() - started
    finally:
        pod.signal_term()
        await pod.exit_code()
        await queue.close()
    client = aioredis.Redis.from_url(redis.url)
    try:
        await client.save()  # the snapshot every batch size starts from
    finally:
        await client.aclose()
    return seconds


async def archive(redis: RedisProcess, database_url: str, batch: int) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""), "REDIS_URL": redis.url,
        "ARCHIVE_DATABASE_URL": database_url, "GATEWAY_QUEUES": f"{QUEUE}=1",
        "ARCHIVE_MIN_AGE_SECONDS": "0", "ARCHIVE_BATCH": str(batch),
        "ARCHIVE_METRICS_PORT": "0",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "archiver", "--once", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = output.decode()
    assert process.returncode == 0, text
    match = re.search(r"pass done: (\d+) jobs archived in ([\d.]+) s", text)
    assert match, text
    return {
        "archived": int(match[1]), "pass_seconds": float(match[2]), "process_seconds": wall,
        "archiver_cpu_seconds": (after.ru_utime - before.ru_utime)
        + (after.ru_stime - before.ru_stime),
    }


async def table_facts(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetchval("SELECT count(*) FROM notification_archive")
        distinct = await connection.fetchval(
            "SELECT count(DISTINCT (queue, job_id)) FROM notification_archive"
        )
        failed = await connection.fetchval(
            "SELECT count(*) FROM notification_archive WHERE state = 'failed'"
        )
        size = await connection.fetchval("SELECT pg_total_relation_size('notification_archive')")
        await connection.execute("TRUNCATE notification_archive")
        return {"rows": rows, "distinct_jobs": distinct, "failed_rows": failed,
                "table_bytes": size}
    finally:
        await connection.close()


async def main(jobs: int, batches: list[int]) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        postgres = PostgresProcess(durable=True).start()
        try:
            fill_seconds = await fill(redis, jobs, Path(tmp))
            print(f"filled {jobs} finished jobs through one pod in {fill_seconds:.1f} s")
            for batch in batches:
                redis.stop()
                redis.start()  # from the snapshot: the same jobs for every batch size
                await loaded(redis.url)
                assert await finished(redis.url) == jobs
                memory_before, keys_before = await used_memory(redis.url)
                load = os.getloadavg()[0]
                run = await archive(redis, postgres.url(), batch)
                memory_after, keys_after = await used_memory(redis.url)
                left = await finished(redis.url)
                result = {
                    "jobs": jobs, "batch": batch, **run,
                    "jobs_per_second": round(run["archived"] / run["pass_seconds"]),
                    "redis_used_memory_before": memory_before,
                    "redis_used_memory_after": memory_after,
                    "redis_keys_before": keys_before, "redis_keys_after": keys_after,
                    "load_average_1m": load,
                    "finished_left_in_redis": left,
                    **await table_facts(postgres.url()),
                }
                print(json.dumps(result))
                results.append(result)
        finally:
            postgres.remove()
            redis.stop()
    return results


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        "| batch | jobs/s | pass (s) | archiver CPU (s) | Redis before | Redis after | rows |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['batch']:,} | {r['jobs_per_second']:,} | {r['pass_seconds']:.1f} | "
            f"{r['archiver_cpu_seconds']:.1f} | {r['redis_used_memory_before'] / 2**20:.1f} MiB | "
            f"{r['redis_used_memory_after'] / 2**20:.1f} MiB | {r['rows']:,} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--batches", default="1000",
                        help="comma-separated ARCHIVE_BATCH values, each on the same jobs")
    args = parser.parse_args()
    sizes = [int(size) for size in args.batches.split(",")]
    print(report(asyncio.run(main(args.jobs, sizes))))
