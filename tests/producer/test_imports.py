"""Importing the producer API loads the job format and a Redis client, not the worker
side: no bullmq Worker, no consumers, no throttling, no web server. A service that only
adds jobs should not pay for (or be able to break on) the gateway's worker stack."""

from tests.support.imports import loaded_after

WORKER_SIDE = {
    "bullmq.worker", "consumers", "throttling", "auth", "gateway",
    "aiohttp", "socketio", "engineio", "prometheus_client",
}


def test_importing_the_producer_loads_no_worker_side_module() -> None:
    loaded = loaded_after("import producer")
    assert not loaded & WORKER_SIDE, sorted(loaded & WORKER_SIDE)
    assert {"producer", "jobformat"} <= loaded
