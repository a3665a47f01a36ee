"""The Python gateway against the same contract in Node.js, side by side in one run.

For each server (`python -m gateway`, and `bench/node/reference.mjs`: socket.io 4.8 +
@socket.io/redis-adapter + BullMQ) on its own redis-server, with the same load clients
(several `bench/node/clients.mjs` processes, socket.io-client over websocket) and the
same producer (Python bullmq, `addBulk` every 10 ms):

1. idle:      N idle connections; server RSS per connection;
2. fan-out:   1,000 clients in one department room, job rate ramped; delivered
              messages/s and server CPU µs per delivered message;
3. unicast:   1,000 clients each in its own user room, job rate ramped; jobs/s,
              enqueue-to-receive p50/p99, server CPU µs per job;
4. isolation: `critical-events` at 50 jobs/s alone, then while 10,000 jobs are dumped
              on `general-events`; critical p99 in both.

Server and load-generator CPU come from /proc (utime + stime). A step is "saturated"
when fewer than 95% of the expected messages arrived within the step plus 2 s.

    .venv/bin/python bench/compare.py            # full run, ~6 minutes
    .venv/bin/python bench/compare.py --quick    # smaller, for a smoke test
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bullmq import Queue  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from tests.support.gateway import GatewayProcess, base_env  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402
from tests.support.tokens import SECRET  # noqa: E402

NODE_DIR = ROOT / "bench" / "node"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
NAMESPACE = "/data_owner"
TICK = 0.01
SCENARIOS = ("idle", "fanout", "unicast", "isolation")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES


async def quit_children(children: "list[asyncio.subprocess.Process]") -> None:
    """Ask each Node client process to quit (`quit` on its stdin), killing one that has
    not exited 10 s later."""
    for child in children:
        if child.returncode is None and child.stdin is not None:
            child.stdin.write(b"quit\n")
    for child in children:
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


class Server:
    """One gateway under test: its process, URL and readiness."""

    def __init__(self, kind: str, redis_url: str, workdir: Path) -> None:
        self.kind = kind
        self.port = free_port()
        env = base_env(
            redis_url,
            GATEWAY_NAMESPACES=NAMESPACE,
            GATEWAY_QUEUES="critical-events=32,general-events=8",
            THROTTLE_RULES="",
            LOG_LEVEL="WARNING",
            GATEWAY_MAX_CONNECTIONS="0",
        )
        self.python: GatewayProcess | None = None
        self.node: subprocess.Popen[bytes] | None = None
        if kind == "python":
            self.python = GatewayProcess(env, workdir)
            self.port = self.python.port
        else:
            self.env = {**os.environ, **env, "GATEWAY_PORT": str(self.port)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        process = self.python.process if self.python is not None else self.node
        assert process is not None
        return process.pid

    def launch_node(self) -> bytes:
        self.node = subprocess.Popen(
            ["node", str(NODE_DIR / "reference.mjs")],
            env=self.env, stdout=subprocess.PIPE, cwd=ROOT,
        )
        assert self.node.stdout is not None
        return self.node.stdout.readline()

    async def start(self) -> "Server":
        if self.python is not None:
            await self.python.start().started()
        else:
            line = await asyncio.to_thread(self.launch_node)
            assert line.strip() == b"ready", line
        return self

    def stop(self) -> None:
        if self.python is not None:
            self.python.kill()
        elif self.node is not None and self.node.poll() is None:
            self.node.kill()
            self.node.wait(10)


@dataclass
class ClientGroup:
    """Load-generator processes holding `count` connections between them."""

    server: Server
    count: int
    department: str
    processes: int
    first_user: int = 0
    children: list[asyncio.subprocess.Process] = field(default_factory=list)
    retries: int = 0

    async def start(self) -> "ClientGroup":
        per_process = self.count // self.processes
        for index in range(self.processes):
            child = await asyncio.create_subprocess_exec(
                "node", str(NODE_DIR / "clients.mjs"), self.server.url, NAMESPACE, SECRET,
                str(self.first_user + index * per_process), str(per_process), self.department,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
                limit=64 * 1024 * 1024,
            )
            self.children.append(child)
        for child in self.children:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 120)
            answer = json.loads(line)
            assert answer.get("connected") == per_process, line
            self.retries += answer.get("retries", 0)
        if self.retries:
            print(json.dumps({"server": self.server.kind, "group": self.department,
                              "connect_retries": self.retries}), flush=True)
        return self

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(child.pid) for child in self.children)

    async def report(self) -> tuple[int, list[float]]:
        received, latencies = 0, []
        for child in self.children:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(b"report\n")
            await child.stdin.drain()
            answer = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
            received += answer["received"]
            latencies.extend(answer["latencies_ms"])
        return received, latencies

    async def wait_quiet(self, expected: int, deadline: float) -> tuple[int, list[float]]:
        """Reports until `expected` messages arrived or the deadline passed."""
        received, latencies = 0, []
        while True:
            count, more = await self.report()
            received += count
            latencies.extend(more)
            if received >= expected or time.monotonic() > deadline:
                return received, latencies
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        await quit_children(self.children)


async def paced(queue: Queue, rate: float, seconds: float, job: Any) -> int:
    """Adds `rate` jobs/s for `seconds` in ticks of 10 ms; returns how many were added."""
    added = 0
    started = time.monotonic()
    tick = 0
    while (now := time.monotonic()) < started + seconds:
        due = int((now - started) * rate) - added
        if due > 0:
            sent_at = time.time() * 1000
            await queue.addBulk([job(added + n, sent_at) for n in range(due)])
            added += due
        tick += 1
        await asyncio.sleep(max(0.0, started + tick * TICK - time.monotonic()))
    return added


def step_result(
    server: Server, cpu: float, load_cpu: float, wall: float, sent: int, received: int,
    fanout: int, latencies: list[float],
) -> dict[str, Any]:
    expected = sent * fanout
    return {
        "jobs": sent,
        "delivered": received,
        "delivered_per_s": round(received / wall),
        "server_cpu_us_per_delivered": round(cpu * 1e6 / max(received, 1), 1),
        "server_cpu_us_per_job": round(cpu * 1e6 / max(sent, 1), 1),
        "server_cpu_percent": round(100 * cpu / wall),
        "load_cpu_percent": round(100 * load_cpu / wall),
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "saturated": received < 0.95 * expected,
    }


async def ramp(
    server: Server, clients: ClientGroup, queue: Queue, rates: list[float], seconds: float,
    fanout: int, job: Any,
) -> list[dict[str, Any]]:
    rows = []
    for rate in rates:
        await clients.report()  # forget anything earlier
        cpu0, load0, t0 = cpu_seconds(server.pid), clients.cpu_seconds(), time.monotonic()
        sent = await paced(queue, rate, seconds, job)
        received, latencies = await clients.wait_quiet(sent * fanout, time.monotonic() + 2.0)
        wall = time.monotonic() - t0
        row = step_result(
            server, cpu_seconds(server.pid) - cpu0, clients.cpu_seconds() - load0, wall,
            sent, received, fanout, latencies,
        )
        rows.append({"rate_jobs_per_s": rate, **row})
        print(json.dumps({"server": server.kind, **rows[-1]}), flush=True)
        await drain(queue, clients)
        if row["saturated"]:
            break
    return rows


async def drain(queue: Queue, clients: ClientGroup) -> None:
    """Until the server has finished every job and nothing more arrives for 0.5 s."""
    while True:
        counts = await queue.getJobCounts("wait", "active", "delayed")
        if not any(counts.values()):
            break
        await asyncio.sleep(0.2)
    while True:
        await asyncio.sleep(0.5)
        received, _ = await clients.report()
        if not received:
            return


async def measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"server": kind}
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        client = Redis.from_url(redis.url, decode_responses=True)
        critical = Queue("critical-events", {"connection": client})
        general = Queue("general-events", {"connection": client})
        server = await Server(kind, redis.url, Path(tmp)).start()
        try:
            if "idle" in args.scenarios:
                results["idle"] = await idle_memory(server, args)

            clients = await ClientGroup(server, args.clients, "F", args.processes).start()

            def fan_job(n: int, sent_at: float) -> dict[str, Any]:
                return {"name": "records:updated", "data": {
                    "namespace": NAMESPACE, "rooms": ["department:F"], "id": f"f{n}",
                    "data": {"sent_at": sent_at, "status": "ready", "ref": "R-1"}}}

            if "fanout" in args.scenarios:
                results["fanout"] = await ramp(server, clients, critical, args.fanout_rates,
                                               args.seconds, args.clients, fan_job)

            def uni_job(n: int, sent_at: float) -> dict[str, Any]:
                return {"name": "records:updated", "data": {
                    "namespace": NAMESPACE, "rooms": [f"user:u{n % args.clients}"],
                    "id": f"u{n}", "data": {"sent_at": sent_at, "status": "ready"}}}

            if "unicast" in args.scenarios:
                results["unicast"] = await ramp(server, clients, critical, args.unicast_rates,
                                                args.seconds, 1, uni_job)
            if "isolation" in args.scenarios:
                results["isolation"] = await isolation(server, clients, critical, general, args,
                                                       uni_job)
            await clients.close()
        finally:
            server.stop()
            await critical.close()
            await general.close()
            await client.aclose()
            redis.stop()
    return results


async def idle_memory(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    await asyncio.sleep(1.0)  # settle after start-up before reading RSS
    rss0 = rss_bytes(server.pid)
    idle = await ClientGroup(server, args.idle, "IDLE", args.processes,
                             first_user=100_000).start()
    await asyncio.sleep(2.0)
    rss1 = rss_bytes(server.pid)
    result = {
        "connections": args.idle,
        "rss_before_mb": round(rss0 / 2**20, 1),
        "rss_after_mb": round(rss1 / 2**20, 1),
        "rss_per_connection_kb": round((rss1 - rss0) / args.idle / 1024, 1),
    }
    print(json.dumps({"server": server.kind, "idle": result}), flush=True)
    await idle.close()
    return result


async def isolation(
    server: Server, clients: ClientGroup, critical: Queue, general: Queue,
    args: argparse.Namespace, job: Any,
) -> dict[str, Any]:
    async def critical_p99() -> tuple[float, int]:
        await clients.report()
        sent = await paced(critical, 50, args.seconds, job)
        received, latencies = await clients.wait_quiet(sent, time.monotonic() + 5.0)
        return percentile(latencies, 0.99), received

    idle_p99, _ = await critical_p99()
    flood = [{"name": "resources:created", "data": {
        "namespace": NAMESPACE, "rooms": ["user:nobody"], "id": f"g{n}"}}
        for n in range(args.flood)]
    for start in range(0, len(flood), 1000):
        await general.addBulk(flood[start:start + 1000])
    flood_p99, _ = await critical_p99()
    left = (await general.getJobCounts("wait"))["wait"]
    result = {"critical_p99_idle_ms": round(idle_p99, 2),
              "critical_p99_flood_ms": round(flood_p99, 2),
              "ratio": round(flood_p99 / idle_p99, 2),
              "flood_jobs_still_waiting_after": left}
    print(json.dumps({"server": server.kind, "isolation": result}), flush=True)
    return result


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Python/Node per scenario. CPU ratios are taken rate by rate, at the rates where
    neither server saturated, and their median reported: a median over each server's
    own unsaturated rows would compare different rates once one saturates earlier
    (CPU per job falls as the rate rises: fixed costs spread over more jobs)."""
    by = {result["server"]: result for result in results}

    def best(kind: str, key: str) -> float:
        return max(row["delivered_per_s"] for row in by[kind][key])

    def ratios(key: str, field_name: str) -> dict[str, float]:
        rows = {kind: {row["rate_jobs_per_s"]: row for row in by[kind][key]}
                for kind in ("python", "node")}
        common = sorted(
            rate for rate, row in rows["python"].items()
            if rate in rows["node"] and not row["saturated"]
            and not rows["node"][rate]["saturated"]
        )
        return {str(rate): round(rows["python"][rate][field_name]
                                 / rows["node"][rate][field_name], 2) for rate in common}

    out: dict[str, Any] = {}
    for name, key, field_name in (
        ("fanout_cpu_us_per_delivered", "fanout", "server_cpu_us_per_delivered"),
        ("unicast_cpu_us_per_job", "unicast", "server_cpu_us_per_job"),
    ):
        by_rate = ratios(key, field_name)
        out[name] = {"python_over_node_by_rate": by_rate,
                     "median": statistics.median(by_rate.values()) if by_rate else None}
    for name, key in (("fanout_max_delivered_per_s", "fanout"),
                      ("unicast_max_jobs_per_s", "unicast")):
        out[name] = {"python": best("python", key), "node": best("node", key)}
    out["idle_rss_per_connection_kb"] = {
        kind: by[kind]["idle"]["rss_per_connection_kb"] for kind in by}
    out["isolation_flood_over_idle_p99"] = {
        kind: by[kind]["isolation"]["ratio"] for kind in by}
    return out


async def main(args: argparse.Namespace) -> None:
    if not (NODE_DIR / "node_modules").is_dir():
        sys.exit("bench/node has no node_modules: run `npm ci --prefix bench/node` first")
    results = [await measure(kind, args) for kind in args.servers]
    if {"python", "node"} <= set(args.servers) and set(SCENARIOS) <= set(args.scenarios):
        print(json.dumps({"summary": summary(results)}), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1))  # noqa: ASYNC240


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", nargs="+", default=["python", "node"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fanout-rates", type=float, nargs="+", default=[2, 5, 10, 20, 40, 80])
    parser.add_argument("--unicast-rates", type=float, nargs="+",
                        default=[100, 200, 400, 800, 1600])
    parser.add_argument("--flood", type=int, default=10_000)
    parser.add_argument("--output", help="also write the raw results to this JSON file")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS),
                        help="run only these (the summary needs all of them)")
    parser.add_argument("--quick", action="store_true")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.clients, parsed.idle, parsed.processes, parsed.seconds = 200, 400, 2, 2.0
        parsed.fanout_rates, parsed.unicast_rates, parsed.flood = [5, 20], [100, 400], 2000
    asyncio.run(main(parsed))
