"""permessage-deflate is off unless GATEWAY_WEBSOCKET_COMPRESSION turns it on.

We replace engineio's aiohttp websocket driver (gateway/websocket.py); if an engineio
upgrade renames what we rely on, these tests fail loudly instead of compression
silently coming back.
"""

import aiohttp
from engineio.async_drivers import aiohttp as engineio_aiohttp

from gateway.state import SOCKETIO
from gateway.websocket import websocket_driver
from tests.conftest import StartGateway


async def _negotiated_compression(base_url: str) -> int:
    url = f"{base_url}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, compress=15) as ws:
        opening = await ws.receive_str()
        assert opening.startswith("0{")  # Engine.IO OPEN packet
        return ws.compress


async def test_deflate_is_refused_by_default(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    assert await _negotiated_compression(gateway.url) == 0


async def test_deflate_can_be_turned_on(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(GATEWAY_WEBSOCKET_COMPRESSION="true")
    assert await _negotiated_compression(gateway.url) == 15


async def test_engineio_still_has_the_driver_we_replace(start_gateway: StartGateway) -> None:
    assert callable(engineio_aiohttp.WebSocket.__call__)
    assert engineio_aiohttp._async["websocket"] is engineio_aiohttp.WebSocket
    gateway = await start_gateway()
    installed = gateway.app[SOCKETIO].eio._async["websocket"]
    assert issubclass(installed, engineio_aiohttp.WebSocket)
    assert installed.__name__ == websocket_driver(False).__name__
