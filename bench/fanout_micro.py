"""Fan-out micro-benchmark: server CPU per delivered message, broadcast fast path on vs off.

One run starts its own redis-server, then for each client count N and each setting of
GATEWAY_BROADCAST_FASTPATH (on, then off) one `python -m gateway` pod (uvloop, as
deployed) with N websocket clients in room `department:A`, spread over several client
processes. It publishes B broadcasts (about 170 B of JSON each) on the adapter's Redis
channel, in python-socketio's own emitter format, so the pod delivers them exactly as
an emit from another pod (the consumer's per-job cost is left out: this measures the
fan-out), at a paced rate, waits until every client has counted every event, and
reports the pod's CPU time (user + system, from /proc) per delivered message, the
delivered messages per second, the clients' CPU, and the on/off ratio.

The clients are minimal raw websocket clients (asyncio protocols that do the Engine.IO
/ Socket.IO handshake, answer pings and count `42...` frames) so that the load generator
costs far less per message than the pod; its CPU is reported alongside.

    .venv/bin/python bench/fanout_micro.py --clients 200,1000 --broadcasts 200 --rate 100
"""

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.gateway import GatewayProcess, base_env, get_text  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402
from tests.support.tokens import mint  # noqa: E402

NAMESPACE = "/data_owner"
ROOM = "department:A"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAYLOAD = {
    "id": "res-123",
    "data": {"reference_number": "R-000123", "status": "ready", "owner": "u-42"},
    "metadata": {
        "trace_id": "3f1c2a9e-5b7d-4c1e-9a2f-8d6e4b3c2a10",
        "timestamp": "2024-05-01T12:00:00Z",
        "department": "A",
    },
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (/proc/<pid>/stat, 14th and 15th)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# The load generator: one process, `count` raw websocket clients.


class RawSocketIOClient(asyncio.Protocol):
    """A websocket client that joins NAMESPACE and counts the events it receives."""

    def __init__(self, host: str, token: str, joined: asyncio.Future[None]) -> None:
        self.host = host
        self.token = token
        self.joined = joined
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.events = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def send_text(self, text: str) -> None:
        """A masked client text frame (mask of zeros: the XOR is a no-op)."""
        assert self.transport is not None
        payload = text.encode()
        length = len(payload)
        if length < 126:
            header = bytes((0x81, 0x80 | length))
        else:
            header = bytes((0x81, 0x80 | 126)) + length.to_bytes(2, "big")
        self.transport.write(header + b"\0\0\0\0" + payload)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            assert buffer.startswith(b"HTTP/1.1 101"), buffer[:100]
            self.upgraded = True
            buffer = buffer[end + 4 :]
        position, size = 0, len(buffer)
        while size - position >= 2:
            length = buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            end = start + length
            if end > size:
                break
            head = buffer[start : start + 2]
            if head == b"42":
                self.events += 1
            else:
                self.control(buffer[start:end])
            position = end
        self.buffer = buffer[position:]

    def control(self, payload: bytes) -> None:
        if payload == b"2":
            self.send_text("3")
        elif payload.startswith(b"0{"):
            self.send_text(f"40{NAMESPACE},{json.dumps({'token': self.token})}")
        elif payload.startswith(b"40"):
            if not self.joined.done():
                self.joined.set_result(None)
        elif payload.startswith(b"44"):
            if not self.joined.done():
                self.joined.set_exception(RuntimeError(payload.decode()))


async def client_process(port: int, count: int, first: int) -> None:
    """Connect `count` clients, say `ready`, then answer `count` lines on stdin with the
    number of events received, until stdin closes."""
    loop = asyncio.get_running_loop()
    clients: list[RawSocketIOClient] = []

    async def connect(index: int) -> None:
        joined: asyncio.Future[None] = loop.create_future()
        token = mint(f"bench-{index}", "A")
        _, client = await loop.create_connection(
            lambda: RawSocketIOClient(f"127.0.0.1:{port}", token, joined), "127.0.0.1", port
        )
        clients.append(client)
        await asyncio.wait_for(joined, 30)

    for batch in range(first, first + count, 100):
        await asyncio.gather(*(connect(i) for i in range(batch, min(batch + 100, first + count))))
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"count":
            print(sum(client.events for client in clients), flush=True)
    for client in clients:
        if client.transport is not None:
            client.transport.close()


# The driver.


@dataclass
class ClientGroup:
    processes: list[subprocess.Popen[bytes]]

    @classmethod
    def start(cls, port: int, clients: int, processes: int) -> "ClientGroup":
        share = -(-clients // processes)
        started = []
        for first in range(0, clients, share):
            started.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--client-process",
                        str(port),
                        str(min(share, clients - first)),
                        str(first),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    cwd=ROOT,
                )
            )
        return cls(started)

    def wait_ready(self) -> None:
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if line.strip() != b"ready":
                raise RuntimeError(f"client process failed: {line!r}")

    def received(self) -> int:
        total = 0
        for process in self.processes:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(b"count\n")
            process.stdin.flush()
        for process in self.processes:
            assert process.stdout is not None
            total += int(process.stdout.readline())
        return total

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(process.pid) for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


async def wait_delivered(group: ClientGroup, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (received := group.received()) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {received} of {expected} messages arrived")
        await asyncio.sleep(0.02)  # polling the clients' counters, not synchronising
    if received > expected:
        raise RuntimeError(f"{received} messages arrived, {expected} expected")


async def publish(redis_client: Any, broadcasts: int, rate: float) -> None:
    """python-socketio's emitter message, as another pod publishes it."""
    message = json.dumps(
        {
            "method": "emit",
            "event": "records:updated",
            "data": [PAYLOAD],
            "binary": False,
            "namespace": NAMESPACE,
            "room": ROOM,
            "skip_sid": None,
            "callback": None,
            "host_id": "fanout-micro",
        }
    )
    start = time.perf_counter()
    for number in range(broadcasts):
        delay = start + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load
        await redis_client.publish("socketio", message)


def start_profiler(
    directory: Path | None, pid: int, clients: int, fast_path: bool
) -> subprocess.Popen[bytes] | None:
    """py-spy on the pod for the measured window (its own CPU is the profiler's, not the
    pod's, but sampling 100 times a second still perturbs the pod a little)."""
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / f"pod-{clients}-{'on' if fast_path else 'off'}.txt"
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def measure(
    redis_url: str, tmp: Path, clients: int, fast_path: bool, args: argparse.Namespace
) -> dict[str, Any]:
    import redis.asyncio

    env = base_env(
        redis_url,
        LOG_LEVEL="WARNING",
        GATEWAY_QUEUES="fanout-micro-idle=1",
        GATEWAY_BROADCAST_FASTPATH=str(fast_path).lower(),
    )
    pod = GatewayProcess(env, tmp).start()
    assert pod.process is not None
    group: ClientGroup | None = None
    publisher = redis.asyncio.Redis.from_url(redis_url)
    try:
        await pod.started()
        group = ClientGroup.start(pod.port, clients, args.client_processes)
        await asyncio.to_thread(group.wait_ready)
        await publish(publisher, args.warmup, args.rate)
        await wait_delivered(group, clients * args.warmup, 60)

        profiler = start_profiler(args.profile, pod.process.pid, clients, fast_path)
        pod_cpu, client_cpu = cpu_seconds(pod.process.pid), group.cpu_seconds()
        started = time.perf_counter()
        await publish(publisher, args.broadcasts, args.rate)
        await wait_delivered(group, clients * (args.warmup + args.broadcasts), 300)
        elapsed = time.perf_counter() - started
        pod_cpu = cpu_seconds(pod.process.pid) - pod_cpu
        client_cpu = group.cpu_seconds() - client_cpu
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            profiler.wait(30)
        _, metrics = await get_text(f"{pod.url}/metrics")
    finally:
        await publisher.aclose()
        if group is not None:
            group.stop()
        pod.signal_term()
        await pod.exit_code()
    delivered = clients * args.broadcasts
    outcomes = dict(
        re.findall(r'gateway_fastpath_frames_total\{outcome="(\w+)"\} ([0-9.e+]+)', metrics)
    )
    return {
        "clients": clients,
        "fast_path": fast_path,
        "delivered": delivered,
        "seconds": round(elapsed, 2),
        "delivered_per_s": round(delivered / elapsed),
        "pod_cpu_s": round(pod_cpu, 2),
        "pod_cpu_us_per_msg": round(pod_cpu / delivered * 1e6, 2),
        "clients_cpu_us_per_msg": round(client_cpu / delivered * 1e6, 2),
        "fastpath_frames": {key: float(value) for key, value in outcomes.items()},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        try:
            for clients in args.clients:
                on = await measure(redis.url, Path(tmp), clients, True, args)
                off = await measure(redis.url, Path(tmp), clients, False, args)
                results.append(
                    {
                        "clients": clients,
                        "on": on,
                        "off": off,
                        "cpu_ratio_on_off": round(
                            on["pod_cpu_us_per_msg"] / off["pod_cpu_us_per_msg"], 3
                        ),
                    }
                )
        finally:
            redis.stop()
    return {
        "broadcasts": args.broadcasts,
        "rate": args.rate,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "results": results,
    }


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--client-process":
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        port, count, first = (int(value) for value in sys.argv[2:])
        runner(client_process(port, count, first))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", type=lambda text: [int(n) for n in text.split(",")], default=[200, 1000]
    )
    parser.add_argument("--broadcasts", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="broadcasts per second")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy the pod into this directory"
    )
    args = parser.parse_args()
    report = asyncio.run(run(args))
    for row in report["results"]:
        on, off = row["on"], row["off"]
        print(
            f"N={row['clients']}: fast path {on['pod_cpu_us_per_msg']} us/msg"
            f" ({on['delivered_per_s']}/s), off {off['pod_cpu_us_per_msg']} us/msg"
            f" ({off['delivered_per_s']}/s), ratio {row['cpu_ratio_on_off']};"
            f" clients {on['clients_cpu_us_per_msg']} / {off['clients_cpu_us_per_msg']} us/msg",
            file=sys.stderr,
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
