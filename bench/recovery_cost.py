"""What connection state recovery costs: the Python gateway with GATEWAY_RECOVERY_SECONDS
at 120 (on, the default) and 0 (off), and Node's stack (bench/node/reference.mjs), in
one run, with bench/compare.py's pieces (the same load clients, producer, steps and
saturation rule):

- fan-out: 1,000 clients in one department room, job rate ramped; server CPU µs per
  delivered message;
- unicast: the same clients each in its own user room; server CPU µs per job.

With `--before-tree DIR --servers python-on python-off node python-before`, also the
gateway of another checkout (e.g. `git archive` of the commit before recovery), to see
what recovery off still costs against the code without it.

Each server gets its own redis-server; Redis' CPU is read from /proc as well, since
the log's appends (XADD to the namespace stream and to one index stream per room) run
there. Servers are measured one after the other, the order reversed in every other
round. Ratios are taken rate by rate where neither side saturated, and their median
reported, as bench/compare.py does.

    .venv/bin/python bench/recovery_cost.py               # 2 rounds, about 12 minutes
    .venv/bin/python bench/recovery_cost.py --rounds 1 --quick
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bullmq import Queue  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bench.compare import (  # noqa: E402
    NAMESPACE,
    NODE_DIR,
    ClientGroup,
    Server,
    cpu_seconds,
    drain,
    paced,
    step_result,
)
from tests.support.gateway import GatewayProcess  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

KINDS = ("python-on", "python-off", "node", "python-before")
RETENTION = {"python-on": "120", "python-off": "0", "python-before": "0"}
PAIRS = (
    ("python-on", "node"), ("python-off", "node"), ("python-on", "python-off"),
    ("python-before", "node"), ("python-off", "python-before"),
)


class TreeGateway(GatewayProcess):
    """`python -m gateway` from another checkout (the code before recovery, say)."""

    def __init__(self, env: dict[str, str], log_dir: Path, tree: Path) -> None:
        super().__init__(env, log_dir)
        self.tree = tree

    def start(self) -> "TreeGateway":
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway"], cwd=self.tree, env=self.env,
                stdout=log, stderr=subprocess.STDOUT,
            )
        return self


def make_server(kind: str, redis_url: str, workdir: Path, before: Path | None) -> Server:
    server = Server("node" if kind == "node" else "python", redis_url, workdir)
    if server.python is not None:
        server.python.env["GATEWAY_RECOVERY_SECONDS"] = RETENTION[kind]
        if kind == "python-before":
            assert before is not None, "python-before needs --before-tree"
            server.python = TreeGateway(server.python.env, workdir, before)
            server.port = server.python.port
    server.kind = kind
    return server


async def ramp(
    server: Server, redis_pid: int, clients: ClientGroup, queue: Queue, rates: list[float],
    seconds: float, fanout: int, job: Any, label: str,
) -> list[dict[str, Any]]:
    """bench/compare.py's ramp, with Redis' CPU per job and per delivered message."""
    rows = []
    for rate in rates:
        await clients.report()  # forget anything earlier
        cpu0, load0, redis0 = cpu_seconds(server.pid), clients.cpu_seconds(), cpu_seconds(redis_pid)
        t0 = time.monotonic()
        sent = await paced(queue, rate, seconds, job)
        received, latencies = await clients.wait_quiet(sent * fanout, time.monotonic() + 2.0)
        wall = time.monotonic() - t0
        row = step_result(
            server, cpu_seconds(server.pid) - cpu0, clients.cpu_seconds() - load0, wall,
            sent, received, fanout, latencies,
        )
        redis_cpu = cpu_seconds(redis_pid) - redis0
        row["redis_cpu_us_per_job"] = round(redis_cpu * 1e6 / max(sent, 1), 1)
        row["redis_cpu_us_per_delivered"] = round(redis_cpu * 1e6 / max(received, 1), 2)
        rows.append({"rate_jobs_per_s": rate, **row})
        print(json.dumps({"server": server.kind, "scenario": label, **rows[-1]}), flush=True)
        await drain(queue, clients)
        if row["saturated"]:
            break
    return rows


async def measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"server": kind}
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        assert redis.process is not None
        client = Redis.from_url(redis.url, decode_responses=True)
        critical = Queue("critical-events", {"connection": client})
        server = await make_server(kind, redis.url, Path(tmp), args.before_tree).start()
        try:
            clients = await ClientGroup(server, args.clients, "F", args.processes).start()

            def fan_job(n: int, sent_at: float) -> dict[str, Any]:
                return {"name": "records:updated", "data": {
                    "namespace": NAMESPACE, "rooms": ["department:F"], "id": f"f{n}",
                    "data": {"sent_at": sent_at, "status": "ready", "ref": "R-1"}}}

            def uni_job(n: int, sent_at: float) -> dict[str, Any]:
                return {"name": "records:updated", "data": {
                    "namespace": NAMESPACE, "rooms": [f"user:u{n % args.clients}"],
                    "id": f"u{n}", "data": {"sent_at": sent_at, "status": "ready"}}}

            results["fanout"] = await ramp(server, redis.process.pid, clients, critical,
                                           args.fanout_rates, args.seconds, args.clients,
                                           fan_job, "fanout")
            results["unicast"] = await ramp(server, redis.process.pid, clients, critical,
                                            args.unicast_rates, args.seconds, 1, uni_job,
                                            "unicast")
            await clients.close()
        finally:
            server.stop()
            await critical.close()
            await client.aclose()
            redis.stop()
    return results


def ratios(
    by: dict[str, dict[str, Any]], top: str, bottom: str, key: str, field: str
) -> dict[str, float]:
    rows = {kind: {row["rate_jobs_per_s"]: row for row in by[kind][key]} for kind in (top, bottom)}
    return {
        str(rate): round(row[field] / rows[bottom][rate][field], 2)
        for rate, row in sorted(rows[top].items())
        if rate in rows[bottom] and not row["saturated"] and not rows[bottom][rate]["saturated"]
        and rows[bottom][rate][field] > 0
    }


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per pair: the ratio rate by rate, and its median, for the server's CPU and (for
    on/off) Redis' CPU."""
    by = {result["server"]: result for result in results}
    out: dict[str, Any] = {}
    for top, bottom in PAIRS:
        if top not in by or bottom not in by:
            continue
        fields = [("server", "server_cpu_us_per_delivered", "server_cpu_us_per_job")]
        if bottom != "node":
            fields.append(("redis", "redis_cpu_us_per_delivered", "redis_cpu_us_per_job"))
        for what, fan_field, uni_field in fields:
            for key, field in (("fanout", fan_field), ("unicast", uni_field)):
                by_rate = ratios(by, top, bottom, key, field)
                out[f"{what} {key} {top}/{bottom}"] = {
                    "by_rate": by_rate,
                    "median": round(statistics.median(by_rate.values()), 2) if by_rate else None,
                }
    return out


async def main(args: argparse.Namespace) -> None:
    if not (NODE_DIR / "node_modules").is_dir():
        sys.exit("bench/node has no node_modules: run `npm ci --prefix bench/node` first")
    rounds = []
    for index in range(args.rounds):
        order = list(args.servers) if index % 2 == 0 else list(reversed(args.servers))
        results = [await measure(kind, args) for kind in order]
        result = {"round": index + 1, "order": order, "results": results}
        if {"python-on", "python-off", "node"} <= set(args.servers):
            result["summary"] = summary(results)
            print(json.dumps({"round": index + 1, "summary": result["summary"]}), flush=True)
        rounds.append(result)
    if args.output:
        Path(args.output).write_text(json.dumps(rounds, indent=1))  # noqa: ASYNC240


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", nargs="+", choices=KINDS, default=list(KINDS[:3]))
    parser.add_argument("--before-tree", type=Path,
                        help="a checkout of the code before recovery, for python-before")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fanout-rates", type=float, nargs="+", default=[2, 5, 10, 20, 40])
    parser.add_argument("--unicast-rates", type=float, nargs="+",
                        default=[100, 200, 400, 800, 1600])
    parser.add_argument("--output", help="also write the raw results to this JSON file")
    parser.add_argument("--quick", action="store_true")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.clients, parsed.processes, parsed.seconds = 200, 2, 2.0
        parsed.fanout_rates, parsed.unicast_rates = [5, 20], [100, 400]
    asyncio.run(main(parsed))
