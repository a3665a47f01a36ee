"""Missed deliveries when connections move, connection state recovery on vs off, in one run.

Each run: its own redis-server, 2 pods (`python -m gateway` subprocesses) behind a
loopback TCP balancer without sticky sessions (tests/support/balancer.py), 40 npm
socket.io-client clients (bench/node/recovery_clients.mjs: default options, but
websocket only, since long-polling's requests would reach the other pod) of department
A, and one notification job every 20 ms to `department:A` for about 10 s. A few seconds
in, one scenario:

- blip:       half the clients close their transport once (they reconnect);
- blip_first: the same before the first notification (the stream starts right after);
- token:      half the clients' tokens expire; their token getter has a fresh one;
- rolling:    a rolling update: a new pod, the old SIGTERMed (it drains), twice;
- sigkill:    one pod SIGKILLed (taken out of the balancer first);
- redis:      Redis (AOF on) SIGKILLed and restarted on its port `--redis-down` seconds
              later.

Then: expected deliveries = acknowledged (completed) jobs times clients; missed = expected
ones a client never got; duplicates = receipts of a job beyond the first, split into the
same emit twice (same offset) and a job emitted twice (at least once: a pod died after
publishing it and before completing it). Every scenario runs with
GATEWAY_RECOVERY_SECONDS=0 (off) and 120 (on, the default), alternating.

    .venv/bin/python bench/recovery_scenarios.py              # all, about 6 minutes
    .venv/bin/python bench/recovery_scenarios.py --scenarios blip --modes on
"""

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.recovery_clients import BenchClients, totals  # noqa: E402
from tests.support.balancer import Balancer  # noqa: E402
from tests.support.gateway import GatewayProcess, base_env  # noqa: E402
from tests.support.jobs import Producer  # noqa: E402
from tests.support.recovery import JobStream  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402
from tests.support.tokens import mint  # noqa: E402

NAMESPACE = "/data_owner"
SCENARIOS = ("blip", "blip_first", "token", "rolling", "sigkill", "redis")
MODES = {"off": "0", "on": "120"}


@dataclass
class Rig:
    """One run's processes, started and stopped by PID."""

    tmp: Path
    redis: RedisProcess
    env: dict[str, str]
    balancer: Balancer
    args: argparse.Namespace
    pods: list[GatewayProcess] = field(default_factory=list)
    clients: BenchClients | None = None
    producer: Producer | None = None
    token_expires_at: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    async def pod(self) -> GatewayProcess:
        pod = GatewayProcess(self.env, self.tmp).start()
        self.pods.append(pod)
        await pod.started()
        return pod

    @property
    def half(self) -> list[int]:
        return list(range(0, self.args.clients, 2))

    def stop(self, name: str) -> None:
        for pod in self.pods:
            pod.kill()
        self.redis.stop()
        if self.args.logs:  # keep the pods' logs of this run
            logs = Path(self.args.logs)
            logs.mkdir(parents=True, exist_ok=True)
            for pod in self.pods:
                shutil.copy(pod.log_path, logs / f"{name}-{pod.log_path.name}")


Step = Callable[[Rig], Awaitable[None]]


async def nothing(rig: Rig) -> None:
    return None


async def blip_half(rig: Rig) -> None:
    assert rig.clients is not None
    await rig.clients.ask(blip=rig.half)


async def after_first_events(rig: Rig) -> None:
    assert rig.clients is not None
    await rig.clients.wait(lambda s: s["min_events"] >= 5, "5 events at every client")
    await blip_half(rig)


async def fresh_tokens(rig: Rig) -> None:
    """The app's token getter has a fresh token from now on; the stream starts so that
    the old ones expire `disrupt_at` seconds into it."""
    assert rig.clients is not None
    await rig.clients.ask(tokens=[[i, mint(f"u{i}", "A")] for i in rig.half])
    await asyncio.sleep(max(0.0, rig.token_expires_at - rig.args.disrupt_at - time.time()))


async def reconnected_after_expiry(rig: Rig) -> None:
    assert rig.clients is not None
    await asyncio.sleep(max(0.0, rig.token_expires_at - time.time()))
    expected = rig.args.clients + len(rig.half)
    await rig.clients.wait(
        lambda s: s["connects"] >= expected and s["connected"] == rig.args.clients,
        "reconnects after expiry",
    )


async def roll(rig: Rig) -> None:
    for leaving in list(rig.pods):
        new = await rig.pod()
        rig.balancer.backends.append(new.port)
        rig.balancer.remove(leaving.port)
        leaving.signal_term()
        assert await leaving.exit_code() == 0, leaving.log()


async def kill_pod(rig: Rig) -> None:
    first = rig.pods[0]
    rig.balancer.remove(first.port)
    first.kill()


async def restart_redis(rig: Rig) -> None:
    rig.redis.kill()  # SIGKILL: what was acknowledged is in the AOF (written before replies)
    await asyncio.sleep(rig.args.redis_down)  # the scenario: Redis is away this long
    await asyncio.to_thread(rig.redis.start)


# scenario: (before the stream starts, a few seconds into it)
STEPS: dict[str, tuple[Step, Step]] = {
    "blip": (nothing, after_first_events),
    "blip_first": (blip_half, nothing),
    "token": (fresh_tokens, reconnected_after_expiry),
    "rolling": (nothing, roll),
    "sigkill": (nothing, kill_pod),
    "redis": (nothing, restart_redis),
}


def tokens_for(rig: Rig, scenario: str) -> list[str]:
    if scenario != "token":
        return [mint(f"u{n}", "A") for n in range(rig.args.clients)]
    # Half expire a while after the clients are up (connecting 40 takes about a second).
    rig.token_expires_at = time.time() + rig.args.disrupt_at + 6
    return [
        mint(f"u{n}", "A", expires_in=rig.token_expires_at - time.time()
             if n in rig.half else 3600)
        for n in range(rig.args.clients)
    ]


async def stream_through(rig: Rig, scenario: str, name: str) -> list[str]:
    """Stream for `seconds` (and at least `after` seconds after the disruption ended),
    disrupting `disrupt_at` seconds in; the acknowledged job ids."""
    assert rig.producer is not None
    before, during = STEPS[scenario]
    await before(rig)
    stream = JobStream(rig.producer, ["department:A"], name=name).start()
    started = time.monotonic()
    await asyncio.sleep(rig.args.disrupt_at)
    disrupted = time.monotonic()
    await during(rig)
    rig.notes["disruption_s"] = round(time.monotonic() - disrupted, 2)
    end = max(started + rig.args.seconds, time.monotonic() + rig.args.after)
    await asyncio.sleep(end - time.monotonic())
    await stream.stop()
    rig.notes["stream_s"] = round(time.monotonic() - started, 2)
    return await stream.acknowledged(timeout=40)


async def run(scenario: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        redis_args = ("--appendonly", "yes") if scenario == "redis" else ()
        redis = RedisProcess(Path(tmp) / "redis", *redis_args).start()
        env = base_env(
            redis.url, GATEWAY_NAMESPACES=NAMESPACE, GATEWAY_RECOVERY_SECONDS=MODES[mode],
            LOG_LEVEL="WARNING",
        )
        rig = Rig(Path(tmp), redis, env, await Balancer([]).start(), args)
        try:
            for _ in range(2):
                rig.balancer.backends.append((await rig.pod()).port)
            rig.clients = await BenchClients(
                f"{rig.balancer.url}{NAMESPACE}", tokens_for(rig, scenario)
            ).start()
            rig.producer = Producer(redis.url)
            acknowledged = await stream_through(rig, scenario, f"{scenario}-{mode}")
            report = await rig.clients.wait_quiet(acknowledged)
        finally:
            if rig.clients is not None:
                await rig.clients.close()
            await rig.balancer.close()
            if rig.producer is not None:
                await rig.producer.close()
            rig.stop(f"{scenario}-{mode}")
    counts = totals(report)
    return {
        "scenario": scenario, "recovery": mode, "jobs": len(acknowledged),
        "clients": args.clients, "expected": len(acknowledged) * args.clients, **counts,
        **rig.notes,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | recovery | missed / expected | duplicates (same emit / job re-emitted)"
        " | reconnects (recovered) | out of order | events without offset |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        emitted_twice = row["duplicates"] - row["same_offset_twice"]
        lines.append(
            f"| {row['scenario']} | {row['recovery']} | {row['missed']:,} / {row['expected']:,}"
            f" | {row['duplicates']} ({row['same_offset_twice']} / {emitted_twice})"
            f" | {row['reconnects']} ({row['recovered']}) | {row['out_of_order']}"
            f" | {row['offsetless']:,} |"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    rows = []
    for scenario in args.scenarios:
        for mode in args.modes:
            row = await run(scenario, mode, args)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(table(rows), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=1))  # noqa: ASYNC240


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0, help="stream at least this long")
    parser.add_argument("--disrupt-at", type=float, default=3.0,
                        help="seconds into the stream the scenario starts")
    parser.add_argument("--after", type=float, default=2.0,
                        help="seconds the stream goes on at least after the scenario")
    parser.add_argument("--redis-down", type=float, default=1.0,
                        help="seconds between Redis' SIGKILL and its restart")
    parser.add_argument("--logs", help="copy the pods' logs into this directory")
    parser.add_argument("--output", help="also write the rows to this JSON file")
    asyncio.run(main(parser.parse_args()))
