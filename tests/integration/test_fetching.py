"""A quiet queue with high concurrency costs about two fetches per job, not dozens
(consumers/fetching.py), and a backlog still runs its jobs concurrently."""

from gateway.state import CONSUMERS
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification, paused_backlog
from tests.support.tokens import mint

JOBS = 30


async def test_one_job_at_a_time_costs_few_fetches(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=32")
    consumers = gateway.app[CONSUMERS]
    before = consumers.fetches["critical-events"]
    for n in range(JOBS):
        job = await producer.add("resources:created", notification(["user:1"], f"q-{n}"))
        await producer.finished("critical-events", str(job.id))
    per_job = (consumers.fetches["critical-events"] - before) / JOBS
    # bullmq alone: 83 measured (several per concurrency slot, all but one empty).
    assert per_job <= 3, per_job


async def test_a_backlog_is_still_processed_concurrently(
    start_gateway: StartGateway, producer: Producer
) -> None:
    queue = await paused_backlog(producer, 200, "b")
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=32")
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    await queue.resume()
    received = await client.events_until_quiet(200, timeout=20)
    assert len({payload["id"] for _, payload in received}) == 200
    assert gateway.app[CONSUMERS].fetches["critical-events"] <= 2 * 200
    await client.close()
