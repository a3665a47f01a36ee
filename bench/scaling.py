"""Scaling pods: gateway CPU per job summed over P pods, per-room routing against one channel.

One run, for each topology (a standalone `redis-server`, and a real Redis Cluster of 3
masters and 3 replicas from `tests/support/redis_cluster.py`), each P in 1, 2, 4 and each
adapter routing (`GATEWAY_ADAPTER_ROUTING=channel`: one pub/sub channel, every pod
receives every notification; `room`: a sharded channel per room, a pod receives only the
rooms it holds):

- P `python -m gateway` pods (GATEWAY_ROLE=all, the one queue `critical-events`), started
  afresh for the cell, on the topology's Redis (emptied between cells);
- `--clients` socket.io-client connections per pod (`bench/node/scaling_clients.mjs`, one
  Node process per pod), each user `u<n>` in its own user room (JWT `sub`), connected
  straight to its pod;
- a warm-up, then an idle window (no jobs: each pod's own background CPU), then the
  measured window: `--rate` unicast jobs/s for `--duration` s, each to one user drawn at
  random among all P x clients, added by this process (Python bullmq, one `add` per job,
  those due sent together every 10 ms) on the same queue every pod consumes.

Reported per cell: gateway CPU per job summed over the P pods (utime + stime from
/proc/<pid>/stat, from the first add to the last expected arrival), its ratio to the
same routing's P=1 on the same topology, Redis CPU per job (every node of the cluster,
replicas included; by command from INFO commandstats in the JSON), the delivery check
(every job reached its user exactly once: no loss, no duplicate, none to another
client), the idle window's CPU, and how busy the whole machine was (it is shared).

Controls: a pod's CPU per job depends on its own job rate (fixed costs per wake-up of its
loop and its Redis reads are shared by fewer jobs at a lower rate), and with P pods each
holds rate/P. So after each P of `--controls` (4) the bench runs one pod alone at rate/P
(`1 (rate/P)` in the table): P pods summed over that control is what the P pods cost
beyond P independent pods each with its share of the jobs.

Bystanders: one `all` pod whose clients every job is for, beside `--bystanders` (3)
`GATEWAY_ROLE=edge` pods holding as many clients that no job is for. An edge pod's CPU
per job is then only what a pod pays for the notifications of rooms it doesn't hold:
the routing's own cost per extra pod, free of the consumers' share and rate.

    .venv/bin/python bench/scaling.py --out /tmp/scaling.json               # ~10 minutes
    .venv/bin/python bench/scaling.py --topologies standalone --routings channel \
        --clients 100 --duration 5                                           # a smoke test

Results: docs/performance.md, "Scaling pods: per-room routing against one channel".
"""

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bullmq import Queue  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from redis.asyncio.cluster import RedisCluster as AsyncCluster  # noqa: E402

from bench.compare import cpu_seconds, quit_children  # noqa: E402
from tests.support.gateway import GatewayProcess, base_env  # noqa: E402
from tests.support.redis_cluster import RedisCluster  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402
from tests.support.tokens import SECRET  # noqa: E402

CLIENTS_JS = ROOT / "bench" / "node" / "scaling_clients.mjs"
NAMESPACE = "/data_owner"
QUEUE = "critical-events"
# A hash tag, as a cluster requires; the same prefix on standalone keeps the cells alike.
PREFIX = "{app-main}"
TICK = 0.01
TOPOLOGIES = ("standalone", "cluster")
ROUTINGS = ("channel", "room")


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after}


class Backend:
    """The topology's Redis: started once per topology, emptied between cells."""

    def __init__(self, topology: str, workdir: Path) -> None:
        self.topology = topology
        self.standalone: RedisProcess | None = None
        self.cluster: RedisCluster | None = None
        if topology == "standalone":
            self.standalone = RedisProcess(workdir / "redis")
        else:
            self.cluster = RedisCluster(workdir / "cluster")

    def start(self) -> "Backend":
        if self.standalone is not None:
            self.standalone.start()
        elif self.cluster is not None:
            self.cluster.start()
        return self

    def pod_env(self) -> dict[str, str]:
        """What a pod is given to reach this Redis (on a cluster, no REDIS_URL at all:
        naming two Redis modes stops start-up)."""
        if self.standalone is not None:
            return base_env(self.standalone.url)
        assert self.cluster is not None
        env = base_env("")
        del env["REDIS_URL"]
        env["REDIS_CLUSTER_NODES"] = self.cluster.startup_nodes
        return env

    def client(self) -> "Redis | AsyncCluster":
        if self.standalone is not None:
            return Redis.from_url(self.standalone.url, decode_responses=True)
        assert self.cluster is not None
        return AsyncCluster(host="127.0.0.1", port=self.cluster.ports[0], decode_responses=True)

    def pids(self) -> dict[str, int]:
        nodes = (
            [self.standalone]
            if self.standalone is not None
            else (self.cluster.nodes if self.cluster is not None else [])
        )
        pids = {}
        for node in nodes:
            assert node is not None and node.process is not None
            pids[f"redis-{node.port}"] = node.process.pid
        return pids

    def master_names(self) -> list[str]:
        """The masters among `pids()` (the one server on standalone)."""
        if self.cluster is None:
            return list(self.pids())
        return [f"redis-{port}" for port in self.cluster.masters()]

    def commandstats(self) -> Counter[str]:
        """Redis' own CPU by command, summed over the nodes: `usec` of INFO commandstats
        (µs), and `calls` under `<command>:calls`."""
        clients = [self.standalone.client()] if self.standalone is not None else []
        if self.cluster is not None:
            clients = [self.cluster.client(node.port) for node in self.cluster.nodes]
        stats: Counter[str] = Counter()
        for client in clients:
            with client:
                info = cast(dict[str, dict[str, Any]], client.info("commandstats"))
                for name, values in info.items():
                    command = name.removeprefix("cmdstat_")
                    stats[command] += int(values["usec"])
                    stats[f"{command}:calls"] += int(values["calls"])
        return stats

    def flush(self) -> None:
        if self.standalone is not None:
            with self.standalone.client() as client:
                client.flushall()
        elif self.cluster is not None:
            self.cluster.flushall()

    def stop(self) -> None:
        if self.standalone is not None:
            self.standalone.stop()
        if self.cluster is not None:
            self.cluster.stop()


@dataclass
class Cell:
    """Pods on one routing (one per role: `all` pods first, then any `edge` bystanders),
    with their clients: started, measured, stopped."""

    backend: Backend
    routing: str
    roles: tuple[str, ...]
    clients: int
    workdir: Path
    gateways: list[GatewayProcess] = field(default_factory=list)
    children: list[asyncio.subprocess.Process] = field(default_factory=list)
    retries: int = 0

    @property
    def pods(self) -> int:
        return len(self.roles)

    @property
    def targets(self) -> int:
        """Users jobs go to: those of the `all` pods (the first ones)."""
        return self.clients * self.roles.count("all")

    async def start(self) -> "Cell":
        for role in self.roles:
            env = {
                **self.backend.pod_env(),
                "GATEWAY_ROLE": role,
                "GATEWAY_ADAPTER_ROUTING": self.routing,
                "GATEWAY_NAMESPACES": NAMESPACE,
                "GATEWAY_QUEUES": f"{QUEUE}=32",
                "QUEUE_PREFIX": PREFIX,
                "THROTTLE_RULES": "",
                "LOG_LEVEL": "WARNING",
                "GATEWAY_MAX_CONNECTIONS": "0",
            }
            gateway = GatewayProcess(env, self.workdir)
            if "REDIS_URL" not in env:
                gateway.env.pop("REDIS_URL", None)  # inherited from this shell, if at all
            self.gateways.append(gateway.start())
        await asyncio.gather(*(gateway.started(30.0) for gateway in self.gateways))
        for index, gateway in enumerate(self.gateways):
            child = await asyncio.create_subprocess_exec(
                "node",
                str(CLIENTS_JS),
                gateway.url,
                NAMESPACE,
                SECRET,
                str(index * self.clients),
                str(self.clients),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
                limit=64 * 1024 * 1024,
            )
            self.children.append(child)
        for child in self.children:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 120)
            answer = json.loads(line)
            assert answer.get("connected") == self.clients, line
            self.retries += answer.get("retries", 0)
        return self

    def pod_pids(self) -> dict[str, int]:
        pids = {}
        for index, gateway in enumerate(self.gateways):
            assert gateway.process is not None
            pids[f"pod-{index}"] = gateway.process.pid
        return pids

    def client_pids(self) -> dict[str, int]:
        return {f"clients-{index}": child.pid for index, child in enumerate(self.children)}

    async def report(self) -> tuple[list[tuple[int, int]], int]:
        """What every client received since the last report: ([(user, job)], others)."""
        got: list[tuple[int, int]] = []
        other = 0
        for child in self.children:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(b"report\n")
            await child.stdin.drain()
            answer = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
            got.extend((user, job) for user, job in answer["got"])
            other += answer["other"]
        return got, other

    async def stop(self) -> None:
        await quit_children(self.children)
        for gateway in self.gateways:
            if gateway.process is not None and gateway.process.poll() is None:
                gateway.signal_term()
        for gateway in self.gateways:
            try:
                await gateway.exit_code(15.0)
            except AssertionError:
                gateway.kill()


class Producer:
    """Unicast jobs at a fixed rate, each to a random user; remembers whom each was for."""

    def __init__(self, queue: Queue, users: int, seed: int) -> None:
        self.queue = queue
        self.users = users
        self.random = random.Random(seed)
        self.target: dict[int, int] = {}  # job number -> user number
        self.next = 0

    def job(self, tag: str) -> dict[str, Any]:
        number, user = self.next, self.random.randrange(self.users)
        self.next += 1
        self.target[number] = user
        return {
            "name": "records:updated",
            "data": {
                "namespace": NAMESPACE,
                "rooms": [f"user:u{user}"],
                "id": f"{tag}-{number}",
                "data": {"job": number, "sent_at": time.time() * 1000, "status": "ready"},
            },
        }

    async def paced(self, rate: float, seconds: float, tag: str) -> range:
        """`rate` jobs/s for `seconds`, in ticks of 10 ms; the job numbers added."""
        first = self.next
        started = time.monotonic()
        tick = 0
        while (now := time.monotonic()) < started + seconds:
            due = int((now - started) * rate) - (self.next - first)
            if due > 0:
                # One `add` per job, concurrently: bullmq's addBulk is a pipelined EVALSHA,
                # which redis-py refuses on a cluster; the same on both topologies.
                jobs = [self.job(tag) for _ in range(due)]
                await asyncio.gather(*(self.queue.add(j["name"], j["data"]) for j in jobs))
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * TICK - time.monotonic()))
        return range(first, self.next)


async def collect(
    cell: Cell,
    jobs: range,
    deadline: float,
    got: list[tuple[int, int]],
) -> tuple[float, int]:
    """Reports until every job of `jobs` arrived somewhere (or the deadline): the moment
    the last one was seen, and other events. Appends what arrived to `got`."""
    seen: set[int] = set()
    other = 0
    while True:
        more, others = await cell.report()
        got.extend(more)
        other += others
        seen.update(job for _, job in more if job in jobs)
        if len(seen) >= len(jobs) or time.monotonic() > deadline:
            return time.monotonic(), other
        await asyncio.sleep(0.1)


async def quiet(cell: Cell, got: list[tuple[int, int]], seconds: float = 0.5) -> int:
    """Reports until nothing arrived for `seconds` (late duplicates included); others."""
    other = 0
    while True:
        await asyncio.sleep(seconds)
        more, others = await cell.report()
        got.extend(more)
        other += others
        if not more and not others:
            return other


def check(producer: Producer, jobs: range, got: list[tuple[int, int]]) -> dict[str, int]:
    """Exactly once to the right client: counts of each kind of departure from it."""
    to_right = Counter(job for user, job in got if job in jobs and producer.target[job] == user)
    wrong = sum(1 for user, job in got if job in jobs and producer.target[job] != user)
    return {
        "expected": len(jobs),
        "delivered": len(to_right),
        "duplicates": sum(count - 1 for count in to_right.values()),
        "to_another_client": wrong,
        "missing": len(jobs) - len(to_right),
    }


@dataclass
class Window:
    """One measured window's CPU (per process), wall time and the whole machine's load."""

    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # percent of all cores, every process on the machine
    redis_commands: Counter[str] = field(default_factory=Counter)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores so far, from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


async def measure_window(
    cell: Cell, producer: Producer, rate: float, args: argparse.Namespace, tag: str
) -> tuple[range, list[tuple[int, int]], int, Window]:
    """From the first add to the last expected arrival: the jobs, what arrived, other
    events, and the window."""
    pids = {**cell.pod_pids(), **cell.backend.pids(), **cell.client_pids()}
    got: list[tuple[int, int]] = []
    stats0 = cell.backend.commandstats()
    busy0, total0 = machine_ticks()
    cpu0, t0 = cpu_of(pids), time.monotonic()
    jobs = await producer.paced(rate, args.duration, tag)
    t1, other = await collect(cell, jobs, time.monotonic() + args.grace, got)
    window = Window(wall=t1 - t0, cpu=delta(cpu_of(pids), cpu0))
    busy1, total1 = machine_ticks()
    window.machine_busy = 100 * (busy1 - busy0) / max(total1 - total0, 1)
    window.redis_commands = cell.backend.commandstats()
    window.redis_commands.subtract(stats0)
    other += await quiet(cell, got)
    return jobs, got, other, window


async def measure_cell(
    backend: Backend,
    routing: str,
    roles: tuple[str, ...],
    rate: float,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """One cell: fresh pods and their clients, a warm-up, an idle window, the window."""
    backend.flush()
    began = time.monotonic()
    cell = Cell(backend, routing, roles, args.clients, workdir)
    pods = cell.pods
    connection = backend.client()
    if isinstance(connection, AsyncCluster):
        await connection.initialize()
    queue = Queue(QUEUE, {"connection": connection, "prefix": PREFIX})
    producer = Producer(queue, cell.targets, seed=pods)
    tag = f"{backend.topology}-{routing}-{'-'.join(roles)}-{rate:g}"
    try:
        await cell.start()
        # Warm-up: every pod's worker, adapter and subscriptions in use before measuring.
        warm = await producer.paced(rate, args.warmup, tag)
        warm_got: list[tuple[int, int]] = []
        await collect(cell, warm, time.monotonic() + args.grace, warm_got)
        await quiet(cell, warm_got)
        # Idle: no jobs; the pods' own background work (timers, pings, blocking reads).
        pids = {**cell.pod_pids(), **backend.pids()}
        idle0, idle_t0 = cpu_of(pids), time.monotonic()
        await asyncio.sleep(args.idle)
        idle = Window(wall=time.monotonic() - idle_t0, cpu=delta(cpu_of(pids), idle0))
        jobs, got, other, window = await measure_window(cell, producer, rate, args, tag)
        delivery = {
            **check(producer, jobs, got),
            "other_events": other,
            "warmup_missing": check(producer, warm, warm_got)["missing"],
        }
        row = result_row(cell, rate, len(jobs), window, idle, delivery)
        row["kind"] = (
            "bystanders" if "edge" in roles else "control" if rate != args.rate else "scaling"
        )
        row["cell_seconds"] = round(time.monotonic() - began, 1)
        return row
    except BaseException:
        for gateway in cell.gateways:
            print(f"--- {gateway.url}\n{gateway.log()}", file=sys.stderr)
        raise
    finally:
        await cell.stop()
        await queue.close()
        await connection.aclose()


def per_job(stats: Counter[str], jobs: int) -> dict[str, dict[str, float]]:
    """Redis' commands in the window, per job: calls and µs of Redis CPU, by command, the
    costliest first (those under 1 µs per job left out). Commands a script runs are
    counted twice: under `evalsha` (whose time includes them) and under their own names."""
    commands = [name for name in stats if ":" not in name and stats[name] >= jobs]
    commands.sort(key=lambda name: -stats[name])
    return {
        name: {
            "calls": round(stats[f"{name}:calls"] / max(jobs, 1), 2),
            "us": round(stats[name] / max(jobs, 1), 1),
        }
        for name in commands
    }


def result_row(
    cell: Cell, rate: float, jobs: int, window: Window, idle: Window, delivery: dict[str, int]
) -> dict[str, Any]:
    sent = max(jobs, 1)
    pods, redis = cell.pod_pids(), cell.backend.pids()
    gateway = sum(window.cpu[name] for name in pods)
    clients = sum(window.cpu[name] for name in cell.client_pids())
    edges = [name for name, role in zip(pods, cell.roles, strict=True) if role == "edge"]
    edge = sum(window.cpu[name] for name in edges) / max(len(edges), 1)
    return {
        "topology": cell.backend.topology,
        "routing": cell.routing,
        "pods": cell.roles.count("all"),
        "edge_pods": len(edges),
        "edge_cpu_us_per_job_each": round(edge * 1e6 / sent, 1) if edges else None,
        "clients_per_pod": cell.clients,
        "rate": rate,
        "jobs": jobs,
        "window_s": round(window.wall, 2),
        "jobs_per_s": round(jobs / window.wall, 1),
        "gateway_cpu_ms_per_job": round(gateway * 1e3 / sent, 3),
        "gateway_cpu_ms_per_job_by_pod": {
            name: round(window.cpu[name] * 1e3 / sent, 3) for name in pods
        },
        "gateway_cpu_percent": round(100 * gateway / window.wall, 1),
        "gateway_idle_cpu_ms_per_s": round(
            sum(idle.cpu[name] for name in pods) * 1e3 / idle.wall, 1
        ),
        "redis_cpu_us_per_job": round(sum(window.cpu[name] for name in redis) * 1e6 / sent, 1),
        "redis_masters_cpu_us_per_job": round(
            sum(window.cpu[name] for name in cell.backend.master_names()) * 1e6 / sent, 1
        ),
        "redis_idle_cpu_ms_per_s": round(
            sum(idle.cpu[name] for name in redis) * 1e3 / idle.wall, 1
        ),
        "redis_by_command_per_job": per_job(window.redis_commands, jobs),
        "clients_cpu_percent": round(100 * clients / window.wall, 1),
        "machine_busy_percent": round(window.machine_busy, 1),
        **delivery,
        "exactly_once": delivery["delivered"] == delivery["expected"]
        and not delivery["duplicates"]
        and not delivery["to_another_client"],
        "connect_retries": cell.retries,
    }


def add_ratios(rows: list[dict[str, Any]], rate: float) -> None:
    """Each row's gateway CPU per job over its (topology, routing)'s P=1 row at the full
    rate (`ratio_to_p1`), and, for P > 1, over one pod at the rate each of the P pods
    holds (`ratio_to_one_pod_at_rate_over_p`): what P pods cost beyond P pods' share of
    the jobs, each alone."""

    def cpu(row: dict[str, Any]) -> float:
        return float(row["gateway_cpu_ms_per_job"])

    measured = [row for row in rows if row["kind"] != "bystanders"]
    single = {
        (row["topology"], row["routing"], row["rate"]): cpu(row)
        for row in measured
        if row["pods"] == 1
    }
    for row in measured:
        base = single.get((row["topology"], row["routing"], rate))
        row["ratio_to_p1"] = round(cpu(row) / base, 2) if base else None
        alone = single.get((row["topology"], row["routing"], rate / row["pods"]))
        control = round(cpu(row) / alone, 2) if alone and row["pods"] > 1 else None
        row["ratio_to_one_pod_at_rate_over_p"] = control


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def delivered(row: dict[str, Any]) -> str:
    flag = (
        ""
        if row["exactly_once"]
        else f" (dup {row['duplicates']}, wrong {row['to_another_client']})"
    )
    return f"{row['delivered']}/{row['expected']}{flag}"


def table(rows: list[dict[str, Any]], rate: float) -> str:
    """The rows by topology, routing and P, each control (one pod at rate/P, its P shown
    as `1 (rate/P)`) after the P it belongs to."""
    lines = [
        "| topology | routing | P | jobs/s | gateway CPU ms/job (sum) | ratio to P=1 |"
        " ratio to 1 pod at rate/P | Redis CPU µs/job | delivered/expected | machine busy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def group(row: dict[str, Any]) -> int:
        return round(int(row["pods"]) * rate / float(row["rate"]))

    def order(row: dict[str, Any]) -> tuple[int, int, int, int]:
        topology, routing = TOPOLOGIES.index(row["topology"]), ROUTINGS.index(row["routing"])
        return topology, routing, group(row), -row["pods"]

    for row in sorted((row for row in rows if row["kind"] != "bystanders"), key=order):
        pods = str(row["pods"]) if row["rate"] == rate else f"1 (rate/{group(row)})"
        lines.append(
            f"| {row['topology']} | {row['routing']} | {pods} | {row['jobs_per_s']} |"
            f" {row['gateway_cpu_ms_per_job']:.3f} | {ratio(row['ratio_to_p1'])} |"
            f" {ratio(row['ratio_to_one_pod_at_rate_over_p'])} |"
            f" {row['redis_cpu_us_per_job']:.0f} | {delivered(row)} |"
            f" {row['machine_busy_percent']:.0f}% |"
        )
    return "\n".join(lines)


def bystander_table(rows: list[dict[str, Any]]) -> str:
    """One `all` pod takes every job for its own clients; `edge` pods hold clients no job
    is for: their CPU per job is what a pod pays for others' notifications."""
    lines = [
        "| topology | routing | edge pods | jobs/s | the all pod's CPU ms/job |"
        " each edge pod's CPU µs/job | delivered/expected | machine busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in (row for row in rows if row["kind"] == "bystanders"):
        lines.append(
            f"| {row['topology']} | {row['routing']} | {row['edge_pods']} | {row['jobs_per_s']} |"
            f" {row['gateway_cpu_ms_per_job_by_pod']['pod-0']:.3f} |"
            f" {row['edge_cpu_us_per_job_each']:.0f} | {delivered(row)} |"
            f" {row['machine_busy_percent']:.0f}% |"
        )
    return "\n".join(lines)


async def run_topology(topology: str, args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Every cell of one topology on one Redis. Routings alternate within each P, and each
    P of --controls is followed by its control (one pod at rate/P), so the machine's drift
    hits what is compared alike; then the bystander cells, routings alternating."""
    with tempfile.TemporaryDirectory() as tmp:
        backend = Backend(topology, Path(tmp)).start()
        cells: list[tuple[str, tuple[str, ...], float]] = []
        for pods in args.pods:
            for routing in args.routings:
                cells.append((routing, ("all",) * pods, args.rate))
                if pods > 1 and pods in args.controls:
                    cells.append((routing, ("all",), args.rate / pods))
        if args.bystanders:
            for routing in args.routings:
                cells.append((routing, ("all",) + ("edge",) * args.bystanders, args.rate))
        try:
            for routing, roles, rate in cells:
                row = await measure_cell(backend, routing, roles, rate, args, Path(tmp))
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            backend.stop()


async def main(args: argparse.Namespace) -> None:
    if shutil.which("node") is None:
        sys.exit("node is needed for the clients")
    rows: list[dict[str, Any]] = []
    began = time.monotonic()
    for topology in args.topologies:
        await run_topology(topology, args, rows)
    add_ratios(rows, args.rate)
    print(table(rows, args.rate), flush=True)
    if args.bystanders:
        print(bystander_table(rows), flush=True)
    print(f"whole run: {time.monotonic() - began:.0f} s", flush=True)
    if args.out:
        write(Path(args.out), args, rows)


def tree() -> dict[str, Any]:
    """The code measured: the commit and the files changed in the work tree beside it."""

    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout

    return {
        "head": git("rev-parse", "HEAD").strip(),
        "changed": git("status", "--short").split("\n")[:-1],
    }


def write(path: Path, args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    arguments = {key: value for key, value in vars(args).items() if key != "out"}
    document = {
        "arguments": arguments,
        "tree": tree(),
        "rows": rows,
        "table": table(rows, args.rate),
    }
    path.write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topologies", nargs="+", choices=TOPOLOGIES, default=list(TOPOLOGIES))
    parser.add_argument("--routings", nargs="+", choices=ROUTINGS, default=list(ROUTINGS))
    parser.add_argument("--pods", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=1000, help="per pod")
    parser.add_argument("--rate", type=float, default=150.0, help="unicast jobs per second")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of jobs before")
    parser.add_argument("--idle", type=float, default=2.0, help="idle seconds measured before")
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds after the last add for the last arrivals"
    )
    parser.add_argument(
        "--controls",
        nargs="*",
        type=int,
        default=[4],
        help="after these P, one pod alone at rate/P (none: no controls)",
    )
    parser.add_argument(
        "--bystanders",
        type=int,
        default=3,
        help="edge pods beside one all pod in the bystander cells (0: none)",
    )
    parser.add_argument("--out", help="write the rows and the table to this JSON file")
    asyncio.run(main(parser.parse_args()))
