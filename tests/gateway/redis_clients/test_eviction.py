"""The start-up check of Redis' eviction policy: warn loudly, or refuse when asked to."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import StartGateway
from tests.support.gateway import base_env, get_text, run_module
from tests.support.redis_proc import RedisProcess


@pytest.fixture
def evicting_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(
        tmp_path / "redis", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"
    ).start()
    yield redis
    redis.stop()


async def test_an_evicting_redis_is_warned_about_in_the_log_and_a_metric(
    evicting_redis: RedisProcess, start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.redis_clients.eviction"):
        gateway = await start_gateway(redis=evicting_redis.url)
    assert any("maxmemory-policy is allkeys-lru" in r.getMessage() for r in caplog.records)
    _, metrics = await get_text(gateway.url + "/metrics")
    assert 'gateway_redis_maxmemory_policy{policy="allkeys-lru"} 1.0' in metrics


async def test_noeviction_is_reported_as_such(
    redis_url: str, start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.redis_clients.eviction"):
        gateway = await start_gateway(REDIS_REQUIRE_NOEVICTION="true")
    assert not [r for r in caplog.records if r.name == "gateway.redis_clients.eviction"]
    _, metrics = await get_text(gateway.url + "/metrics")
    assert 'gateway_redis_maxmemory_policy{policy="noeviction"} 1.0' in metrics


def test_refusing_mode_stops_start_up_with_one_line(evicting_redis: RedisProcess) -> None:
    result = run_module(base_env(evicting_redis.url, REDIS_REQUIRE_NOEVICTION="true"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "REDIS_REQUIRE_NOEVICTION" in lines[0] and "allkeys-lru" in lines[0]


def test_refusing_mode_refuses_when_the_policy_cannot_be_read(redis_proc: RedisProcess) -> None:
    """A managed Redis that forbids CONFIG: the policy is unknown, so strict mode refuses."""
    admin = redis_proc.client()
    admin.execute_command("ACL", "SETUSER", "noconfig", "on", ">pw", "~*", "&*", "+@all", "-config")
    try:
        url = f"redis://noconfig:pw@127.0.0.1:{redis_proc.port}/0"
        result = run_module(base_env(url, REDIS_REQUIRE_NOEVICTION="true"))
    finally:
        admin.execute_command("ACL", "DELUSER", "noconfig")
        admin.close()
    assert result.returncode == 2
    assert "maxmemory-policy is unknown" in result.stderr.strip().splitlines()[-1]
