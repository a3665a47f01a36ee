"""The pipelined client (gateway/pipelined_redis.py) against real redis-servers: one
connection for many concurrent commands, replies matched in order, errors mapped as
redis-py maps them, blocking commands kept off the shared connection, a restart and a
password handled."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio.retry import Retry
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    NoScriptError,
    ResponseError,
)

from gateway.pipelined_redis import PipelinedRedis
from gateway.redis_clients import SteppedBackoff
from tests.support.redis_proc import RedisProcess


def pipelined(url: str, **options: object) -> PipelinedRedis:
    defaults: dict[str, object] = {
        "retry": Retry(SteppedBackoff(step=0.1, cap=0.2), retries=20),
        "retry_on_error": [ConnectionError],
        "socket_connect_timeout": 2,
    }
    return PipelinedRedis.from_url(url, **{**defaults, **options})


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[PipelinedRedis]:
    client = pipelined(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_concurrent_commands_share_one_connection_in_order(
    client: PipelinedRedis,
) -> None:
    await client.delete("pipelined:counter")
    results = await asyncio.gather(*(client.incr("pipelined:counter") for _ in range(500)))
    assert sorted(results) == list(range(1, 501))
    ids = await asyncio.gather(*(client.client_id() for _ in range(50)))
    assert len(set(ids)) == 1
    # Nothing went through redis-py's pool.
    pool = client.connection_pool
    assert not pool._available_connections and not pool._in_use_connections
    assert client.is_pipelined()


async def test_errors_are_mapped_and_leave_the_connection_usable(
    client: PipelinedRedis,
) -> None:
    await client.set("pipelined:text", "x")
    with pytest.raises(NoScriptError):
        await client.evalsha("0" * 40, 0)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await client.lpush("pipelined:text", "y")
    assert await client.get("pipelined:text") == "x"
    script = client.register_script("return ARGV[1] .. KEYS[1]")  # EVALSHA, NOSCRIPT, load
    assert await script(keys=["k"], args=["v"]) == "vk"
    assert await client.client_setname("gateway-test")
    assert await client.client_getname() == "gateway-test"


async def test_replies_are_bytes_unless_decoding_was_asked(redis_url: str) -> None:
    raw = pipelined(redis_url)
    try:
        await raw.set("pipelined:bytes", b"\xff\x00")
        assert await raw.get("pipelined:bytes") == b"\xff\x00"
    finally:
        await raw.aclose()


async def test_blocking_commands_do_not_hold_up_the_shared_connection(
    client: PipelinedRedis,
) -> None:
    await client.delete("pipelined:zset")
    waiting = asyncio.create_task(client.bzpopmin("pipelined:zset", timeout=5))
    async with asyncio.timeout(1):
        assert await client.ping()
        await client.zadd("pipelined:zset", {"member": 1})
    assert await waiting == ("pipelined:zset", "member", 1.0)


async def test_a_restarted_server_is_reconnected(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis").start()
    client = pipelined(server.url, decode_responses=True)
    try:
        assert await client.set("before", "1")
        server.stop()
        restarted = RedisProcess(tmp_path / "redis", port=server.port)
        pending = asyncio.create_task(client.set("after", "2"))  # retried until it's back
        restarted.start()
        async with asyncio.timeout(10):
            assert await pending
        assert await client.get("after") == "2"
    finally:
        await client.aclose()
        server.stop()
        restarted.stop()


async def test_password_and_database_are_sent_first(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis", "--requirepass", "s3cret").start()
    url = f"redis://:s3cret@127.0.0.1:{server.port}/3"
    good, bad = pipelined(url, decode_responses=True), pipelined(
        f"redis://:wrong@127.0.0.1:{server.port}/0", retry=None
    )
    try:
        await good.set("in-db-3", "yes")
        assert (await good.execute_command("CLIENT INFO"))["db"] == 3
        with pytest.raises(AuthenticationError):
            await bad.ping()
    finally:
        await good.aclose()
        await bad.aclose()
        server.stop()
