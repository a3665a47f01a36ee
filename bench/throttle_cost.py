"""What the throttle costs per job: jobs/s and gateway CPU per job, throttled vs not.

Each scenario pauses `critical-events`, fills it with N jobs (Python bullmq
`addBulk`), starts one `python -m gateway` pod on its own redis-server, waits until
it is ready, then resumes the queue and times the pod until its `/metrics` count
every job as finished, reading the pod's CPU time from /proc. Trailing jobs the
throttle schedules are not counted as finished jobs (their windows outlast the run).
Scenarios, all in one run so their ratios are comparable:

- unthrottled: event `resources:created` (no rule);
- leading:     `records:updated` with a rule, every job a different id (decide + emit);
- held:        `records:updated` with a rule, 10 ids (decide + schedule trailing job).

    .venv/bin/python bench/throttle_cost.py --jobs 5000
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bullmq import Queue  # noqa: E402

from tests.support.gateway import GatewayProcess, base_env, get_text  # noqa: E402
from tests.support.jobs import notification  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FINISHED_OUTCOMES = ("emitted", "throttled", "invalid", "failed")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def finished_jobs(url: str) -> int:
    status, text = await get_text(url + "/metrics")
    assert status == 200, text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("gateway_notifications_total{") and any(
            f'outcome="{outcome}"' in line for outcome in FINISHED_OUTCOMES
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


async def scenario(name: str, event: str, ids: int, jobs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        queue = Queue("critical-events", {"connection": redis.url})
        try:
            await queue.pause()
            batch = [
                {"name": event, "data": notification(["user:nobody"], f"r-{n % ids}")}
                for n in range(jobs)
            ]
            for start in range(0, jobs, 1000):
                await queue.addBulk(batch[start:start + 1000])
            env = base_env(
                redis.url, THROTTLE_RULES="records:updated=5",
                GATEWAY_QUEUES="critical-events=32", LOG_LEVEL="WARNING",
            )
            pod = await GatewayProcess(env, Path(tmp)).start().started()
            assert pod.process is not None
            started = time.perf_counter()
            cpu_before = cpu_seconds(pod.process.pid)
            await queue.resume()
            while await finished_jobs(pod.url) < jobs:
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(pod.process.pid) - cpu_before
            pod.signal_term()
            await pod.exit_code()
        finally:
            await queue.close()
            redis.stop()
    return {
        "scenario": name,
        "jobs": jobs,
        "jobs_per_s": round(jobs / elapsed),
        "cpu_ms_per_job": round(cpu * 1000 / jobs, 3),
    }


async def main(jobs: int) -> None:
    results = [
        await scenario("unthrottled", "resources:created", jobs, jobs),
        await scenario("leading", "records:updated", jobs, jobs),
        await scenario("held", "records:updated", 10, jobs),
    ]
    base = results[0]
    for result in results:
        result["rate_vs_unthrottled"] = round(
            float(result["jobs_per_s"]) / float(base["jobs_per_s"]), 2)  # type: ignore[arg-type]
        print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    asyncio.run(main(parser.parse_args().jobs))
