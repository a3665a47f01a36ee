"""Real python-socketio clients that record what they receive, to wait on with timeouts."""

import asyncio
import time
from typing import Any

import socketio

# How long no event must arrive for a client to count as quiet: a duplicate emitted with
# the expected events (a job run twice, an emit from two pods) comes well within it.
QUIET_SECONDS = 0.5


class RecordingClient:
    """Connects to one namespace and puts every received event on a queue."""

    def __init__(
        self,
        base_url: str,
        namespace: str,
        token: str | None,
        reconnection: bool = False,
        **connect: Any,
    ) -> None:
        self.base_url = base_url
        self.namespace = namespace
        self.token = token
        self.connect_options = connect
        # With reconnection, the client behaves like a browser's socket.io-client: it
        # reconnects on its own (randomised delay) after a transport close.
        self.sio = socketio.AsyncClient(
            reconnection=reconnection, reconnection_delay=0.5, reconnection_delay_max=2
        )
        self.connects = 0
        self.sio.on("connect", self._on_connect, namespace=namespace)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        # (arrival time, event, payload): stamped when the event arrives, not when read.
        self.arrivals: list[tuple[float, str, Any]] = []
        self.offsets: list[str] = []
        self.disconnected = asyncio.Event()
        self.disconnect_reason: str | None = None
        self.sio.on("*", self._record, namespace=namespace)
        self.sio.on("disconnect", self._on_disconnect, namespace=namespace)

    async def _record(self, event: str, *args: Any) -> None:
        if len(args) == 2 and isinstance(args[1], str):
            # A notification with its offset (connection state recovery) as last argument.
            self.offsets.append(args[1])
            args = args[:1]
        payload = args[0] if len(args) == 1 else list(args)
        self.arrivals.append((time.monotonic(), event, payload))
        await self.events.put((event, payload))

    def _on_connect(self) -> None:
        self.connects += 1

    def _on_disconnect(self, reason: Any = None) -> None:
        self.disconnect_reason = str(reason)
        self.disconnected.set()

    async def connect(self) -> "RecordingClient":
        auth = {"token": self.token} if self.token is not None else None
        await self.sio.connect(
            self.base_url,
            namespaces=[self.namespace],
            auth=auth,
            transports=self.connect_options.pop("transports", ["websocket"]),
            wait_timeout=5,
            **self.connect_options,
        )
        return self

    async def next_event(self, timeout: float = 5.0) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def events_until_quiet(
        self, count: int, timeout: float = 10.0, quiet: float = QUIET_SECONDS
    ) -> list[tuple[str, Any]]:
        """At least `count` events (waiting at most `timeout` for them), then every
        further one until none has come for `quiet` seconds: a duplicate or a stray
        event right behind the expected ones is returned too, for the caller's
        assertions to see. Events that never stop coming fail after `timeout` more."""
        received = []
        async with asyncio.timeout(timeout):
            while len(received) < count:
                received.append(await self.events.get())
        async with asyncio.timeout(timeout):
            while True:
                try:
                    received.append(await asyncio.wait_for(self.events.get(), quiet))
                except TimeoutError:
                    return received

    def assert_nothing_received(self) -> None:
        assert self.events.empty(), f"unexpected events: {self.events._queue}"  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.sio.disconnect()


async def connect_error_message(
    base_url: str, namespace: str, *, auth: Any = None, headers: dict[str, str] | None = None
) -> Any:
    """Connect expecting refusal; return the connect_error data the server sent
    (the `{message}` object a JS client turns into `err.message`)."""
    sio = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()

    async def on_connect_error(data: Any = None) -> None:
        await errors.put(data)

    sio.on("connect_error", on_connect_error, namespace=namespace)
    try:
        await sio.connect(
            base_url,
            namespaces=[namespace],
            auth=auth,
            headers=headers or {},
            transports=["websocket"],
            wait_timeout=5,
        )
    except socketio.exceptions.ConnectionError:
        return await asyncio.wait_for(errors.get(), 5)
    finally:
        await sio.disconnect()
    raise AssertionError("connection was accepted")
