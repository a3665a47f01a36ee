"""An emit with bytes from another python-socketio emitter (a write-only
`AsyncRedisManager` on the adapter channel) reaches the clients: the fast path encodes
JSON only, so such messages take python-socketio's own path, attachments and all."""

import asyncio
from typing import Any

import socketio

from tests.conftest import StartGateway
from tests.support.tokens import mint


async def test_bytes_from_a_write_only_emitter_reach_the_client(
    start_gateway: StartGateway, redis_url: str
) -> None:
    gateway = await start_gateway()
    received: asyncio.Queue[Any] = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False)

    async def on_blob(payload: Any) -> None:
        await received.put(payload)

    sio.on("blob", on_blob, namespace="/data_owner")
    emitter = socketio.AsyncRedisManager(redis_url, write_only=True)
    try:
        await sio.connect(
            gateway.url, namespaces=["/data_owner"], transports=["websocket"],
            auth={"token": mint("9", None)}, wait_timeout=5,
        )
        await emitter.emit(
            "blob", {"bytes": b"\x00\x01\xff", "n": 1}, room="user:9", namespace="/data_owner"
        )
        await emitter.emit("blob", {"n": 2}, room="user:9", namespace="/data_owner")
        first = await asyncio.wait_for(received.get(), 5)
        second = await asyncio.wait_for(received.get(), 5)
        assert first == {"bytes": b"\x00\x01\xff", "n": 1}
        assert second == {"n": 2}
    finally:
        await sio.disconnect()
        if emitter.redis is not None:  # python-socketio has no close for a write-only one
            await emitter.pubsub.aclose()
            await emitter.redis.aclose()
