"""python-socketio's local emit on the broadcast fast path.

`FastPathManager.emit` overrides the client manager's *local* emit (seams/register.py):
both an emit on this pod (`AsyncPubSubManager.emit` -> `_handle_emit`) and one arriving
from another python-socketio emitter (the listener's `_handle_emit`) end in
`super().emit(...)` from `AsyncPubSubManager`, which with
`RedisAdapter(AsyncPubSubManager, FastPathManager)` resolves to this class. It encodes the
packet once and hands it to `BroadcastFastPath` (gateway/transport/fastpath.py). Emits
with a callback or a `skip_sid`, and binary ones (`ORDINARY_PATH`), keep python-socketio's
own path. (The gateway's own notifications are delivered from the notification log by
gateway/realtime/delivery.py, on the same fast path.)

tests/gateway/transport/test_fastpath.py checks it end to end.
"""

import contextvars
from typing import Any

from socketio import packet as sio_packet
from socketio.async_manager import AsyncManager

from gateway.transport.fastpath import BroadcastFastPath, BroadcastPacket

# Set while an emit must take python-socketio's own path (a binary emit from another
# python-socketio emitter: the fast path encodes JSON only).
ORDINARY_PATH: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ordinary_path", default=False
)


class FastPathManager(AsyncManager):  # type: ignore[misc]
    """python-socketio's client manager with the fast path in its local emit; `broadcast`
    is set by `gateway.realtime.server.build_socketio_server` (None: python-socketio's
    path)."""

    broadcast: BroadcastFastPath | None = None
    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        fast_path = self.broadcast
        room = to or room
        if (
            fast_path is None
            or callback is not None
            or skip_sid is not None
            or ORDINARY_PATH.get()
        ):
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        if namespace not in self.rooms:
            return
        # The argument list exactly as AsyncManager.emit builds it.
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        # binary=False: what reaches this manager is JSON-decoded (a `server.emit` of
        # JSON, or another emitter's JSON message from the adapter channel; binary
        # ones were sent to the ordinary path above), so python-socketio's recursive
        # search of the arguments for bytes would find none.
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *args], binary=False
        ).encode()
        recipients = (eio_sid for _, eio_sid in self.get_participants(namespace, room))
        fast_path.deliver(recipients, BroadcastPacket(encoded))
