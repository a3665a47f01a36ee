"""Every refusal of CONTRACT §4, seen by a real client, with its exact message."""

import asyncio
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient, connect_error_message
from tests.support.gateway import get_text
from tests.support.tokens import SECRET, mint

INVALID = {"message": "Invalid token"}


def _unsigned(claims: dict[str, object]) -> str:
    return jwt.encode(claims, None, algorithm="none")


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("bad signature", lambda: mint(secret="another-secret-that-is-long-enough-32b")),
        ("expired", lambda: mint(expires_in=-5)),
        ("wrong algorithm", lambda: mint(algorithm="HS512")),
        ("alg none", lambda: _unsigned({"sub": "42", "exp": time.time() + 60})),
        ("missing user claim", lambda: mint(user=None)),
        ("missing exp", lambda: jwt.encode({"sub": "42"}, SECRET, algorithm="HS256")),
        ("garbage", lambda: "not.a.jwt"),
        ("not a string", lambda: 12345),
    ],
)
async def test_bad_tokens_get_invalid_token(
    start_gateway: StartGateway, case: str, token: object
) -> None:
    gateway = await start_gateway()
    value = token() if callable(token) else token
    message = await connect_error_message(gateway.url, "/data_owner", auth={"token": value})
    assert message == INVALID, case


async def test_missing_token_gets_authentication_failed(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    assert await connect_error_message(gateway.url, "/data_owner") == {
        "message": "Authentication failed"
    }
    assert await connect_error_message(gateway.url, "/data_owner", auth={}) == {
        "message": "Authentication failed"
    }
    _, metrics = await get_text(f"{gateway.url}/metrics")
    assert 'gateway_auth_failures_total{reason="missing_token"} 2.0' in metrics


async def test_audience_and_issuer_are_enforced_when_set(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(JWT_AUDIENCE="gateway", JWT_ISSUER="https://idp")
    good = mint(aud="gateway", iss="https://idp")
    for bad in (mint(aud="other", iss="https://idp"), mint(aud="gateway", iss="https://x"),
                mint(iss="https://idp")):
        assert await connect_error_message(
            gateway.url, "/data_owner", auth={"token": bad}
        ) == INVALID
    client = await RecordingClient(gateway.url, "/data_owner", good).connect()
    await client.close()


async def test_bearer_header_is_accepted(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    client = RecordingClient(gateway.url, "/data_owner", None, headers={
        "Authorization": f"Bearer {mint()}"
    })
    await client.connect()
    assert client.sio.connected
    await client.close()


async def test_hs_token_refused_when_only_rs256_allowed(
    start_gateway: StartGateway, tmp_path: object
) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    gateway = await start_gateway(
        JWT_SECRET="", JWT_PUBLIC_KEY=public_pem, JWT_ALGORITHMS="RS256"
    )
    exp = time.time() + 60
    rs_token = jwt.encode({"sub": "42", "exp": exp}, private_key, algorithm="RS256")
    # The classic confusion attack: HMAC-sign with the public key as the secret.
    confused = _hmac_with_public_key(public_pem, exp)
    for bad in (mint(), confused):
        assert await connect_error_message(
            gateway.url, "/data_owner", auth={"token": bad}
        ) == INVALID
    client = await RecordingClient(gateway.url, "/data_owner", rs_token).connect()
    await client.close()


def _hmac_with_public_key(public_pem: str, exp: float) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "42", "exp": exp}).encode())
    signature = hmac.new(public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256)
    return f"{header}.{body}.{b64(signature.digest())}"


async def test_unknown_namespace_is_invalid_namespace(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    for namespace in ("/nope", "/"):
        assert await connect_error_message(
            gateway.url, namespace, auth={"token": mint()}
        ) == {"message": "Invalid namespace"}


async def test_socket_is_disconnected_when_its_token_expires(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    expires_at = time.time() + 1.5
    client = await RecordingClient(
        gateway.url, "/data_owner", mint(expires_in=expires_at - time.time())
    ).connect()
    await asyncio.wait_for(client.disconnected.wait(), 5)
    assert time.time() - expires_at < 1.0
    assert time.time() >= expires_at - 0.05
