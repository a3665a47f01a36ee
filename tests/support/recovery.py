"""What the recovery tests drive: many npm socket.io-client connections in one Node process
(tests/node/recovering_clients.mjs), and a stream of notification jobs whose outcome is
checked at the end."""

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from tests.support.jobs import Producer, notification
from tests.support.node import NODE_TOOLS, ROOT, require_node


@dataclass
class ClientRecord:
    connects: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[Any]:
        return [event["id"] for event in self.events]


class NodeClients:
    """`socket.io-client` connections with default options; each line they print is
    recorded per client, and `until` waits on the records."""

    def __init__(self, url: str, tokens: list[str], **spec: Any) -> None:
        # websocket unless told otherwise: long-polling's requests behind a balancer
        # without sticky sessions would reach the other pod.
        self.spec = {"url": url, "tokens": tokens, "transports": ["websocket"], **spec}
        self.clients = [ClientRecord() for _ in tokens]
        self._changed = asyncio.Condition()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> "NodeClients":
        self._process = await asyncio.create_subprocess_exec(
            require_node(), str(NODE_TOOLS / "recovering_clients.mjs"), json.dumps(self.spec),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        )
        self._reader = asyncio.create_task(self._read())
        await self.until(lambda: all(c.connects for c in self.clients), "all connected")
        return self

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            happening = json.loads(line)
            record = self.clients[happening["c"]]
            kind = happening["type"]
            if kind == "event":
                record.events.append(happening)
            elif kind == "connect":
                record.connects.append(happening)
            elif kind == "disconnect":
                record.disconnects.append(happening["reason"])
            else:
                record.errors.append(happening.get("message", ""))
            async with self._changed:
                self._changed.notify_all()

    async def command(self, **command: Any) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write((json.dumps(command) + "\n").encode())
        await self._process.stdin.drain()

    async def until(self, condition: Any, what: str, timeout: float = 20.0) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            summary = [
                (len(c.connects), len(c.events), c.disconnects[-3:], c.errors[-3:])
                for c in self.clients
            ]
            raise AssertionError(
                f"timed out waiting for {what}; per client (connects, events, last"
                f" disconnects, last errors): {summary}"
            ) from None

    async def close(self) -> None:
        if self._process is not None and self._process.returncode is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class JobStream:
    """Adds one notification job every `interval` seconds to `rooms` until stopped; ids
    are `<name>-<n>` (also the notification's resource id)."""

    def __init__(
        self,
        producer: Producer,
        rooms: list[str],
        name: str = "s",
        interval: float = 0.02,
        queue: str = "critical-events",
    ) -> None:
        self.producer = producer
        self.rooms = rooms
        self.name = name
        self.interval = interval
        self.queue = queue
        self.added: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> "JobStream":
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        n = 0
        while not self._stop.is_set():
            job_id = f"{self.name}-{n}"
            try:
                await self.producer.add(
                    "records:created",
                    notification(self.rooms, job_id),
                    queue=self.queue,
                    jobId=job_id,
                    attempts=5,
                    backoff={"type": "fixed", "delay": 200},
                )
            except (RedisError, OSError):
                pass  # Redis is restarting: this one was not added (or not acknowledged)
            else:
                self.added.append(job_id)
            n += 1
            next_at += self.interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, next_at - loop.time()))

    async def stop(self) -> list[str]:
        """Stop adding; the ids added."""
        self._stop.set()
        if self._task is not None:
            await self._task
        return self.added

    async def acknowledged(self, timeout: float = 30.0) -> list[str]:
        """Once every added job has finished: the ids of those that completed."""
        done = []
        for job_id in self.added:
            job = await self.producer.finished(self.queue, job_id, timeout)
            if job.finishedOn and not job.failedReason:
                done.append(job_id)
        return done


def assert_each_once_in_order(clients: NodeClients, expected: list[str]) -> None:
    """Every client got every expected notification exactly once, in offset order."""
    for index, record in enumerate(clients.clients):
        ids = record.ids
        missing = sorted(set(expected) - set(ids), key=expected.index)
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        assert not missing, f"client {index} missed {len(missing)}: {missing[:10]}"
        assert not duplicated, f"client {index} got twice: {duplicated[:10]}"
        offsets = [tuple(map(int, e["offset"].split("-"))) for e in record.events]
        assert offsets == sorted(offsets), f"client {index} got them out of offset order"
