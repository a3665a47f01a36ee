"""A hand-driven websocket client that joins a namespace and can then stop reading,
and a bounded poll of pod state: for the back-pressure and fast-path tests."""

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

import aiohttp

CLOSED_TYPES = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


def _small_receive_buffer(addr_info: Any) -> socket.socket:
    """aiohttp's socket factory: SO_RCVBUF must be set before connect to shrink the
    TCP window the client offers."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family, type_, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


class StalledClient:
    """A websocket client that joins a namespace by hand and can then stop reading.

    Once it stops calling `receive`, aiohttp buffers up to 128 KiB for it and then stops
    reading the socket, so the window closes and the server's writes back up."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
        )
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.eio_sid = ""

    async def join(self, namespace: str, token: str) -> "StalledClient":
        self.ws = await self.session.ws_connect(self.url, autoping=False)
        opening = await self.ws.receive_str(timeout=5)
        assert opening.startswith("0{"), opening
        self.eio_sid = json.loads(opening[1:])["sid"]
        await self.ws.send_str(f"40{namespace},{json.dumps({'token': token})}")
        answer = await self.ws.receive_str(timeout=5)
        assert answer.startswith(f"40{namespace},"), answer
        return self

    async def next_event(self, timeout: float = 10.0) -> list[Any]:
        """The next Socket.IO EVENT's [name, payload], answering pings on the way."""
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                text = await self.ws.receive_str()
                if text == "2":
                    await self.ws.send_str("3")
                elif text.startswith("42"):
                    event: list[Any] = json.loads(text[text.index(",") + 1 :])
                    return event

    async def read_until_closed(self, timeout: float = 10.0) -> tuple[int, aiohttp.WSMsgType]:
        """Read again: how many frames were still in the buffers, and how it ended."""
        assert self.ws is not None
        frames = 0
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type in CLOSED_TYPES:
                    return frames, message.type
                frames += 1

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll pod state that has no event of its own, bounded in time."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None
