"""Hostile tokens against a real gateway (in-process, real Redis) and real clients: each
is refused with exactly one of the contract's two messages, every refusal is counted,
and the gateway goes on serving valid clients."""

import asyncio
import json
import time
from typing import Any

import aiohttp
import jwt
import pytest
import socketio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import StartGateway
from tests.fuzz.tokens import ALG_NONE_VARIANTS, b64, bomb
from tests.support.clients import RecordingClient
from tests.support.gateway import get_text
from tests.support.jobs import Producer, notification
from tests.support.tokens import SECRET, mint

INVALID = {"message": "Invalid token"}
MISSING = {"message": "Authentication failed"}
FINDINGS = "docs/fuzz-findings.md"


def _forged(header: bytes, payload: bytes, secret: bytes = SECRET.encode()) -> str:
    import hashlib
    import hmac

    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _nested_list(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def hostile_auth() -> list[tuple[str, Any, dict[str, str]]]:
    exp = time.time() + 3600
    claims = json.dumps({"sub": "1", "exp": exp}).encode()
    return [
        ("60 KB token", {"token": "a" * 60_000}, INVALID),
        ("60 KB of dots", {"token": "." * 60_000}, INVALID),
        ("number", {"token": 12345}, INVALID),
        ("float", {"token": 1.5}, INVALID),
        ("true", {"token": True}, INVALID),
        ("list holding a valid token", {"token": [mint("1")]}, INVALID),
        ("object holding a valid token", {"token": {"token": mint("1")}}, INVALID),
        ("list nested 200 deep", {"token": _nested_list(200)}, INVALID),
        ("header bomb", {"token": _forged(bomb(2_500), claims)}, INVALID),
        ("header bomb, object", {"token": _forged(bomb(1_500, "{"), claims)}, INVALID),
        ("payload bomb, signed", {"token": _forged(b'{"alg":"HS256"}', bomb(2_500))}, INVALID),
        *[
            (f"alg {alg}", {"token": _forged(json.dumps({"alg": alg}).encode(), claims)}, INVALID)
            for alg in ALG_NONE_VARIANTS[::5]
        ],
        ("alg none, no signature", {"token": b64(b'{"alg":"none"}') + "." + b64(claims) + "."},
         INVALID),
        ("kid path traversal", {"token": _forged(
            b'{"alg":"HS256","kid":"../../../../dev/null"}', claims, b"")}, INVALID),
        ("kid SQL", {"token": _forged(
            b'{"alg":"HS256","kid":"x\' UNION SELECT \'k"}', claims, b"k")}, INVALID),
        ("exp as a string", {"token": jwt.encode(
            {"sub": "1", "exp": "tomorrow"}, SECRET, algorithm="HS256")}, INVALID),
        ("sub as an object", {"token": jwt.encode(
            {"sub": {"id": 1}, "exp": exp}, SECRET, algorithm="HS256")}, INVALID),
        ("department as a list", {"token": jwt.encode(
            {"sub": "1", "department": ["A"], "exp": exp}, SECRET, algorithm="HS256")}, INVALID),
        ("extra segments", {"token": mint("1") + ".e30.e30"}, INVALID),
        ("null token", {"token": None}, MISSING),
        ("empty token", {"token": ""}, MISSING),
        ("auth a list", [mint("1")], MISSING),
        ("auth a string", mint("1"), MISSING),
        ("auth a number", 7, MISSING),
    ]


async def refusal(
    url: str, *, auth: Any = None, headers: dict[str, str] | None = None, timeout: float = 2.0
) -> Any:
    """The connect_error data a real client gets; TimeoutError when it gets none."""
    client = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()

    async def on_connect_error(data: Any = None) -> None:
        await errors.put(data)

    client.on("connect_error", on_connect_error, namespace="/data_owner")
    try:
        await client.connect(
            url, namespaces=["/data_owner"], auth=auth, headers=headers or {},
            transports=["websocket"], wait_timeout=timeout,
        )
    except socketio.exceptions.ConnectionError:
        # A refusal's connect_error arrives before connect() gives up.
        return await asyncio.wait_for(errors.get(), 0.5)
    finally:
        await client.disconnect()
    raise AssertionError("connection was accepted")


async def assert_still_serving(url: str, producer: Producer, user: str = "1") -> None:
    """A valid client connects and gets a notification; /readyz is 200."""
    client = await RecordingClient(url, "/data_owner", mint(user)).connect()
    try:
        await producer.add("records:updated", notification([f"user:{user}"], "after-hostile"))
        event, payload = await client.next_event()
        assert (event, payload["id"]) == ("records:updated", "after-hostile")
    finally:
        await client.close()
    status, body = await get_text(f"{url}/readyz")
    assert status == 200, body


def _auth_failures(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("gateway_auth_failures_total{")
    )


async def test_hostile_tokens_get_one_of_the_two_messages(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    cases = hostile_auth()
    for case, auth, expected in cases:
        assert await refusal(gateway.url, auth=auth) == expected, case
    _, metrics = await get_text(f"{gateway.url}/metrics")
    assert _auth_failures(metrics) == len(cases), "every refusal is counted"
    await assert_still_serving(gateway.url, producer)


async def test_frames_over_the_size_limit_are_closed_and_the_gateway_serves_on(
    start_gateway: StartGateway, producer: Producer
) -> None:
    """Tokens over the 64 KiB frame limit never reach verify: Engine.IO closes the
    transport (1009 "message too big" on websocket, 400 and a CLOSE packet on polling),
    as Node's socket.io does past maxHttpBufferSize, so such a client sees a transport
    error, not a connect_error; a header too large for aiohttp gets a 4xx first."""
    gateway = await start_gateway()
    connect_packet = "40/data_owner," + json.dumps({"token": "a" * 2_000_000})  # 2 MB
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{gateway.url}/socket.io/?EIO=4&transport=websocket") as ws:
            opened = await ws.receive(timeout=5)
            assert opened.type == aiohttp.WSMsgType.TEXT and opened.data.startswith("0")
            await ws.send_str(connect_packet)
            closing = await ws.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG

        bearer = {"Authorization": "Bearer " + "a" * 100_000}
        async with session.get(
            f"{gateway.url}/socket.io/?EIO=4&transport=polling", headers=bearer
        ) as response:
            assert 400 <= response.status < 500
    # A real client on long-polling: its POST gets a 400 and Engine.IO closes the session.
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", errors.append, namespace="/data_owner")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            gateway.url, namespaces=["/data_owner"], auth={"token": "a" * 100_000},
            transports=["polling"], wait_timeout=1,
        )
    assert errors == [] and client.eio.state == "disconnected"
    await client.disconnect()
    await assert_still_serving(gateway.url, producer)


# --- Findings, now fixed: regression tests (see FINDINGS) ---


class NeverAnswered(Exception):
    """The client got no answer at all: the symptom of F1 and F3, told apart from any
    other failure (which must fail these tests, not be taken for the known bug)."""


async def never_answered(answer: "asyncio.Task[Any]") -> Any:
    try:
        return await answer
    except TimeoutError:
        raise NeverAnswered() from None


async def _raw_http(port: int, request: bytes, timeout: float) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        await writer.wait_closed()


def _request(method: str, path: str, headers: bytes = b"", body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n".encode() + headers + b"\r\n" + body


async def test_authorization_header_that_is_not_utf8_gets_invalid_token(
    start_gateway: StartGateway, producer: Producer
) -> None:
    """Engine.IO long-polling by hand, so the header can carry raw bytes (aiohttp's server
    decodes them with surrogateescape; verify then fails on the lone surrogates)."""
    gateway = await start_gateway()
    port = gateway.server.port
    assert port is not None
    path = "/socket.io/?EIO=4&transport=polling"
    opened = await _raw_http(
        port, _request("GET", path, b"Authorization: Bearer \xff\xfe.e30.x\r\n"), 5
    )
    sid = json.loads(opened.split(b"\r\n\r\n", 1)[1][1:])["sid"]
    await _raw_http(port, _request("POST", f"{path}&sid={sid}", body=b"40/data_owner,"), 5)
    poll = asyncio.create_task(_raw_http(port, _request("GET", f"{path}&sid={sid}"), 2))
    # Whatever happened to that client, the gateway must serve the next one.
    await assert_still_serving(gateway.url, producer)
    answer = await never_answered(poll)  # while F1 stands the client is never answered
    assert b'44/data_owner,{"message":"Invalid token"}' in answer


def _ec_public_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def test_token_whose_alg_does_not_fit_the_key_gets_invalid_token(
    start_gateway: StartGateway, producer: Producer
) -> None:
    """JWT_PUBLIC_KEY is an EC key and JWT_ALGORITHMS allows RS256 too (start-up accepts
    it): any client can send `alg: RS256` and the connect handler raises."""
    gateway = await start_gateway(
        JWT_PUBLIC_KEY=_ec_public_pem(), JWT_ALGORITHMS="HS256,ES256,RS256"
    )
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"sub": "1", "exp": time.time() + 60}, attacker, algorithm="RS256")
    answer = asyncio.create_task(refusal(gateway.url, auth={"token": token}))
    await assert_still_serving(gateway.url, producer)
    assert await never_answered(answer) == INVALID  # while F3 stands: no connect_error
