"""client/notifications.js, run in Node (socket.io-client from node_modules) against a real
gateway: the token getter on every reconnect, de-duplication on metadata.trace_id."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from producer import NotificationProducer
from tests.conftest import StartGateway
from tests.support.node import NODE_TOOLS, ROOT, require_node
from tests.support.tokens import mint

pytestmark = pytest.mark.node

Line = dict[str, Any]


class ClientModule:
    """tests/node/notifications_client.mjs: answers its token requests, reads its lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen: list[Line] = []

    async def next_line(self, timeout: float = 10.0) -> Line:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, f"client exited; saw {self.seen}"
        line: Line = json.loads(raw)
        self.seen.append(line)
        return line

    async def until(self, wanted: Callable[[Line], bool], timeout: float = 10.0) -> Line:
        """The next line `wanted` accepts (lines before it are kept in `seen`)."""
        async with asyncio.timeout(timeout):
            while not wanted(line := await self.next_line()):
                pass
        return line

    def give_token(self, token: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"token": token}).encode() + b"\n")


StartClient = Callable[[str], Awaitable[ClientModule]]


def state(name: str) -> Callable[[Line], bool]:
    return lambda line: line["type"] == "state" and line["state"] == name


@pytest.fixture
async def start_client() -> AsyncIterator[StartClient]:
    started: list[asyncio.subprocess.Process] = []

    async def start(url: str) -> ClientModule:
        process = await asyncio.create_subprocess_exec(
            require_node(), str(NODE_TOOLS / "notifications_client.mjs"), url, "/data_owner",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        )
        started.append(process)
        return ClientModule(process)

    yield start
    for process in started:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()  # the client closes and exits
            await asyncio.wait_for(process.wait(), 10)


async def test_the_token_getter_is_asked_again_on_reconnect(
    start_gateway: StartGateway, start_client: StartClient, redis_url: str
) -> None:
    gateway = await start_gateway()
    client = await start_client(gateway.url)
    assert (await client.next_line())["type"] == "state"  # connecting
    assert await client.until(lambda line: line["type"] == "token_request")
    client.give_token(mint("42", "A", expires_in=1.5))
    await client.until(state("connected"))
    # The gateway closes the connection when the token expires; the client reconnects
    # and asks for a token again, which is fresh this time.
    await client.until(state("reconnecting"), timeout=5)
    assert (await client.until(lambda line: line["type"] == "token_request"))["n"] == 2
    client.give_token(mint("42", "A"))
    await client.until(state("connected"))
    async with NotificationProducer(redis_url, namespaces=["/data_owner"]) as notifier:
        await notifier.notify("records:updated", namespace="/data_owner", rooms=["user:42"],
                              id="after-refresh")
    line = await client.until(lambda line: line["type"] == "notification")
    assert line["payload"]["id"] == "after-refresh"


async def test_a_notification_seen_before_is_dropped(
    start_gateway: StartGateway, start_client: StartClient, redis_url: str
) -> None:
    # One job at a time: jobs are emitted in the order they were added.
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=1")
    client = await start_client(gateway.url)
    client.give_token(mint("42", "A"))
    await client.until(state("connected"))
    async with NotificationProducer(redis_url, namespaces=["/data_owner"]) as notifier:
        for resource_id, trace_id in [("res-1", "trace-1"), ("res-1", "trace-1"),
                                      ("res-2", "trace-2")]:
            await notifier.notify("records:updated", namespace="/data_owner",
                                  rooms=["user:42"], id=resource_id,
                                  metadata={"trace_id": trace_id})
    delivered = [
        await client.until(lambda line: line["type"] in ("notification", "duplicate"))
        for _ in range(3)
    ]
    assert [(line["type"], line.get("trace_id") or line["payload"]["metadata"]["trace_id"])
            for line in delivered] == [
        ("notification", "trace-1"), ("duplicate", "trace-1"), ("notification", "trace-2"),
    ]


async def test_the_trace_id_memory_is_bounded() -> None:
    process = await asyncio.create_subprocess_exec(
        require_node(), "--test", str(NODE_TOOLS / "trace_cache.test.mjs"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()
    assert "# pass 2" in output.decode()
