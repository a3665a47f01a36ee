"""examples/node-producer run with node (npm bullmq) against a real gateway."""

import asyncio
import json
import os
from typing import Any

import pytest

from jobformat import trace_id_for
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.node import ROOT, require_node
from tests.support.tokens import mint

pytestmark = pytest.mark.node

SEND = ROOT / "examples" / "node-producer" / "send.mjs"


async def send(redis_url: str, event: str, body: dict[str, Any], *args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        require_node(), str(SEND), event, json.dumps(body), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    result: dict[str, Any] = json.loads(stdout)
    return result


async def test_a_deterministic_job_id_sent_twice_is_delivered_once(
    start_gateway: StartGateway, redis_url: str
) -> None:
    # One job at a time: the marker sent last is emitted last.
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=1")
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    body = {"namespace": "/data_owner", "rooms": ["user:42"], "id": "res-9",
            "data": {"status": "ready"}}
    try:
        first, again = [
            await send(redis_url, "records:updated", body, "--job-id", "records:res-9:1")
            for _ in range(2)
        ]
        await send(redis_url, "records:updated", {**body, "id": "marker"})
        received = await client.events_until_quiet(2)
    finally:
        await client.close()
    assert first == again == {
        "queue": "critical-events",
        "jobId": "records:res-9:1",
        # The same trace id as the Python producer derives from the same job id.
        "traceId": trace_id_for("bull", "critical-events", "records:res-9:1"),
    }
    assert [(event, payload["id"]) for event, payload in received] == [
        ("records:updated", "res-9"), ("records:updated", "marker"),
    ]
    assert received[0][1]["metadata"]["trace_id"] == first["traceId"]
    assert received[0][1]["data"] == {"status": "ready"}
