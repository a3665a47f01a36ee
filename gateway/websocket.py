"""engineio's aiohttp websocket driver with permessage-deflate under our control.

engineio builds aiohttp's WebSocketResponse without `compress=`, so deflate is
negotiated whenever a client offers it (every browser does): about 20% more CPU and
4x the memory per connection (FACTS.md). We subclass the driver class and swap it
into the server's driver table; `tests/gateway/test_websocket_driver.py` fails
loudly if an engineio upgrade moves these names.
"""

from typing import Any

from aiohttp.web import WebSocketResponse
from engineio.async_drivers import aiohttp as engineio_aiohttp


def websocket_driver(compress: bool) -> type[Any]:
    class GatewayWebSocket(engineio_aiohttp.WebSocket):  # type: ignore[misc]
        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            request = environ["aiohttp.request"]
            self._sock = WebSocketResponse(
                max_msg_size=self.server.max_http_buffer_size, compress=compress
            )
            await self._sock.prepare(request)
            self.environ = environ
            await self.handler(self)
            return self._sock

    return GatewayWebSocket


def install_websocket_driver(engineio_server: Any, compress: bool) -> None:
    engineio_server._async = dict(engineio_server._async, websocket=websocket_driver(compress))
