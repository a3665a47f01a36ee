"""A mass reconnect: 1,000 clients of a pod that drains (SIGTERM) reconnect to the other
pod and recover; how long until every one has recovered, what Redis spent, and whether
anything was missed.

One redis-server, two `python -m gateway` pods (recovery on, the default 120 s) behind a
loopback TCP balancer (tests/support/balancer.py) that at first routes to pod A only;
1,000 stock socket.io-client connections (websocket only: the balancer has no sticky
sessions) of department A in one Node process (bench/node/recovery_clients.mjs); a
notification job to `department:A` every `--interval` seconds throughout. Then the
balancer routes to pod B only and pod A is SIGTERMed: it drains and closes every client
connection at once (GATEWAY_DISCONNECT_SPREAD_SECONDS=0 unless `--spread`), and the
clients reconnect to B after their own reconnection delay:

- stock:   socket.io-client's default delay (1 s ± 50%), so the reconnects come within
           about a second;
- instant: `reconnectionDelay: 1` (ms; 0 reads as unset), so all 1,000 come back at once.

Measured from the SIGTERM: when each client's first connect after it reported
`socket.recovered` (and how many did not), Redis' CPU over that window from /proc and
from INFO CPU, pod B's CPU, and at the end missed and duplicate deliveries against
the acknowledged jobs.

    .venv/bin/python bench/mass_reconnect.py                  # both variants, ~2 minutes
    .venv/bin/python bench/mass_reconnect.py --modes on off   # and with recovery off
    .venv/bin/python bench/mass_reconnect.py --variants stock --clients 200
    .venv/bin/python bench/mass_reconnect.py --routing channel room   # each routing
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402

from bench.compare import cpu_seconds  # noqa: E402
from bench.recovery_clients import WEBSOCKET_ONLY, BenchClients, totals  # noqa: E402
from tests.support.balancer import Balancer  # noqa: E402
from tests.support.gateway import GatewayProcess, base_env, get_text  # noqa: E402
from tests.support.jobs import Producer  # noqa: E402
from tests.support.recovery import JobStream  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402
from tests.support.tokens import mint  # noqa: E402

NAMESPACE = "/data_owner"
MODES = {"on": "120", "off": "0"}
VARIANTS: dict[str, dict[str, Any]] = {
    "stock": WEBSOCKET_ONLY,
    # 1 ms: socket.io-client reads a delay of 0 as unset (1 s).
    "instant": {**WEBSOCKET_ONLY, "reconnectionDelay": 1, "randomizationFactor": 0},
}


async def redis_info_cpu(client: "Redis") -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def recoveries(url: str) -> dict[str, float]:
    _, text = await get_text(f"{url}/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith("gateway_recoveries_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = float(line.rsplit(" ", 1)[1])
    return out


def first_after(connects: list[list[Any]]) -> list[Any] | None:
    return connects[0] if connects else None


async def drain_and_time(
    pod_a: GatewayProcess, pod_b: GatewayProcess, balancer: Balancer, clients: BenchClients,
    redis: RedisProcess, info: "Redis", args: argparse.Namespace,
) -> dict[str, Any]:
    """SIGTERM pod A (after moving the balancer to B); timings from that instant."""
    assert redis.process is not None and pod_b.process is not None
    redis_pid, b_pid = redis.process.pid, pod_b.process.pid
    balancer.backends.append(pod_b.port)
    balancer.remove(pod_a.port)
    redis_cpu0, b_cpu0 = cpu_seconds(redis_pid), cpu_seconds(b_pid)
    # This process runs the balancer (and the producer); the Node process, the clients.
    own_cpu0, clients_cpu0 = time.process_time(), cpu_seconds(clients.pid)
    info_cpu0 = await redis_info_cpu(info)
    term_at = time.time()
    pod_a.signal_term()
    await clients.wait(
        lambda s: s["connects"] >= 2 * args.clients and s["connected"] == args.clients,
        "every client reconnected", timeout=90,
    )
    window = time.time() - term_at
    redis_cpu = cpu_seconds(redis_pid) - redis_cpu0
    info_cpu = await redis_info_cpu(info) - info_cpu0
    b_cpu = cpu_seconds(b_pid) - b_cpu0
    own_cpu, clients_cpu = time.process_time() - own_cpu0, cpu_seconds(clients.pid) - clients_cpu0
    since = await clients.ask(connects_since=term_at * 1000)
    firsts = [first_after(c) for c in since["connects"]]
    times = sorted((c[0] / 1000 - term_at) for c in firsts if c is not None)
    dropped = sorted(d[0] / 1000 - term_at for d in since["disconnects"] if d)
    away = sorted(
        (c[0] - d[0]) / 1000
        for c, d in zip(firsts, since["disconnects"], strict=True) if c is not None and d
    )
    recovered = sum(1 for c in firsts if c is not None and c[1])
    return {
        "reconnected": len(times),
        "recovered": recovered,
        "first_disconnect_s": round(dropped[0], 3),
        "last_disconnect_s": round(dropped[-1], 3),
        "away_median_s": round(statistics.median(away), 3),
        "away_max_s": round(away[-1], 3),
        "first_reconnect_s": round(times[0], 3),
        "median_reconnect_s": round(statistics.median(times), 3),
        "all_reconnected_s": round(times[-1], 3),
        "all_recovered_s": round(times[-1], 3) if recovered == len(times) else None,
        "window_s": round(window, 3),
        "redis_cpu_s_proc": round(redis_cpu, 3),
        "redis_cpu_s_info": round(info_cpu, 3),
        "redis_cpu_percent": round(100 * redis_cpu / window, 1),
        "pod_b_cpu_s": round(b_cpu, 3),
        "pod_b_cpu_ms_per_reconnect": round(1000 * b_cpu / max(len(times), 1), 2),
        "balancer_process_cpu_s": round(own_cpu, 3),
        "node_clients_cpu_s": round(clients_cpu, 3),
        "pod_a_exit": await pod_a.exit_code(),
    }


async def run(
    variant: str, mode: str, args: argparse.Namespace, routing: str = "channel"
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        info = Redis.from_url(redis.url)
        env = base_env(
            redis.url, GATEWAY_NAMESPACES=NAMESPACE, LOG_LEVEL="WARNING",
            GATEWAY_DISCONNECT_SPREAD_SECONDS=str(args.spread), GATEWAY_MAX_CONNECTIONS="0",
            GATEWAY_RECOVERY_SECONDS=MODES[mode], GATEWAY_ADAPTER_ROUTING=routing,
        )
        pods = [GatewayProcess(env, Path(tmp)).start() for _ in range(2)]
        balancer = await Balancer([]).start()
        producer = Producer(redis.url)
        clients: BenchClients | None = None
        try:
            for pod in pods:
                await pod.started()
            balancer.backends.append(pods[0].port)
            tokens = [mint(f"u{n}", "A") for n in range(args.clients)]
            clients = await BenchClients(
                f"{balancer.url}{NAMESPACE}", tokens, VARIANTS[variant]
            ).start()
            stream = JobStream(producer, ["department:A"], name=variant,
                               interval=args.interval).start()
            await asyncio.sleep(args.before)  # the scenario: the stream runs a while first
            timing = await drain_and_time(pods[0], pods[1], balancer, clients, redis, info, args)
            await asyncio.sleep(args.after)
            await stream.stop()
            acknowledged = await stream.acknowledged(timeout=40)
            report = await clients.wait_quiet(acknowledged, timeout=60)
            outcomes = await recoveries(pods[1].url)
        finally:
            if clients is not None:
                await clients.close()
            await balancer.close()
            await producer.close()
            await info.aclose()
            for pod in pods:
                pod.kill()
            redis.stop()
    counts = totals(report)
    return {
        "variant": variant, "recovery": mode, "routing": routing, "clients": args.clients,
        "spread_s": args.spread,
        "jobs": len(acknowledged), "expected": len(acknowledged) * args.clients,
        **timing, "pod_b_recoveries": outcomes,
        **{k: counts[k] for k in ("missed", "duplicates", "same_offset_twice", "out_of_order")},
    }


async def main(args: argparse.Namespace) -> None:
    rows = []
    for variant in args.variants:
        for mode in args.modes:
            for routing in args.routing:
                row = await run(variant, mode, args, routing)
                print(json.dumps(row), flush=True)
                rows.append(row)
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=1))  # noqa: ASYNC240


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=["on"],
                        help="recovery on (GATEWAY_RECOVERY_SECONDS=120) and/or off (0)")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--routing", nargs="+", choices=["channel", "room"], default=["channel"],
                        help="GATEWAY_ADAPTER_ROUTING of the pods (each one a run)")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="seconds between notification jobs (to all the clients)")
    parser.add_argument("--spread", type=float, default=0.0,
                        help="GATEWAY_DISCONNECT_SPREAD_SECONDS of the draining pod")
    parser.add_argument("--before", type=float, default=3.0)
    parser.add_argument("--after", type=float, default=2.0)
    parser.add_argument("--output", help="also write the rows to this JSON file")
    asyncio.run(main(parser.parse_args()))
