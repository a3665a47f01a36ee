"""Clients that misbehave: they can't make the pod act for them, flood it, hog it with
unfinished handshakes, or outgrow its connection cap; each is counted and cut off
while well-behaved clients keep being served."""

import asyncio
import time

import aiohttp
import pytest

from gateway.pod.state import SOCKETIO
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.gateway import get_text
from tests.support.jobs import Producer, notification
from tests.support.raw_client import RawClient
from tests.support.tokens import mint


async def metric(url: str, line_start: str) -> float:
    _, text = await get_text(url + "/metrics")
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_client_events_are_ignored_and_cannot_cancel_token_expiry(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    raw = RawClient(gateway.url)
    try:
        await raw.open()
        joined = await raw.join("/data_owner", mint("8", None, expires_in=2))
        assert joined.startswith("40/data_owner,")
        # A raw client names the reserved handlers; python-socketio would run them.
        await raw.send('42/data_owner,["disconnect","x"]')
        await raw.send('42/data_owner,["connect",{"HTTP_AUTHORIZATION":"x"}]')
        await raw.send('42/data_owner,["join","department:ALL"]')
        await raw.send("43/data_owner,1[]")  # an ack nobody asked for
        async with asyncio.timeout(5):
            while await metric(gateway.url, 'gateway_client_messages_total{outcome="ignored"}') < 4:
                await asyncio.sleep(0.02)
        # Still subscribed to its own room only, and the expiry still fires.
        await producer.add("resources:created", notification(["department:ALL"], "no"))
        await producer.add("resources:created", notification(["user:8"], "yes"))
        event = await raw.receive_text()
        assert '"yes"' in event and '"no"' not in event
        started = time.monotonic()
        await raw.closed_by_server(timeout=5)
        assert time.monotonic() - started < 4
    finally:
        await raw.close()


async def test_a_flooding_client_is_dropped_and_others_are_served(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway(
        GATEWAY_CLIENT_MESSAGE_RATE="5", GATEWAY_CLIENT_MESSAGE_BURST="20"
    )
    good = await RecordingClient(gateway.url, "/data_owner", mint("2", None)).connect()
    raw = RawClient(gateway.url)
    try:
        await raw.open()
        await raw.join("/data_owner", mint("3", None))
        for n in range(200):
            try:
                await raw.send(f'42/data_owner,["spam",{n}]')
            except ConnectionError:
                break
        await raw.closed_by_server()
        assert (
            await metric(gateway.url, 'gateway_clients_dropped_total{reason="rate_limited"}') == 1
        )
        await producer.add("resources:created", notification(["user:2"], "still-here"))
        _, payload = await good.next_event()
        assert payload["id"] == "still-here"
    finally:
        await raw.close()
        await good.close()


async def test_a_connection_that_joins_no_namespace_is_closed(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(GATEWAY_HANDSHAKE_TIMEOUT="0.5")
    idle = RawClient(gateway.url)
    joined = RawClient(gateway.url)
    try:
        await idle.open()
        await joined.open()
        await joined.join("/data_owner", mint("5", None))
        await idle.closed_by_server(timeout=5)
        assert (
            await metric(gateway.url, 'gateway_clients_dropped_total{reason="handshake_timeout"}')
            == 1
        )
        # The one that joined stays: it still answers.
        await joined.send('42/data_owner,["noop"]')
        assert joined.ws is not None and not joined.ws.closed
    finally:
        await idle.close()
        await joined.close()


async def test_connections_beyond_the_cap_are_refused_clearly(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(GATEWAY_MAX_CONNECTIONS="2")
    clients = [
        await RecordingClient(gateway.url, "/data_owner", mint(str(n), None)).connect()
        for n in range(2)
    ]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(gateway.url + "/socket.io/?EIO=4&transport=polling") as answer:
                assert answer.status == 401
                assert await answer.json() == {"message": "Server at capacity"}
            # CONTRACT §5: readiness is about Redis and the consumers, not the cap.
            async with session.get(gateway.url + "/readyz") as ready:
                assert ready.status == 200
        assert (
            await metric(gateway.url, 'gateway_connections_refused_total{reason="capacity"}') == 1
        )
        # A place freed is a place taken.
        await clients.pop().close()
        async with asyncio.timeout(5):
            while len(gateway.app[SOCKETIO].eio.sockets) >= 2:
                await asyncio.sleep(0.02)
        clients.append(
            await RecordingClient(gateway.url, "/data_owner", mint("9", None)).connect()
        )
    finally:
        for client in clients:
            await client.close()


async def test_an_oversized_client_message_closes_the_connection(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    raw = RawClient(gateway.url)
    try:
        await raw.open()
        await raw.join("/data_owner", mint("5", None))
        await raw.send('42/data_owner,["big","' + "x" * 100_000 + '"]')
        await raw.closed_by_server()
    finally:
        await raw.close()


@pytest.mark.parametrize(
    ("allowed", "origin", "accepted"),
    [
        ("https://app.example.com", "https://app.example.com", True),
        ("https://app.example.com", "https://evil.example.com", False),
        ("", "https://evil.example.com", False),
    ],
)
async def test_cors_is_closed_unless_configured(
    start_gateway: StartGateway, allowed: str, origin: str, accepted: bool
) -> None:
    gateway = await start_gateway(CORS_ALLOWED_ORIGINS=allowed)
    async with aiohttp.ClientSession() as session:
        async with session.get(
            gateway.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
        ) as answer:
            assert (answer.status == 200) is accepted
            if accepted:
                assert answer.headers["Access-Control-Allow-Origin"] == origin
            else:
                assert "Access-Control-Allow-Origin" not in answer.headers
    raw = RawClient(gateway.url)
    try:
        if accepted:
            await raw.open(Origin=origin)
        else:
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await raw.open(Origin=origin)
    finally:
        await raw.close()
