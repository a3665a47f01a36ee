"""One subscriber connection to one master: `SSUBSCRIBE`/`SUNSUBSCRIBE` written once per
loop iteration, replies read by hiredis as they come.

Each master has its own connection and its own timers, so a master that stops answering
delays nobody else's delivery (redis-py 8.1's cluster pub/sub polls the masters' sockets
in turn, and a frozen one held every other's messages for its socket timeout). Every
command has a deadline: when the oldest unanswered one (a `PING` is sent every
`ping_interval` to have one) is older than `reply_timeout`, the connection is closed and
reported lost, like one reset by the peer.

Replies come in command order, each command's own in one piece: an error (`MOVED`,
`CLUSTERDOWN` ...: the channels were not subscribed), or one confirmation per channel.
The server may also unsubscribe a channel on its own (its slot moved away, or the master
became a replica); such an `sunsubscribe` matches no command of ours and is reported as
`by_server`.
"""

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import hiredis

logger = logging.getLogger(__name__)

Address = tuple[str, int]


class LinkEvents(Protocol):
    def on_message(self, link: "ShardLink", channel: bytes, data: bytes) -> None: ...

    def on_subscribed(self, link: "ShardLink", channels: list[bytes]) -> None: ...

    def on_server_unsubscribed(self, link: "ShardLink", channel: bytes) -> None: ...

    def on_refused(self, link: "ShardLink", channels: Sequence[bytes], error: str) -> None: ...

    def on_lost(self, link: "ShardLink", reason: str) -> None: ...


@dataclass(slots=True)
class _Sent:
    kind: bytes
    due: float
    channels: set[bytes] = field(default_factory=set)
    listed: tuple[bytes, ...] = ()
    reply: "asyncio.Future[Any] | None" = None


def _pack(*args: bytes | str) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class ShardLink(asyncio.Protocol):
    def __init__(
        self, address: Address, events: LinkEvents, ping_interval: float, reply_timeout: float
    ) -> None:
        self.address = address
        self._events = events
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._sent: deque[_Sent] = deque()
        self._outgoing: list[bytes] = []
        self._ping_interval = ping_interval
        self._reply_timeout = reply_timeout
        self._timer: asyncio.TimerHandle | None = None
        self.lost: str | None = None

    @classmethod
    async def open(
        cls,
        address: Address,
        events: LinkEvents,
        *,
        password: str | None = None,
        connect_timeout: float = 2.0,
        ping_interval: float = 1.0,
        reply_timeout: float = 3.0,
    ) -> "ShardLink":
        """Connected (and authenticated) within `connect_timeout`, or raises OSError."""
        loop = asyncio.get_running_loop()
        link: ShardLink | None = None
        try:
            async with asyncio.timeout(connect_timeout):
                _, link = await loop.create_connection(
                    lambda: cls(address, events, ping_interval, reply_timeout), *address
                )
                if password is not None:
                    reply = await link._command(b"AUTH", password)
                    if isinstance(reply, hiredis.ReplyError):
                        raise OSError(f"AUTH refused by {address}: {reply}")
        except TimeoutError as error:
            if link is not None:
                link.close("connect timed out")
            raise OSError(f"no answer from {address} within {connect_timeout:g} s") from error
        except BaseException:
            if link is not None:
                link.close("handshake failed")
            raise
        link._arm()
        return link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def _send(self, entry: _Sent, packed: bytes) -> None:
        if self.lost is not None:
            return
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(packed)
        self._sent.append(entry)

    def _command(self, *args: bytes | str) -> "asyncio.Future[Any]":
        reply: asyncio.Future[Any] = self._loop.create_future()
        self._send(_Sent(b"call", self._due(), reply=reply), _pack(*args))
        return reply

    async def ping(self) -> None:
        """A `PING` and its answer: everything the server sent before it has been read.
        Raises OSError if the connection is lost first."""
        reply = await self._command(b"PING")
        if isinstance(reply, hiredis.ReplyError):
            raise OSError(f"PING refused: {reply}")

    def ssubscribe(self, channels: Sequence[bytes]) -> None:
        """Channels of ONE slot (else the server answers CROSSSLOT)."""
        listed = tuple(channels)
        self._send(_Sent(b"ssubscribe", self._due(), set(listed), listed),
                   _pack(b"SSUBSCRIBE", *listed))

    def sunsubscribe(self, channels: Sequence[bytes]) -> None:
        """Channels of ONE slot."""
        listed = tuple(channels)
        self._send(_Sent(b"sunsubscribe", self._due(), set(listed), listed),
                   _pack(b"SUNSUBSCRIBE", *listed))

    def _due(self) -> float:
        return self._loop.time() + self._reply_timeout

    def _flush(self) -> None:
        if self._transport is not None and self.lost is None and self._outgoing:
            self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def _arm(self) -> None:
        if self.lost is None:
            self._timer = self._loop.call_later(self._ping_interval, self._tick)

    def _tick(self) -> None:
        """Fail the link if its oldest command is overdue; else PING, so there is one."""
        self._timer = None
        if self.lost is not None:
            return
        if self._sent and self._sent[0].due <= self._loop.time():
            self.close(f"no reply within {self._reply_timeout:g} s")
            return
        if not self._sent:
            self._send(_Sent(b"ping", self._due()), _pack(b"PING"))
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        confirmed: list[bytes] = []
        try:
            while (reply := self._reader.gets()) is not False:
                if isinstance(reply, list) and reply and reply[0] == b"smessage":
                    if confirmed:
                        self._events.on_subscribed(self, confirmed)
                        confirmed = []
                    self._events.on_message(self, reply[1], reply[2])
                else:
                    self._reply(reply, confirmed)
        except (hiredis.ProtocolError, IndexError, ValueError) as error:
            self.close(f"unreadable reply: {error!r}")
        if confirmed and self.lost is None:
            self._events.on_subscribed(self, confirmed)

    def _reply(self, reply: Any, confirmed: list[bytes]) -> None:
        head = self._sent[0] if self._sent else None
        kind = reply[0] if isinstance(reply, list) and reply else None
        if kind == b"sunsubscribe" and (
            head is None or head.kind != b"sunsubscribe" or reply[1] not in head.channels
        ):
            self._events.on_server_unsubscribed(self, reply[1])
            return
        if head is None:
            raise ValueError(f"reply to no command: {reply!r}")
        if isinstance(reply, hiredis.ReplyError):
            self._sent.popleft()
            if head.reply is not None:
                head.reply.set_result(reply)
            elif head.kind == b"ssubscribe":
                self._events.on_refused(self, head.listed, str(reply))
            else:
                logger.warning("%s refused %s: %s", self.address, head.kind.decode(), reply)
            return
        if kind in (b"ssubscribe", b"sunsubscribe"):
            head.channels.discard(reply[1])
            if kind == b"ssubscribe":
                confirmed.append(reply[1])
            if head.channels:
                return
        self._sent.popleft()  # the command's last (or only) reply: pong, OK, ...
        if head.reply is not None and not head.reply.done():
            head.reply.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc or 'closed by the server'}")

    def close(self, reason: str) -> None:
        self._fail(reason)
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, reason: str) -> None:
        if self.lost is not None:
            return
        self.lost = reason
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._outgoing.clear()
        for entry in self._sent:
            if entry.reply is not None and not entry.reply.done():
                entry.reply.set_exception(OSError(reason))
        self._sent.clear()
        self._events.on_lost(self, reason)
