"""Send a client away so that it comes back: close its transport, not its session.

engineio's `disconnect()` sends an Engine.IO CLOSE packet first. Browsers' socket.io
clients reconnect after it (they only see the websocket close), but python-socketio's
client takes the CLOSE packet as "the server does not want me" and stays away. So we
run the session's disconnect handlers, skip the CLOSE packet, and let the socket's
writer flush what is queued and close the websocket: every client sees a transport
close and reconnects after its own randomised delay (to another pod, on a drain; with a
fresh token, on expiry). Long-polling clients find their session gone on the next poll
and reconnect the same way.

Relies on engineio 4.x internals (`AsyncServer.sockets`, `AsyncSocket.close(abort=)`,
the writer ending on a `None` in `AsyncSocket.queue`), pinned in seams/register.py;
`tests/faults/test_rolling_deploy.py` fails if a client stops reconnecting.
"""

from typing import Any


def open_sessions(engineio_server: Any) -> list[str]:
    """The Engine.IO sids of the server's sessions now (a copy: closing changes it)."""
    return list(engineio_server.sockets)


async def close_transport(engineio_server: Any, eio_sid: str) -> None:
    socket = engineio_server.sockets.get(eio_sid)
    if socket is not None:
        await close_socket(engineio_server, socket)


async def close_socket(
    engineio_server: Any, socket: Any, reason: Any = None, *, end_writer: bool = True
) -> None:
    """Run `socket`'s disconnect handlers (with `reason`, engineio's server disconnect by
    default) without a CLOSE packet, let its writer flush and end (unless the caller
    has already stopped it), and forget the session."""
    try:
        await socket.close(wait=False, abort=True, reason=reason)
    finally:
        if end_writer:
            socket.queue.put_nowait(None)
        if engineio_server.sockets.get(socket.sid) is socket:
            del engineio_server.sockets[socket.sid]
