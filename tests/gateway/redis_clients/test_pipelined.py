"""The pipelined client (gateway/redis_clients/pipelined.py) against real redis-servers: one
connection for many concurrent commands, replies matched in order, errors mapped as
redis-py maps them, blocking commands kept off the shared connection, a restart and a
password handled, and a deadline on every reply (a SIGSTOPped server answers nothing
while its connections stay open, as a half-open connection does)."""

import asyncio
import hashlib
import inspect
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from redis._parsers.encoders import Encoder
from redis.asyncio.client import PubSub
from redis.asyncio.connection import AbstractConnection, Connection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelManagedConnection
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    DataError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from config import RedisSettings
from gateway.redis_clients import factory as redis_clients
from gateway.redis_clients.factory import SteppedBackoff, redis_client
from gateway.redis_clients.pipelined import PipelinedRedis, pack
from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env, run_module
from tests.support.jobs import Producer, notification
from tests.support.redis_proc import RedisProcess
from tests.support.tokens import mint

# What a deadline may overrun by on this shared 2-core machine (loop and timer latency).
MARGIN = 0.5

# redis-py 7.4.1's code that DeadlinePubSub (gateway/redis_clients/pipelined.py) and
# MasterFollowingConnection (gateway/redis_clients/factory.py) build on.
REDIS_PY_SOURCES = {
    (PubSub, "parse_response"): "edb117d62fc74b41a88fd372e208fd7cd0f39d66437a70fbc507d1a815eeceb1",
    (PubSub, "check_health"): "1c94061ca5825904ab047676a5c990075cc89f217ed3b68d25fd87d61b973002",
    (AbstractConnection, "read_response"): (
        "e760868d15b6ceb9fe8a821850d4a23dd2834340d632da541ec11077609200d0"
    ),
    (AbstractConnection, "send_packed_command"): (
        "baaeabd916209157db40455f034a0bac6fb3e2db902271313e0702bcbc678321"
    ),
    (SentinelManagedConnection, "connect"): (
        "1ba5ea04207af629bf50630312105d6c6b561c83d0dbc7bc025a403faa5a1a46"
    ),
    (SentinelManagedConnection, "connect_to"): (
        "cfd2d5d8a18d71cbb66c85b9e95b3f58fd9f905d72d97208d9c84558797cdbbb"
    ),
    (SentinelManagedConnection, "_connect_retry"): (
        "62b751ba11735f9d4c64f558a2eb601a59b0af757ca73e4788edd5a220b385f5"
    ),
}


def test_redis_py_still_has_what_the_overrides_rely_on() -> None:
    for (owner, name), digest in REDIS_PY_SOURCES.items():
        source = inspect.getsource(getattr(owner, name))
        assert hashlib.sha256(source.encode()).hexdigest() == digest, (
            f"redis-py's {owner.__name__}.{name} changed: review"
            " gateway/redis_clients/pipelined.py and gateway/redis_clients/factory.py"
        )


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


@contextmanager
def frozen(server: RedisProcess) -> Iterator[None]:
    """`server` stopped with SIGSTOP: its connections stay open, nothing is answered
    (and the kernel still accepts new connections), until SIGCONT."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis").start()
    yield server
    server.stop()


async def test_commands_a_frozen_server_never_answers_fail_at_the_deadline(
    own_server: RedisProcess,
) -> None:
    client = pipelined(own_server.url, retry=None, decode_responses=True)
    client.command_timeout = 0.5
    try:
        assert await client.set("frozen:key", "1")
        with frozen(own_server):
            began = time.monotonic()
            async with asyncio.timeout(5):  # without a deadline: forever
                results = await asyncio.gather(
                    *(client.get("frozen:key") for _ in range(20)),
                    client.incr("frozen:counter"),
                    return_exceptions=True,
                )
            elapsed = time.monotonic() - began
            # Every command waiting on the connection failed with it, as redis-py's
            # TimeoutError (which BullMQ's worker and the retries treat as transient).
            assert all(isinstance(result, RedisTimeoutError) for result in results), results
            assert 0.45 <= elapsed < 0.5 + MARGIN, elapsed
            assert not client.is_pipelined()
        # Continued: the next command opens a new connection and is answered.
        async with asyncio.timeout(5):
            assert await client.get("frozen:key") == "1"
        assert client.is_pipelined()
    finally:
        await client.aclose()


async def test_a_command_outlasting_a_freeze_is_retried_on_a_new_connection(
    own_server: RedisProcess,
) -> None:
    client = pipelined(own_server.url, decode_responses=True)  # retries for ~4 s
    client.command_timeout = 0.3
    try:
        before = await client.client_id()
        with frozen(own_server):
            pending = asyncio.create_task(client.client_id())
            done, _ = await asyncio.wait({pending}, timeout=1.0)  # frozen for this long
            assert not done
        async with asyncio.timeout(5):
            after = await pending
        assert after != before  # answered on a connection opened after the deadline
    finally:
        await client.aclose()


def fast_client(
    server: RedisProcess, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> PipelinedRedis:
    """A client as the pod builds it, with bullmq's longest blocking wait shortened to
    1 s so the test need not wait 10 s for a timeout."""
    monkeypatch.setattr(redis_clients, "BLOCKING_WAIT_SECONDS", 1.0)
    client = redis_client(
        RedisSettings(url=server.url, command_timeout_seconds=0.5), decode_responses=True
    )
    assert isinstance(client, PipelinedRedis)
    client.connection_pool.connection_kwargs.update(options)
    return client


async def test_blocking_commands_wait_their_time_but_not_for_a_frozen_server(
    own_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One attempt: the retries would reconnect (the kernel still accepts) and give up
    # the same way, once each.
    client = fast_client(own_server, monkeypatch, retry=Retry(NoBackoff(), retries=0))
    try:
        # The longest blocking wait is not cut (redis-py 8's 5 s default cut bullmq's).
        assert await client.bzpopmin("frozen:zset", timeout=1) is None
        with frozen(own_server):
            began = time.monotonic()
            with pytest.raises(RedisTimeoutError):
                async with asyncio.timeout(10):  # without a read timeout: forever
                    await client.bzpopmin("frozen:zset", timeout=1)
            # The read gives up after the wait plus the deadline, 1.5 s.
            assert 1.5 <= time.monotonic() - began < 1.5 + MARGIN
        async with asyncio.timeout(5):
            await client.zadd("frozen:zset", {"m": 1})
            assert await client.bzpopmin("frozen:zset", timeout=1) == ("frozen:zset", "m", 1.0)
    finally:
        await client.aclose()


async def listen_into(pubsub: Any, received: "asyncio.Queue[Any]") -> None:
    async for message in pubsub.listen():
        if message["type"] == "message":
            await received.put(message["data"])


async def test_a_quiet_subscription_outlives_the_read_timeout_and_a_frozen_one_fails(
    own_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = fast_client(own_server, monkeypatch, health_check_interval=1)
    publisher = pipelined(own_server.url, decode_responses=True)
    pubsub = client.pubsub()
    received: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await pubsub.subscribe("frozen:channel")
        listening = asyncio.create_task(listen_into(pubsub, received))
        # Quiet for longer than the pool's read timeout (1.5 s): still subscribed.
        done, _ = await asyncio.wait({listening}, timeout=3.0)
        assert not done, listening.exception()
        assert await publisher.publish("frozen:channel", "hello") == 1
        assert await asyncio.wait_for(received.get(), 5) == "hello"
        with frozen(own_server):
            began = time.monotonic()
            with pytest.raises(RedisTimeoutError):
                await asyncio.wait_for(listening, 10)
            # The health-check PING is due at most 1 s after the last reply and fails
            # when unanswered for one 0.5 s step (plus up to a step to notice).
            assert time.monotonic() - began < 1 + 0.5 + 0.5 + MARGIN
    finally:
        await pubsub.aclose()
        await client.aclose()
        await publisher.aclose()


def test_a_bad_command_timeout_stops_start_up_with_one_line(redis_url: str) -> None:
    for bad in ("0", "-1", "soon"):
        result = run_module(base_env(redis_url, REDIS_COMMAND_TIMEOUT_SECONDS=bad))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "REDIS_COMMAND_TIMEOUT_SECONDS" in lines[0], lines


async def test_a_pod_whose_redis_freezes_and_continues_delivers_every_job(
    own_server: RedisProcess, gateway_processes: Callable[[dict[str, str]], GatewayProcess]
) -> None:
    """Commands time out and are retried on new connections while Redis is frozen
    (2 s, four deadlines); once it continues, every acknowledged job is delivered."""
    pod = gateway_processes(base_env(own_server.url, REDIS_COMMAND_TIMEOUT_SECONDS="0.5"))
    await pod.started()
    client = await RecordingClient(pod.url, "/data_owner", mint("8", None)).connect()
    producer = Producer(own_server.url)
    acknowledged: list[str] = []

    async def stream() -> None:
        for n in range(150):
            job = f"z-{n}"
            await producer.add("resources:created", notification(["user:8"], job))
            acknowledged.append(job)
            await asyncio.sleep(0.01)  # the stream's pace

    try:
        streaming = asyncio.create_task(stream())
        async with asyncio.timeout(10):
            while len(acknowledged) < 50:
                await asyncio.sleep(0.01)
        with frozen(own_server):
            done, _ = await asyncio.wait({streaming}, timeout=2.0)  # frozen for this long
            assert not done
        await asyncio.wait_for(streaming, 30)
        seen: set[str] = set()
        async with asyncio.timeout(30):
            while not set(acknowledged) <= seen:
                _, payload = await client.next_event(timeout=30)
                seen.add(payload["id"])
        assert pod.process is not None and pod.process.poll() is None
        assert "Traceback" not in pod.log()
    finally:
        await client.close()
        await producer.close()


def test_pack_writes_what_redis_py_writes() -> None:
    """The fast paths (bytes, int, UTF-8 text) pack as redis-py does, and what they
    skip (floats, memoryviews, other encodings) still goes through its encoder."""
    args = ("EVALSHA", "a" * 40, 2, "k:é", b"\x00\xff", 1.5, -7, 2**70, memoryview(b"mv"))
    expected = b"".join(bytes(part) for part in Connection().pack_command(*args))
    utf8 = Encoder("utf-8", "strict", False).encode
    assert pack(utf8, args, utf8=True) == expected == pack(utf8, args)
    latin = Encoder("latin-1", "strict", False).encode
    latin_packed = b"*3\r\n$3\r\nSET\r\n$1\r\n\xe9\r\n$1\r\n1\r\n"
    latin_packed = b"*3\r\n$3\r\nSET\r\n$1\r\n\xe9\r\n$1\r\n1\r\n"
    assert pack(latin, ("SET", "é", 1), utf8=False) == latin_packed
    for bad in (True, None, object()):
        with pytest.raises(DataError):
            pack(utf8, ("SET", "k", bad), utf8=True)
