"""A hand-driven Engine.IO/Socket.IO websocket client, for what well-behaved clients
never do: flood, send reserved event names, skip the namespace handshake."""

import asyncio
import json
from typing import Any

import aiohttp


class RawClient:
    def __init__(self, base_url: str) -> None:
        self.url = base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.session = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self, **headers: str) -> dict[str, Any]:
        """The Engine.IO handshake; returns the OPEN packet's data."""
        self.ws = await self.session.ws_connect(self.url, headers=headers, autoping=False)
        first = await self.receive_text()
        assert first.startswith("0"), first
        opened: dict[str, Any] = json.loads(first[1:])
        return opened

    async def join(self, namespace: str, token: str) -> str:
        """The Socket.IO CONNECT to `namespace`; returns the answer packet."""
        await self.send(f"40{namespace},{json.dumps({'token': token})}")
        return await self.receive_text()

    async def send(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def receive_text(self, timeout: float = 5.0) -> str:
        """The next text frame, answering Engine.IO pings on the way."""
        assert self.ws is not None
        while True:
            message = await self.ws.receive(timeout)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"websocket {message.type.name}: {message.data!r}")
            if message.data == "2":
                await self.ws.send_str("3")
                continue
            return str(message.data)

    async def closed_by_server(self, timeout: float = 5.0) -> None:
        """Until the server closes the connection (frames before that are skipped)."""
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR
                ):
                    return

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()
