"""Node producers (npm bullmq) and Node clients (socket.io-client) against the gateway."""

import asyncio

import pytest

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import notification
from tests.support.node import NodeListener, node_produce
from tests.support.tokens import mint

pytestmark = pytest.mark.node

DATA = {
    "reference_number": "R-1",
    "status": "ready",
    "unicode": "Grüße, 東京 🚀",
    "nested": {"list": [1, 2.5, None, True], "big": 2**53 - 1},
}


async def test_node_job_reaches_python_and_node_clients(
    start_gateway: StartGateway, redis_url: str
) -> None:
    gateway = await start_gateway()
    python_client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    node_client = await NodeListener(f"{gateway.url}/data_owner", mint("43", "A")).start()
    try:
        assert (await node_client.next_line())["type"] == "connect"
        body = notification(["department:A"], "res-123", data=DATA,
                            metadata={"triggered_by": "u-7"})
        [result] = await node_produce({
            "redis": redis_url, "queue": "critical-events", "wait": True,
            "jobs": [{"name": "records:updated", "data": body,
                      "opts": {"jobId": "process:res-123:1", "attempts": 3}}],
        })
        assert result["state"] == "completed" and result["returnvalue"] == {"emitted": True}

        event, payload = await python_client.next_event()
        line = await node_client.next_line()
        assert line["type"] == "event" and line["event"] == event == "records:updated"
        node_payload, offset = line["args"]  # the offset: connection state recovery
        assert node_payload == payload
        assert python_client.offsets == [offset]
        assert payload["id"] == "res-123" and payload["data"] == DATA
        assert payload["metadata"]["triggered_by"] == "u-7"
        assert len(payload["metadata"]["trace_id"]) == 36
    finally:
        await asyncio.gather(python_client.close(), node_client.close())


async def test_node_client_sees_the_contract_error_messages(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    cases = [
        ("/data_owner", "", "Authentication failed"),
        ("/data_owner", mint(expires_in=-1), "Invalid token"),
        ("/nope", mint(), "Invalid namespace"),
    ]
    for namespace, token, message in cases:
        listener = await NodeListener(f"{gateway.url}{namespace}", token).start()
        try:
            line = await listener.next_line()
            assert (line["type"], line["message"]) == ("connect_error", message), line
        finally:
            await listener.close()


async def test_invalid_node_job_fails_without_retry_and_names_the_field(
    start_gateway: StartGateway, redis_url: str
) -> None:
    await start_gateway()
    [result] = await node_produce({
        "redis": redis_url, "queue": "critical-events", "wait": True,
        "jobs": [{"name": "records:updated",
                  "data": {"namespace": "/data_owner", "rooms": ["nobody"], "id": "x"},
                  "opts": {"attempts": 5, "backoff": {"type": "fixed", "delay": 10}}}],
    })
    assert result["state"] == "failed"
    assert result["failedReason"].startswith("invalid notification: rooms[0]")
    assert result["attemptsMade"] == 1
