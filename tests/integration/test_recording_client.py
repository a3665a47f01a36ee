"""The test client's waits (tests/support/clients.py) see what they claim to see: a
test that waits for the events it expects must also see any that come with them."""

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint


async def test_events_until_quiet_also_returns_events_beyond_the_count(
    start_gateway: StartGateway, producer: Producer
) -> None:
    """Three notifications are sent; a test expecting two must see the third too, as
    it would a duplicate delivery, instead of stopping at two and passing."""
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    try:
        for n in range(3):
            job = await producer.add("resources:created", notification(["user:1"], f"e-{n}"))
            await producer.finished("critical-events", str(job.id))
        received = await client.events_until_quiet(2, timeout=10)
    finally:
        await client.close()
    assert sorted(payload["id"] for _, payload in received) == ["e-0", "e-1", "e-2"]
    client.assert_nothing_received()
