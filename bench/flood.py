"""Critical events during a flood of batch jobs: Node's stack and ours, side by side in one run.

The scenario: 200 socket.io-client websocket clients (`bench/node/flood_clients.mjs`),
`system:alert` jobs at 50/s on `critical-events`, each to one client's user room; after
an idle phase, 10,000 `resources:created` jobs are added to `general-events` (each to one
client's user room too, so the flood is delivered, not dropped) while the alerts go on;
three such rounds. Per setup:

- critical p50/p99 idle, and during the flood (alerts sent between the first flood job's
  add and the last flood message's arrival; the idle phases come before each round), the
  p99 ratio, and the p99 after the dump
  (alerts sent once the last flood job was added: the backlog draining, no producer);
- the drain rate: flood messages delivered per second, from the first flood job's add
  to the last arrival; and the CPU seconds each process used over the flood rounds.

Setups (each on its own redis-server, one after another):

- `node`: `bench/node/reference.mjs` (socket.io 4.8 + redis-adapter + BullMQ), one
  process, `critical-events=32,general-events=8`; `node-32`: the batch queue at 32;
- `pod`: one `python -m gateway` pod, both queues, with precedence (the defaults);
- `pod-fifo`: the same with `GATEWAY_QUEUE_MIN_SHARE=1` (no precedence);
  `pod-share-0.25`, `pod-share-0.5`: other shares;
- `edge+consumer`: the clients' pod consumes `critical-events` itself (role `all`), a
  `consumer` pod consumes `general-events` (at 8; `edge+consumer-32`: at 32);
- `edge+2consumers`: an `edge` pod holds the clients and consumes nothing; one `consumer`
  pod per queue.

The flood is added by a separate process in `addBulk` calls of `--batch` jobs (100: each
is a MULTI/EXEC during which Redis serves nobody else, about 45 ms for 1,000), so the
alerts' producer, in this process, is not held up by it. Latency is from just before
`Queue.add` to the arrival at the client, on the same machine clock. Results:
docs/performance.md, "Critical events during a flood".

    .venv/bin/python bench/flood.py --setups node pod pod-fifo edge+consumer edge+2consumers
    .venv/bin/python bench/flood.py                     # every setup, ~6 minutes
"""

import argparse
import asyncio
import json
import os
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

from bench.compare import cpu_seconds, percentile, quit_children  # noqa: E402
from tests.support.gateway import GatewayProcess, base_env  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402
from tests.support.tokens import SECRET  # noqa: E402

NODE_DIR = ROOT / "bench" / "node"
NAMESPACE = "/data_owner"
QUEUES = "critical-events=32,general-events=8"
TICK = 0.01

# Each pod: (environment overrides, holds the clients).
SETUPS: dict[str, list[tuple[dict[str, str], bool]]] = {
    "pod": [({}, True)],
    "pod-fifo": [({"GATEWAY_QUEUE_MIN_SHARE": "1"}, True)],
    "pod-share-0.25": [({"GATEWAY_QUEUE_MIN_SHARE": "0.25"}, True)],
    "pod-share-0.5": [({"GATEWAY_QUEUE_MIN_SHARE": "0.5"}, True)],
    "pod-linger-0": [({"GATEWAY_QUEUE_PRECEDENCE_LINGER_MS": "0"}, True)],
    "edge+consumer": [
        ({"GATEWAY_QUEUES": "critical-events=32"}, True),
        ({"GATEWAY_ROLE": "consumer", "GATEWAY_QUEUES": "general-events=8"}, False),
    ],
    "edge+consumer-32": [
        ({"GATEWAY_QUEUES": "critical-events=32"}, True),
        ({"GATEWAY_ROLE": "consumer", "GATEWAY_QUEUES": "general-events=32"}, False),
    ],
    "edge+2consumers": [
        ({"GATEWAY_ROLE": "edge"}, True),
        ({"GATEWAY_ROLE": "consumer", "GATEWAY_QUEUES": "critical-events=32"}, False),
        ({"GATEWAY_ROLE": "consumer", "GATEWAY_QUEUES": "general-events=8"}, False),
    ],
}
# Node's stack: the same queues, and with the batch queue at 32 too.
NODE_SETUPS = {"node": QUEUES, "node-32": "critical-events=32,general-events=32"}
ALL_SETUPS = (*NODE_SETUPS, *SETUPS)
# `pod@base` ...: the same setup with the pods run from another checkout (--baseline),
# so a change and its baseline are measured in one run, alternating.
BASELINE_SUFFIX = "@base"


class NodeServer:
    def __init__(self, redis_url: str, queues: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            **base_env(redis_url, GATEWAY_NAMESPACES=NAMESPACE, GATEWAY_QUEUES=queues),
            "GATEWAY_PORT": str(self.port),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _launch(self) -> bytes:
        self.process = subprocess.Popen(
            ["node", str(NODE_DIR / "reference.mjs")],
            env=self.env,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        return self.process.stdout.readline()

    async def start(self) -> None:
        line = await asyncio.to_thread(self._launch)
        assert line.strip() == b"ready", line

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class CheckoutGateway(GatewayProcess):
    """`python -m gateway` from the checkout at `code` (its own directory first on the path)."""

    def __init__(self, env: dict[str, str], log_dir: Path, code: Path) -> None:
        super().__init__(env, log_dir)
        self.code = code

    def start(self) -> "CheckoutGateway":
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway"],
                cwd=self.code,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self


@dataclass
class Setup:
    """The processes of one setup: which pids to measure, which URL the clients use."""

    name: str
    redis_url: str
    workdir: Path
    pods: list[GatewayProcess] = field(default_factory=list)
    node: NodeServer | None = None
    client_url: str = ""
    # Where the pods' code is: this checkout, or for `<setup>@base` the --baseline one.
    code: Path = ROOT

    @property
    def kind(self) -> str:
        return self.name.removesuffix(BASELINE_SUFFIX)

    async def start(self) -> "Setup":
        if self.name in NODE_SETUPS:
            self.node = NodeServer(self.redis_url, NODE_SETUPS[self.name])
            await self.node.start()
            self.client_url = self.node.url
            return self
        for overrides, holds_clients in SETUPS[self.kind]:
            env = base_env(
                self.redis_url,
                **{
                    "GATEWAY_NAMESPACES": NAMESPACE,
                    "GATEWAY_QUEUES": QUEUES,
                    "THROTTLE_RULES": "",
                    "LOG_LEVEL": "WARNING",
                    "GATEWAY_MAX_CONNECTIONS": "0",
                    **overrides,
                },
            )
            pod = CheckoutGateway(env, self.workdir, self.code).start()
            self.pods.append(pod)
            if holds_clients:
                self.client_url = pod.url
        await asyncio.gather(*(pod.started() for pod in self.pods))
        return self

    def pids(self) -> dict[str, int]:
        if self.node is not None:
            assert self.node.process is not None
            return {"node": self.node.process.pid}
        roles = [overrides.get("GATEWAY_ROLE", "all") for overrides, _ in SETUPS[self.kind]]
        pids = {}
        for index, (role, pod) in enumerate(zip(roles, self.pods, strict=True)):
            assert pod.process is not None
            pids[f"{role}-{index}"] = pod.process.pid
        return pids

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
        for pod in self.pods:
            pod.kill()


@dataclass
class Clients:
    url: str
    count: int
    processes: int
    children: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self) -> "Clients":
        per = self.count // self.processes
        for index in range(self.processes):
            child = await asyncio.create_subprocess_exec(
                "node",
                str(NODE_DIR / "flood_clients.mjs"),
                self.url,
                NAMESPACE,
                SECRET,
                str(index * per),
                str(per),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
                limit=64 * 1024 * 1024,
            )
            self.children.append(child)
        for child in self.children:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 120)
            assert json.loads(line).get("connected") == per, line
        return self

    async def report(self) -> tuple[list[list[float]], int, float]:
        alerts: list[list[float]] = []
        flood, last = 0, 0.0
        for child in self.children:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(b"report\n")
            await child.stdin.drain()
            answer = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
            alerts.extend(answer["alerts"])
            flood += answer["flood"]
            last = max(last, answer["flood_last_ms"])
        return alerts, flood, last

    async def close(self) -> None:
        await quit_children(self.children)


class Alerts:
    """`system:alert` at `rate`/s to the clients' user rooms, until stopped."""

    def __init__(self, queue: Queue, rate: float, clients: int) -> None:
        self.queue, self.rate, self.clients = queue, rate, clients
        self.sent = 0
        # (sent at, ms the add took) per addBulk: the producer's share of the latency,
        # which no consumer can shorten (Redis runs the flood's MULTI/EXEC meanwhile).
        self.adds: list[tuple[float, float]] = []

    async def run(self, seconds: float | None = None) -> None:
        started = time.monotonic()
        added, tick = 0, 0
        while seconds is None or time.monotonic() < started + seconds:
            due = int((time.monotonic() - started) * self.rate) - added
            if due > 0:
                sent_at = time.time() * 1000
                await self.queue.addBulk(
                    [
                        {
                            "name": "system:alert",
                            "data": {
                                "namespace": NAMESPACE,
                                "rooms": [f"user:u{(self.sent + n) % self.clients}"],
                                "id": f"a{self.sent + n}",
                                "data": {"sent_at": sent_at, "level": "high"},
                            },
                        }
                        for n in range(due)
                    ]
                )
                self.adds.append((sent_at, time.time() * 1000 - sent_at))
                added += due
                self.sent += due
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * TICK - time.monotonic()))


async def dump(redis_url: str, count: int, first: int, clients: int, batch: int) -> None:
    """The flood, from a process of its own: `count` jobs on general-events, `batch` per
    `addBulk`; prints the epoch ms just before the first one is added, and once the last
    one was."""
    queue = Queue("general-events", {"connection": redis_url})
    await queue.getJobCounts("wait")  # connected before the clock starts
    print(time.time() * 1000, flush=True)
    for start in range(first, first + count, batch):
        await queue.addBulk(
            [
                {
                    "name": "resources:created",
                    "data": {
                        "namespace": NAMESPACE,
                        "rooms": [f"user:u{n % clients}"],
                        "id": f"g{n}",
                        "data": {"batch": True},
                    },
                }
                for n in range(start, min(first + count, start + batch))
            ]
        )
    print(time.time() * 1000, flush=True)
    await queue.close()


async def quiet(clients: Clients, seconds: float = 0.6) -> tuple[list[list[float]], int]:
    """Reports until nothing arrived for `seconds`; what arrived meanwhile."""
    alerts: list[list[float]] = []
    flood = 0
    while True:
        await asyncio.sleep(seconds)
        more, count, _ = await clients.report()
        alerts.extend(more)
        flood += count
        if not more and not count:
            return alerts, flood


async def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        client = Redis.from_url(redis.url, decode_responses=True)
        critical = Queue("critical-events", {"connection": client})
        general = Queue("general-events", {"connection": client})
        setup = Setup(name, redis.url, Path(tmp))
        if name.endswith(BASELINE_SUFFIX):
            setup.code = Path(args.baseline)
        try:
            await setup.start()
            clients = await Clients(setup.client_url, args.clients, args.processes).start()
            alerts = Alerts(critical, args.rate, args.clients)
            await alerts.run(2.0)  # warm-up
            await quiet(clients)
            pids = {**setup.pids(), "redis": redis.process.pid}  # type: ignore[union-attr]
            cpu = dict.fromkeys(pids, 0.0)
            idle_ms: list[float] = []
            flood_alerts: list[float] = []
            drain_alerts: list[float] = []
            dump_alerts: list[float] = []
            idle_adds: list[float] = []
            flood_adds: list[float] = []
            # Latency from the alert's add having returned (the consumers' part).
            idle_after_add: list[float] = []
            flood_after_add: list[float] = []
            drains = []
            for round_ in range(args.rounds):
                # Idle before each flood, so both see the machine's noise of the moment.
                alerts.adds.clear()
                await alerts.run(args.seconds)
                idle, _ = await quiet(clients)
                idle_ms.extend(latency for _, latency in idle)
                idle_adds.extend(took for _, took in alerts.adds)
                took_by_sent = dict(alerts.adds)
                idle_after_add.extend(
                    latency - took_by_sent[sent] for sent, latency in idle if sent in took_by_sent
                )
                alerts.adds.clear()
                cpu0 = {key: cpu_seconds(pid) for key, pid in pids.items()}
                running = asyncio.create_task(alerts.run())
                dumper = await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "_dump",
                    redis.url,
                    str(args.flood),
                    str(round_ * args.flood),
                    str(args.clients),
                    str(args.batch),
                    cwd=ROOT,
                    stdout=asyncio.subprocess.PIPE,
                )
                assert dumper.stdout is not None
                # The flood begins with its first add (the dumper has started and connected).
                started_ms = float((await dumper.stdout.readline()).decode())
                seen, last, window = 0, 0.0, []
                deadline = time.monotonic() + args.timeout
                while seen < args.flood and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    more, count, last_ms = await clients.report()
                    window.extend(more)
                    seen += count
                    last = max(last, last_ms)
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
                dumped_ms = float((await dumper.stdout.read()).decode().strip())
                await dumper.wait()
                more, count = await quiet(clients)
                window.extend(more)
                seen += count
                flood_alerts.extend(
                    latency for sent, latency in window if started_ms <= sent <= last
                )
                drain_alerts.extend(
                    latency for sent, latency in window if dumped_ms <= sent <= last
                )
                dump_alerts.extend(
                    latency for sent, latency in window if started_ms <= sent < dumped_ms
                )
                flood_adds.extend(took for sent, took in alerts.adds if started_ms <= sent <= last)
                took_by_sent = dict(alerts.adds)
                flood_after_add.extend(
                    latency - took_by_sent[sent]
                    for sent, latency in window
                    if started_ms <= sent <= last and sent in took_by_sent
                )
                drains.append(
                    {
                        "delivered": seen,
                        "seconds": round((last - started_ms) / 1000, 2),
                        "dump_seconds": round((dumped_ms - started_ms) / 1000, 2),
                        "per_s": round(seen / max(1e-9, (last - started_ms) / 1000)),
                    }
                )
                for key, pid in pids.items():
                    cpu[key] += cpu_seconds(pid) - cpu0[key]
                print(json.dumps({"setup": name, "round": round_, **drains[-1]}), flush=True)
            result = {
                "setup": name,
                "alerts_idle": len(idle_ms),
                "alerts_flood": len(flood_alerts),
                "idle_p50_ms": round(percentile(idle_ms, 0.5), 2),
                "idle_p99_ms": round(percentile(idle_ms, 0.99), 2),
                "flood_p50_ms": round(percentile(flood_alerts, 0.5), 2),
                "flood_p99_ms": round(percentile(flood_alerts, 0.99), 2),
                "ratio_p99": round(percentile(flood_alerts, 0.99) / percentile(idle_ms, 0.99), 2),
                # After the last flood job was added: the backlog draining, no producer.
                "drain_p50_ms": round(percentile(drain_alerts, 0.5), 2),
                "drain_p99_ms": round(percentile(drain_alerts, 0.99), 2),
                # While the producer was adding the flood (its MULTI/EXECs).
                "alerts_dump": len(dump_alerts),
                "dump_p99_ms": round(percentile(dump_alerts, 0.99), 2),
                # How long the alerts' own `addBulk` took (part of every latency above).
                "add_p99_idle_ms": round(percentile(idle_adds, 0.99), 2),
                "add_p99_flood_ms": round(percentile(flood_adds, 0.99), 2),
                "after_add_p99_idle_ms": round(percentile(idle_after_add, 0.99), 2),
                "after_add_p99_flood_ms": round(percentile(flood_after_add, 0.99), 2),
                "drain_per_s": round(
                    sum(d["delivered"] for d in drains) / sum(d["seconds"] for d in drains)
                ),
                "flood_cpu_seconds": {key: round(seconds, 2) for key, seconds in cpu.items()},
                # The machine's 1-minute load at the end (other tenants included).
                "load_1m": os.getloadavg()[0],
            }
            print(json.dumps(result), flush=True)
            await clients.close()
            return result
        finally:
            setup.stop()
            await critical.close()
            await general.close()
            await client.aclose()
            redis.stop()


def table(results: list[dict[str, Any]]) -> str:
    node = next((r for r in results if r["setup"] in NODE_SETUPS), None)
    lines = [
        "| setup | critical p50 idle | p99 idle | p50 flood | p99 flood | p99 ratio |"
        " p99 during the dump | p99 after the dump | alert add p99 idle / flood |"
        " p99 from the add's return idle / flood | drain msg/s | drain vs Node |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        versus = f"{r['drain_per_s'] / node['drain_per_s']:.2f}" if node else "-"
        lines.append(
            f"| {r['setup']} | {r['idle_p50_ms']} ms | {r['idle_p99_ms']} ms |"
            f" {r['flood_p50_ms']} ms | {r['flood_p99_ms']} ms | {r['ratio_p99']} |"
            f" {r['dump_p99_ms']} ms | {r['drain_p99_ms']} ms |"
            f" {r['add_p99_idle_ms']} / {r['add_p99_flood_ms']} ms |"
            f" {r['after_add_p99_idle_ms']} / {r['after_add_p99_flood_ms']} ms |"
            f" {r['drain_per_s']:,} | {versus} |"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    if not (NODE_DIR / "node_modules").is_dir():
        sys.exit("bench/node has no node_modules: run `npm ci --prefix bench/node` first")
    if any(name.endswith(BASELINE_SUFFIX) for name in args.setups) and not args.baseline:
        sys.exit("a `<setup>@base` needs --baseline")
    results = [await measure(name, args) for name in args.setups]
    print(table(results), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1))  # noqa: ASYNC240


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_dump":
        url, count, first, clients, batch = sys.argv[2], *map(int, sys.argv[3:7])
        asyncio.run(dump(url, count, first, clients, batch))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--setups",
        nargs="+",
        choices=(*ALL_SETUPS, *(f"{name}{BASELINE_SUFFIX}" for name in SETUPS)),
        default=list(ALL_SETUPS),
        help="may repeat; `<setup>@base` runs the pods from the --baseline checkout",
    )
    parser.add_argument(
        "--baseline",
        help="another checkout of this repository (e.g. `git worktree add /tmp/base <commit>`)",
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="idle phase before each round")
    parser.add_argument("--flood", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--batch",
        type=int,
        default=100,
        help="flood jobs per addBulk (a MULTI/EXEC: Redis serves no one else"
        " meanwhile, about 45 ms for 1,000)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per flood round")
    parser.add_argument("--output", help="also write the results to this JSON file")
    asyncio.run(main(parser.parse_args()))
