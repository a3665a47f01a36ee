"""A pod's own publishes come back on the adapter channel: they are dropped by their
bytes, before python-socketio's JSON decoding (gateway/realtime/adapter.py); others' emits are
still decoded and delivered."""

from types import SimpleNamespace
from typing import Any

import socketio

from gateway.pod.state import ADAPTER
from gateway.realtime.jsonshim import dumps, loads
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint


async def test_own_emits_are_not_decoded_again_others_are(
    start_gateway: StartGateway, producer: Producer, redis_url: str
) -> None:
    gateway = await start_gateway()
    adapter = gateway.app[ADAPTER]
    decoded: list[Any] = []

    def counting_loads(text: str | bytes, **options: Any) -> Any:
        decoded.append(loads(text))
        return decoded[-1]

    adapter.json = SimpleNamespace(dumps=dumps, loads=counting_loads)
    client = await RecordingClient(gateway.url, "/data_owner", mint("7", None)).connect()
    await producer.add("records:updated", notification(["user:7"], "own"))
    assert (await client.next_event())[1]["id"] == "own"

    # Another emitter on the channel (python-socketio's write-only manager): published
    # after the pod's own emit, so the listener has seen that one by the time this arrives.
    other = socketio.AsyncRedisManager(redis_url, write_only=True)
    try:
        await other.emit("system:alert", {"id": "other"}, room="user:7", namespace="/data_owner")
    finally:
        await other.pubsub.aclose()
        await other.redis.aclose()
    assert (await client.next_event()) == ("system:alert", {"id": "other"})
    assert [message["event"] for message in decoded] == ["system:alert"]
    await client.close()
