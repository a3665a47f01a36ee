from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import GatewayProcess, InProcessGateway, base_env
from tests.support.jobs import Producer
from tests.support.redis_proc import RedisProcess


@pytest.fixture(scope="session")
def redis_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One private redis-server for the session; tests that break Redis start their own."""
    proc = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield proc
    proc.stop()


@pytest.fixture
def redis_url(redis_proc: RedisProcess) -> str:
    client = redis_proc.client()
    client.flushall()
    client.close()
    return redis_proc.url


@pytest.fixture
async def producer(redis_url: str) -> AsyncIterator[Producer]:
    producer = Producer(redis_url)
    yield producer
    await producer.close()


@pytest.fixture
async def closing() -> AsyncIterator[list[Any]]:
    """Clients (anything with `close()`) to close at the end, whatever happened."""
    opened: list[Any] = []
    yield opened
    for client in reversed(opened):
        await client.close()


StartGateway = Callable[..., Awaitable[InProcessGateway]]


@pytest.fixture
async def start_gateway(redis_url: str) -> AsyncIterator[StartGateway]:
    """Start in-process gateways on `redis_url`; keyword arguments override settings."""
    started: list[InProcessGateway] = []

    async def start(redis: str | None = None, **overrides: str) -> InProcessGateway:
        gateway = InProcessGateway(base_env(redis or redis_url, **overrides))
        started.append(gateway)
        return await gateway.start()

    yield start
    for gateway in reversed(started):
        await gateway.close()


@pytest.fixture
def gateway_processes(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Factory of `python -m gateway` subprocesses, killed (by PID) at the end."""
    started: list[GatewayProcess] = []

    def start(env: dict[str, str]) -> GatewayProcess:
        process = GatewayProcess(env, tmp_path).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
