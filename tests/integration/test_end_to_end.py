"""A BullMQ job in, a Socket.IO event out, through a real Redis and real clients."""

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint


async def test_job_reaches_client_with_thin_payload(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    try:
        job = await producer.add(
            "records:updated",
            notification(
                ["user:42"],
                "res-123",
                data={"reference_number": "R-1", "status": "ready"},
                metadata={"triggered_by": "u-7", "trace_id": "t-1"},
            ),
        )
        event, payload = await client.next_event()
        assert event == "records:updated"
        assert payload["id"] == "res-123"
        assert payload["data"] == {"reference_number": "R-1", "status": "ready"}
        assert payload["metadata"]["trace_id"] == "t-1"
        assert payload["metadata"]["triggered_by"] == "u-7"
        assert payload["metadata"]["timestamp"].endswith("Z")
        assert set(payload) == {"id", "data", "metadata"}
        finished = await producer.finished("critical-events", job.id)
        assert finished.returnvalue == {"emitted": True}
    finally:
        await client.close()
