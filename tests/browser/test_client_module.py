"""client/notifications.js, run in Node (socket.io-client from node_modules) against a real
gateway: the token getter on every reconnect, de-duplication on metadata.trace_id, and
`onResync` on a reconnect the gateway could not recover (never on one it did)."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from producer import NotificationProducer
from tests.conftest import StartGateway
from tests.support.gateway import get_text
from tests.support.jobs import Producer, notification
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
        self.command(token=token)

    def command(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")


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


def notification_line(resource_id: str) -> Callable[[Line], bool]:
    return lambda line: line["type"] == "notification" and line["payload"]["id"] == resource_id


def lines_of(client: ClientModule, kind: str) -> list[Line]:
    return [line for line in client.seen if line["type"] == kind]


async def recoveries(gateway_url: str) -> dict[str, float]:
    """gateway_recoveries_total by outcome, from the gateway's /metrics."""
    status, text = await get_text(f"{gateway_url}/metrics")
    assert status == 200
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("gateway_recoveries_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('"')[1]] = float(value)
    return counts


async def send(producer: Producer, resource_id: str) -> None:
    """One notification to user:42, returned once its job has completed: by then it is in
    the notification log and published."""
    await producer.add("records:updated", notification(["user:42"], resource_id),
                       jobId=resource_id)
    job = await producer.finished("critical-events", resource_id)
    assert job.finishedOn and not job.failedReason, job.failedReason


async def connected_with_one_notification(
    start_client: StartClient, gateway_url: str, producer: Producer
) -> ClientModule:
    """A client that connected and received one notification (so it holds an offset)."""
    client = await start_client(gateway_url)
    client.give_token(mint("42", "A"))
    await client.until(state("connected"))
    await send(producer, "before")
    line = await client.until(notification_line("before"))
    assert line["nargs"] == 2, line  # (notification, event): the offset is not passed on
    return client


async def blip_while_away(
    client: ClientModule, producer: Producer, ids: list[str], away_seconds: float = 0
) -> Line:
    """Close the client's transport; while it waits for its token on the reconnect, the
    gateway emits `ids` (to nobody: the client is not connected), and, with
    `away_seconds`, one more that long after them. Returns the reconnect's "connected"
    line."""
    client.command(blip=True)
    await client.until(state("reconnecting"))
    await client.until(lambda line: line["type"] == "token_request")
    for resource_id in ids:
        await send(producer, resource_id)
    if away_seconds:
        await asyncio.sleep(away_seconds)  # the scenario: the client stays away this long
        await send(producer, "after-ageing")
    client.give_token(mint("42", "A"))
    return await client.until(state("connected"))


async def test_a_recovered_reconnect_replays_and_asks_for_no_resync(
    start_gateway: StartGateway, start_client: StartClient, producer: Producer
) -> None:
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=1")
    client = await connected_with_one_notification(start_client, gateway.url, producer)
    reconnected = await blip_while_away(client, producer, ["away-1", "away-2"])
    assert reconnected["recovered"] is True
    # What was emitted while it was away is replayed, in order, to the app's handlers,
    # with the same (notification, event) arguments as live ones.
    replayed = [await client.until(lambda line: line["type"] == "notification")
                for _ in range(2)]
    assert [(line["payload"]["id"], line["nargs"]) for line in replayed] == [
        ("away-1", 2), ("away-2", 2)]
    await send(producer, "after")
    await client.until(notification_line("after"))
    # onResync would have printed its line in the connect handler, before all of these.
    assert lines_of(client, "resync") == []
    assert (await recoveries(gateway.url)).get("recovered") == 1


@pytest.mark.parametrize("cause", ["forged pid", "missed ones aged out", "recovery off"])
async def test_an_unrecovered_reconnect_asks_for_one_resync(
    start_gateway: StartGateway, start_client: StartClient, producer: Producer, cause: str
) -> None:
    settings = {"GATEWAY_QUEUES": "critical-events=1"}
    if cause == "missed ones aged out":
        settings["GATEWAY_RECOVERY_SECONDS"] = "1"
    if cause == "recovery off":
        settings["GATEWAY_RECOVERY_SECONDS"] = "0"
    gateway = await start_gateway(**settings)
    client = await connected_with_one_notification(start_client, gateway.url, producer)
    if cause == "forged pid":
        client.command(set_pid="not-a-pid-the-gateway-signed")
    # Missed ones aged out: "missed" is older than the retention when the client is
    # back, and the log no longer holds it.
    reconnected = await blip_while_away(
        client, producer, ["missed"], away_seconds=1.2 if cause == "missed ones aged out" else 0
    )
    # Recovery off: the gateway hands out no pid, and socket.io-client leaves
    # `recovered` undefined rather than false; the module resyncs all the same.
    assert reconnected["recovered"] is (None if cause == "recovery off" else False)
    await send(producer, "after")
    # Nothing is replayed: the next notification is the live one.
    assert (await client.until(lambda line: line["type"] == "notification"))[
        "payload"]["id"] == "after"
    assert len(lines_of(client, "resync")) == 1
    if cause != "missed ones aged out":
        # Another blip right away: recovered, no second resync; with recovery off every
        # reconnect may have missed some, so each asks again.
        again = await blip_while_away(client, producer, ["missed-again"])
        assert again["recovered"] is (None if cause == "recovery off" else True)
        await send(producer, "later")
        await client.until(notification_line("later"))
        assert len(lines_of(client, "resync")) == (2 if cause == "recovery off" else 1)
    expected_outcome = {"forged pid": "invalid", "missed ones aged out": "expired",
                        "recovery off": None}[cause]
    if expected_outcome is not None:
        assert (await recoveries(gateway.url)).get(expected_outcome) == 1
