"""Recovery's edges in one in-process pod, with python-socketio clients: clients that
can't take the offset argument, the adapter catching up from the log after its
subscription was cut, and what the CONNECT reply and events carry."""

import asyncio
from typing import Any

import redis.asyncio
import socketio

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint

NS = "/data_owner"


async def test_a_one_parameter_handler_works_with_offsets_turned_off(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    received: asyncio.Queue[Any] = asyncio.Queue()
    errors: list[BaseException] = []
    sio = socketio.AsyncClient(reconnection=False)

    async def on_created(payload: Any) -> None:  # one parameter, as many apps write it
        await received.put(payload)

    sio.on("records:created", on_created, namespace=NS)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context.get("exception")))
    try:
        await sio.connect(
            gateway.url, namespaces=[NS], transports=["websocket"],
            auth={"token": mint("7", None), "offsets": False}, wait_timeout=5,
        )
        await producer.add("records:created", notification(["user:7"], "r-1"))
        payload = await asyncio.wait_for(received.get(), 5)
        assert payload["id"] == "r-1"
        assert not errors
    finally:
        loop.set_exception_handler(None)
        await sio.disconnect()


async def test_events_carry_the_offset_and_a_one_parameter_handler_would_fail(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, NS, mint("7", None)).connect()
    try:
        await producer.add("records:created", notification(["user:7"], "r-1"))
        await producer.add("records:created", notification(["user:7"], "r-2"))
        events = await client.events_until_quiet(2)
        assert [payload["id"] for _, payload in events] == ["r-1", "r-2"]
        first, second = (tuple(map(int, o.split("-"))) for o in client.offsets)
        assert first < second
    finally:
        await client.close()


async def test_offsets_off_for_all_when_recovery_is_off(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway(GATEWAY_RECOVERY_SECONDS="0")
    client = await RecordingClient(gateway.url, NS, mint("7", None)).connect()
    try:
        await producer.add("records:created", notification(["user:7"], "r-1"))
        events = await client.events_until_quiet(1)
        assert [payload["id"] for _, payload in events] == ["r-1"]
        assert client.offsets == []
    finally:
        await client.close()


async def test_the_adapter_catches_up_what_was_published_while_it_resubscribed(
    start_gateway: StartGateway, producer: Producer, redis_url: str
) -> None:
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, NS, mint("7", None)).connect()
    admin = redis.asyncio.Redis.from_url(redis_url)
    try:
        await producer.add("records:created", notification(["user:7"], "before"))
        assert (await client.next_event())[1]["id"] == "before"
        # Cut the pod's subscription (as a Redis restart or failover does) and publish
        # while it is away: its resubscribe waits at least half a second.
        await admin.client_kill_filter(_type="pubsub")
        ids = [f"away-{n}" for n in range(20)]
        for job_id in ids:
            await producer.add("records:created", notification(["user:7"], job_id), jobId=job_id)
        for job_id in ids:
            await producer.finished("critical-events", job_id)
        events = await client.events_until_quiet(20, timeout=15)
        assert [payload["id"] for _, payload in events] == ids
    finally:
        await admin.aclose()
        await client.close()
