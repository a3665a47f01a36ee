"""Drives bench/node/recovery_clients.mjs: many stock socket.io-client connections in one
Node process that count what they receive themselves, so a bench with 1,000 clients
does not pay for a JSON line per delivered event (tests/support/recovery.py does that,
for a handful of clients)."""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "node" / "recovery_clients.mjs"

# Why websocket only: the balancer in front of the pods is a plain TCP one without
# sticky sessions (like a Kubernetes Service without session affinity). Long-polling's
# HTTP requests are connections of their own, so half of them would reach the pod that
# does not know the session ("Session ID unknown"), and the default transports start
# with long-polling.
WEBSOCKET_ONLY = {"transports": ["websocket"]}


class BenchClients:
    def __init__(
        self, url: str, tokens: list[str], options: dict[str, Any] | None = None, batch: int = 50
    ) -> None:
        self.spec = {"url": url, "tokens": tokens, "options": options or WEBSOCKET_ONLY,
                     "batch": batch}
        self.count = len(tokens)
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self, timeout: float = 120.0) -> "BenchClients":
        self._process = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=ROOT, limit=64 * 1024 * 1024,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write((json.dumps(self.spec) + "\n").encode())
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout)
        assert json.loads(line) == {"ready": self.count}, line
        return self

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdin is not None and self._process.stdout is not None
        async with self._lock:
            self._process.stdin.write((json.dumps(command) + "\n").encode())
            await self._process.stdin.drain()
            line = await asyncio.wait_for(self._process.stdout.readline(), 60)
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def wait(
        self, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Polls the clients' status until `condition` holds; bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.ask(status=True)
            if condition(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}: {status}")
            await asyncio.sleep(0.1)

    async def wait_quiet(self, expected: list[str], timeout: float = 30.0) -> list[dict[str, Any]]:
        """The per-client report once nothing is missing, or once no event has arrived
        for 1.5 s with every client connected (what is missing then stays missing)."""
        deadline = time.monotonic() + timeout
        last_events, quiet_since = -1, time.monotonic()
        while True:
            report: list[dict[str, Any]] = (await self.ask(report=expected))["clients"]
            status = await self.ask(status=True)
            if status["events"] != last_events:
                last_events, quiet_since = status["events"], time.monotonic()
            all_there = all(c["missed"] == 0 for c in report)
            quiet = status["connected"] == self.count and time.monotonic() - quiet_since > 1.5
            if all_there or quiet or time.monotonic() > deadline:
                if all_there:  # a duplicate right behind the last one would show now
                    await asyncio.sleep(0.5)
                    report = (await self.ask(report=expected))["clients"]
                return report
            await asyncio.sleep(0.25)

    async def close(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()


def totals(report: list[dict[str, Any]]) -> dict[str, int]:
    """The per-client counts added up."""
    keys = ("missed", "duplicates", "same_offset_twice", "stray", "out_of_order",
            "offsetless", "reconnects", "recovered", "connect_errors")
    return {key: sum(client[key] for client in report) for key in keys}
