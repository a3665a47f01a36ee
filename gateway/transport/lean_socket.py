"""engineio's per-connection socket without the tasks an idle connection doesn't need.

engineio 4.15 keeps, per connection, besides aiohttp's request task: a task sleeping
until the next ping (`_send_ping`), a writer task, and, on websocket, a task for each
`ws.wait()` of the receive loop, awaited through `asyncio.wait_for` (tracemalloc: a
task with its frames and its entry in asyncio's task set is 1.2 to 1.5 KB). Here:

- pings are sent by one timer for all connections (`PingTimers`, the same heap as the
  token expiry's): when a socket's ping is due its PING is queued, as `_send_ping`
  does after its sleep;
- the websocket receive loop awaits `ws.wait()` in the request's own task, bounded by
  `asyncio.timeout` (a timer handle, no task), with engineio's upgrade handshake and
  loop otherwise as they are.

The writer task stays: the broadcast fast path's ordering rests on it
(gateway/transport/fastpath.py). `GatewayServer` (gateway/realtime/server.py) turns each
new socket into a `LeanSocket` in its connect handler, before engineio schedules the first
ping. `_websocket_handler` below is engineio 4.15.1's with the receive loop changed; it,
`schedule_ping` and `_send_ping` are pinned by hash in seams/register.py.
"""

import asyncio
import time
from typing import Any

from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket

from gateway.transport.expiry import ExpiryTimers


class PingTimers:
    """Due pings of all sockets of one engineio server."""

    def __init__(self, engineio_server: Any) -> None:
        self._server = engineio_server
        self._due = ExpiryTimers(self._ping)

    def schedule(self, sid: str) -> None:
        self._due.add(sid, self._server.ping_interval)

    def forget(self, sid: str) -> None:
        self._due.remove(sid)

    def close(self) -> None:
        self._due.close()

    def _ping(self, sid: str) -> None:
        socket = self._server.sockets.get(sid)
        if socket is None or socket.closing or socket.closed:
            return
        socket.last_ping = time.time()
        socket.queue.put_nowait(packet.Packet(packet.PING))


class LeanSocket(AsyncSocket):  # type: ignore[misc]
    ping_timers: PingTimers  # set by GatewayServer
    last_ping: float | None
    connected: bool
    upgrading: bool
    upgraded: bool

    def schedule_ping(self) -> None:
        # As engineio: only once the previous ping was answered.
        if self.last_ping:
            self.last_ping = None
            self.ping_timers.schedule(self.sid)

    async def _websocket_handler(self, ws: Any) -> None:  # noqa: C901 (engineio's)
        """Engine.IO handler for websocket transport."""
        server = self.server

        async def websocket_wait() -> Any:
            data = await ws.wait()
            if data and len(data) > server.max_http_buffer_size:
                raise ValueError("packet is too large")
            return data

        if self.connected:
            # the socket was already connected, so this is an upgrade
            self.upgrading = True  # hold packet sends during the upgrade
            try:
                pkt = await websocket_wait()
            except OSError:  # pragma: no cover
                return
            decoded_pkt = packet.Packet(encoded_packet=pkt)
            if decoded_pkt.packet_type != packet.PING or decoded_pkt.data != "probe":
                server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                self.upgrading = False
                return
            await ws.send(packet.Packet(packet.PONG, data="probe").encode())
            await self.queue.put(packet.Packet(packet.NOOP))  # end poll
            try:
                pkt = await websocket_wait()
            except OSError:  # pragma: no cover
                self.upgrading = False
                return
            decoded_pkt = packet.Packet(encoded_packet=pkt)
            if decoded_pkt.packet_type != packet.UPGRADE:
                self.upgraded = False
                server.logger.info(
                    "%s: Failed websocket upgrade, expected UPGRADE packet, "
                    "received %s instead.", self.sid, pkt,
                )
                self.upgrading = False
                return
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        async def writer() -> None:
            while True:
                packets = None
                try:
                    packets = await self.poll()
                except exceptions.QueueEmpty:
                    break
                if not packets:
                    break  # empty packet list returned -> connection closed
                try:
                    for pkt in packets:
                        await ws.send(pkt.encode())
                except Exception:
                    break
            await ws.close()

        writer_task = asyncio.ensure_future(writer())
        server.logger.info("%s: Upgrade to websocket successful", self.sid)

        silence_limit = server.ping_interval + server.ping_timeout
        while True:
            try:
                async with asyncio.timeout(silence_limit):
                    p = await websocket_wait()
            except BaseException:  # as engineio: timeout, cancel, closed, too large
                break
            if p is None:
                break  # connection closed by client
            pkt = packet.Packet(encoded_packet=p)
            try:
                await self.receive(pkt)
            except exceptions.UnknownPacketError:  # pragma: no cover
                pass
            except exceptions.SocketIsClosedError:  # pragma: no cover
                server.logger.info("Receive error -- socket is closed")
                break
            except Exception:  # pragma: no cover
                server.logger.exception("Unknown receive error")
            if self.closed:
                # Closed by what it sent (a client over its rate limit): engineio's loop
                # yielded to the writer, which closes the websocket, before reading on;
                # this one would read on through what the client has queued up.
                break

        await self.queue.put(None)  # unlock the writer task so it can exit
        await asyncio.wait_for(writer_task, timeout=None)
        await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
