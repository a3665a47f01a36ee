"""A redis-py asyncio client that sends its commands over one pipelined connection.

Why: redis-py's asyncio client checks a connection out of its pool for every command,
health-checks it (`can_read_destructive`), packs, writes, reads and checks it back in:
py-spy put a third of a saturated consumer's CPU there, for two or three commands per
job (`moveToFinished`, the adapter's `PUBLISH`, the throttle's `EVALSHA`). Node's
ioredis, which BullMQ and the Socket.IO Redis adapter use, keeps one connection per
client and pipelines every command on it. So does this client: a command is packed,
appended to the bytes written at the end of the current loop iteration (one `write`
for all commands issued in it), and answered by a future that the connection's
protocol resolves, in order, as hiredis parses the replies.

It is a `redis.asyncio.Redis`, so BullMQ's scripts and every command method work
unchanged; only `execute_command` goes another way. Commands that block or hold state
on their connection (`BZPOPMIN`, `WATCH`, `SELECT` ...) and those asking for raw bytes
keep the pool, as do pipelines and pub/sub, which never call `execute_command`.
Retries follow the pool clients': on a lost connection a command is retried after the
same stepped backoff; behind Sentinel or on a Redis Cluster (the master of the queue
prefix's slot, gateway/redis_clients/slot_master.py) the master is looked up again
before each connect, and a reply that says it is no longer the master (`READONLY`; on a
cluster also `MOVED`, `ASK`, `CLUSTERDOWN`, `TRYAGAIN`) drops the connection like a lost
one, as redis-py's Sentinel connections do.

Every reply has a deadline (`command_timeout`, REDIS_COMMAND_TIMEOUT_SECONDS): when
the oldest command waiting on the connection has had no reply for that long, the
connection is failed (every command waiting on it raises redis-py's `TimeoutError`)
and the retry opens a new one. Without it a half-open connection (a frozen Redis, a
network path dropped without a reset) held job completion, lock renewal and publishing
until TCP gave up, minutes later. Pool connections have redis-py's `socket_timeout`
instead (gateway/redis_clients/factory.py), and pub/sub, which waits for messages as long
as there are none, reads in steps and fails only when its health-check PING goes
unanswered for that long (`DeadlinePubSub`).

What it overrides, copies and relies on of redis-py is listed, pinned by hash, in
seams/register.py.
"""

import asyncio
import inspect
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis._parsers import BaseParser
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import Connection, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.utils import str_if_bytes

from gateway.redis_clients.slot_master import MASTER_MOVED_ERRORS, MasterLookup, master_moved

# Commands that block their connection or change its state: on the shared one they
# would stall or alter every other command.
POOL_COMMANDS = frozenset({
    "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP",
    "XREAD", "XREADGROUP", "WAIT", "WAITAOF", "WATCH", "UNWATCH", "MULTI", "EXEC",
    "DISCARD", "SELECT", "AUTH", "HELLO", "RESET", "CLIENT REPLY", "CLIENT TRACKING",
    "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "QUIT", "SWAPDB", "READONLY",
})
_NEVER_DECODE = "NEVER_DECODE"
_EMPTY_RESPONSE = "EMPTY_RESPONSE"
_EMPTY = object()


class _Link(asyncio.Protocol):
    """One connection: bytes out once per loop iteration, replies matched in order,
    each within `timeout` seconds of its command (None: no deadline)."""

    def __init__(self, reader: hiredis.Reader, timeout: float | None = None) -> None:
        self._reader = reader
        # (the caller's future, when its reply is due), in the order sent.
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._outgoing: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        # One timer at a time, for the oldest command: replies come in order, so if it
        # is answered in time, the commands after it are checked when it fires again.
        self._timer: asyncio.TimerHandle | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def send(self, packed: bytes) -> "asyncio.Future[Any]":
        if self.lost is not None:
            raise RedisConnectionError(f"Redis connection lost: {self.lost}")
        future: asyncio.Future[Any] = self._loop.create_future()
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(packed)
        if self._timeout is None:
            self._waiting.append((future, 0.0))
            return future
        due = self._loop.time() + self._timeout
        self._waiting.append((future, due))
        if self._timer is None:
            self._timer = self._loop.call_at(due, self._check_deadline)
        return future

    def _check_deadline(self) -> None:
        self._timer = None
        if self.lost is not None or not self._waiting:
            return
        _, due = self._waiting[0]
        # Timers may fire up to the clock's resolution early.
        if due <= self._loop.time() + 0.001:
            self.close(RedisTimeoutError(f"no reply from Redis within {self._timeout:g} s"))
        else:
            self._timer = self._loop.call_at(due, self._check_deadline)

    def _flush(self) -> None:
        if self._transport is not None and self.lost is None and self._outgoing:
            self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        try:
            while (reply := reader.gets()) is not False:
                future, _ = waiting.popleft()
                if future.done():  # its caller was cancelled
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (InvalidResponse, IndexError) as error:
            self.close(RedisConnectionError(f"unreadable reply from Redis: {error!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Redis connection lost: {exc or 'closed by server'}"))

    def close(self, reason: Exception) -> None:
        self._fail(reason)
        if self._transport is not None:
            self._transport.close()

    def _fail(self, reason: Exception) -> None:
        if self.lost is None:
            self.lost = reason
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._outgoing.clear()
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(self.lost)


def pack(encode: Callable[[Any], bytes], args: tuple[Any, ...], utf8: bool = False) -> bytes:
    """RESP for one command, as redis-py packs it (a command name with a space in it
    is two arguments: "CLIENT SETNAME").

    bytes and int, and with `utf8` (the client encodes text as strict UTF-8) str, are
    packed here: most arguments, in half the time of a call to redis-py's encoder each
    (py-spy: 11% of a consumer pod's CPU in `pack`). Anything else goes through `encode`,
    its errors (bool, None ...) included; `type() is` keeps bool, an int, out."""
    name = args[0]
    if isinstance(name, str) and " " in name:
        args = (*name.split(), *args[1:])
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        kind = type(arg)
        if kind is bytes:
            data = arg
        elif kind is str and utf8:
            data = arg.encode()
        elif kind is int:
            data = b"%d" % arg
        else:
            data = encode(arg)
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class PipelinedRedis(Redis):
    """Built like `Redis` (`from_url`, or by a Sentinel's `master_for`); retries with the
    `retry` it was given, as the pool's connections would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Seconds a reply may take (None: no deadline); set after construction, since
        # a Sentinel's `master_for` passes keyword arguments to the pool, not here.
        self.command_timeout: float | None = None
        self._link: _Link | None = None
        self._opening: asyncio.Lock | None = None
        self._client_name: str | None = None
        self._encoder: Callable[[Any], bytes] | None = None
        self._utf8 = False
        # TLS and unix sockets keep redis-py's own connections (not measured here).
        connection_class = self.connection_pool.connection_class
        self._pipelines = issubclass(connection_class, Connection) and not issubclass(
            connection_class, SSLConnection
        )

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        name = args[0]
        if not self._pipelines or name in POOL_COMMANDS or _NEVER_DECODE in options:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        if name == "CLIENT SETNAME":
            self._client_name = str_if_bytes(args[1])
        packed = pack(self._encode(), args, self._utf8)
        retry = self.get_retry()
        if retry is None:
            reply = await self._round_trip(packed, options)
        else:
            reply = await retry.call_with_retry(
                lambda: self._round_trip(packed, options), self._lost
            )
        if reply is _EMPTY:
            return options[_EMPTY_RESPONSE]
        options.pop(_EMPTY_RESPONSE, None)
        options.pop("keys", None)
        callbacks = self.response_callbacks
        if name in callbacks:
            result = callbacks[name](reply, **options)
            return await result if inspect.isawaitable(result) else result
        return reply

    def _encode(self) -> Callable[[Any], bytes]:
        """The pool's encoder, built once (redis-py builds one per call) on the first
        command, after any change to the client's encoding settings."""
        if self._encoder is None:
            encoder = self.connection_pool.get_encoder()  # type: ignore[no-untyped-call]
            encoding = encoder.encoding.lower().replace("-", "").replace("_", "")
            self._utf8 = encoding == "utf8" and encoder.encoding_errors == "strict"
            self._encoder = encoder.encode
        return self._encoder

    async def _round_trip(self, packed: bytes, options: dict[str, Any]) -> Any:
        link = self._link
        if link is None or link.lost is not None:
            link = await self._open()
        try:
            return await link.send(packed)
        except MASTER_MOVED_ERRORS as error:
            if not isinstance(self.connection_pool, MasterLookup):
                raise
            # A demoted master (READONLY), or on a cluster the slot moved or a failover
            # in progress (MOVED, ASK, CLUSTERDOWN, TRYAGAIN): the command did not run.
            # Look the master up again, as redis-py's Sentinel connections do, and let
            # the retry go there (the retry's `_lost` drops this link).
            raise master_moved(error) from None
        except ResponseError:
            if _EMPTY_RESPONSE in options:
                return _EMPTY
            raise

    async def _lost(self, error: Exception) -> None:
        self._drop(error)

    def _drop(self, reason: Exception) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close(reason)

    async def _open(self) -> _Link:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            link = self._link
            if link is not None and link.lost is None:
                return link
            self._link = link = await self._connect()
            return link

    async def _connect(self) -> _Link:
        settings = self.connection_pool.connection_kwargs
        pool = self.connection_pool
        if isinstance(pool, MasterLookup):  # Sentinel's master, or a cluster slot's
            host, port = await pool.get_master_address()
        else:
            host, port = settings.get("host", "localhost"), settings.get("port", 6379)
        reader_options: dict[str, Any] = {
            "protocolError": InvalidResponse,
            "replyError": BaseParser.parse_error,
        }
        if settings.get("decode_responses"):
            reader_options["encoding"] = settings.get("encoding", "utf-8")
            reader_options["errors"] = settings.get("encoding_errors", "strict")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(settings.get("socket_connect_timeout")):
                _, link = await loop.create_connection(
                    lambda: _Link(hiredis.Reader(**reader_options), self.command_timeout),
                    host,
                    port,
                )
                try:
                    await self._handshake(link, settings)
                except BaseException as error:  # wrong password, cancelled ...
                    link.close(RedisConnectionError(f"handshake failed: {error!r}"))
                    raise
        except OSError as error:
            raise RedisConnectionError(f"cannot connect to Redis at {host}:{port}: {error}") from (
                error
            )
        except TimeoutError as error:
            raise RedisTimeoutError(f"timed out connecting to Redis at {host}:{port}") from error
        return link

    async def _handshake(self, link: _Link, settings: dict[str, Any]) -> None:
        encode = self._encode()
        steps: list[tuple[Any, ...]] = []
        password, username = settings.get("password"), settings.get("username")
        if password is not None:
            steps.append(("AUTH", username, password) if username else ("AUTH", password))
        if settings.get("db"):
            steps.append(("SELECT", settings["db"]))
        if self._client_name:
            steps.append(("CLIENT SETNAME", self._client_name))
        replies = [link.send(pack(encode, step)) for step in steps]
        for reply in replies:
            await reply

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        self._drop(RedisConnectionError("client closed"))
        await super().aclose(close_connection_pool)

    def pubsub(self, **kwargs: Any) -> "DeadlinePubSub":
        return DeadlinePubSub(
            self.connection_pool,
            event_dispatcher=self._event_dispatcher,
            reply_timeout=self.command_timeout,
            **kwargs,
        )

    def is_pipelined(self) -> bool:
        """For readiness and tests: a connection of its own is open."""
        return self._link is not None and self._link.lost is None


class DeadlinePubSub(PubSub):
    """redis-py's `PubSub`, for a pool whose connections have a `socket_timeout`.

    `listen()` would read with that timeout and tear down a subscription that is merely
    quiet. Here a blocking read is a loop of reads of at most `reply_timeout` seconds:
    each step lets redis-py send its health-check PING (`health_check_interval`), and
    when nothing, not even that PING's reply, has arrived for the interval plus
    `reply_timeout`, the connection is taken for dead and `TimeoutError` raised, as a
    command without a reply would be. Overrides `parse_response` (public, but called
    by `listen()` with `block=True`; redis-py 7.4) and reads the connection's
    `next_health_check`, which redis-py moves forward on every reply it reads.
    """

    def __init__(self, *args: Any, reply_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reply_timeout = reply_timeout

    async def parse_response(  # the overridden signature
        self, block: bool = True, timeout: float = 0  # noqa: ASYNC109
    ) -> Any:
        step = self._reply_timeout
        if not block or step is None:
            return await super().parse_response(block=block, timeout=timeout)
        loop = asyncio.get_running_loop()
        while True:
            response = await super().parse_response(block=False, timeout=step)
            if response is not None:
                return response
            connection = self.connection
            interval = getattr(connection, "health_check_interval", 0)
            last_due = getattr(connection, "next_health_check", 0.0)
            if interval and loop.time() > last_due + step:
                # The PING sent once `last_due` passed has had no reply for `step`.
                if connection is not None:
                    await connection.disconnect(nowait=True)
                raise RedisTimeoutError(
                    f"no reply from Redis to the subscription's PING within {step:g} s"
                )
