"""`gateway_connected_clients` follows connections, also those closed because their token
expired (the expiry timer forgets its deadline before the disconnect runs)."""

import asyncio
import re

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.gateway import get_text
from tests.support.tokens import mint


async def connected(url: str) -> float:
    _, text = await get_text(f"{url}/metrics")
    match = re.search(r'gateway_connected_clients\{namespace="/data_owner"\} (\S+)', text)
    return float(match.group(1)) if match else 0.0


async def test_the_gauge_goes_down_when_an_expired_token_is_disconnected(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    staying = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    expiring = await RecordingClient(
        gateway.url, "/data_owner", mint("2", None, expires_in=1.5)
    ).connect()
    try:
        assert await connected(gateway.url) == 2
        await asyncio.wait_for(expiring.disconnected.wait(), 5)
        async with asyncio.timeout(5):
            while await connected(gateway.url) != 1:
                await asyncio.sleep(0.05)
        await staying.close()
        async with asyncio.timeout(5):
            while await connected(gateway.url) != 0:
                await asyncio.sleep(0.05)
    finally:
        await staying.close()
        await expiring.close()
