"""The demo routes exist only in local mode (GATEWAY_LOCAL_MODE), on a real in-process
gateway with a real redis-server."""

from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.web.demo import FILES
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.redis_proc import RedisProcess
from tests.support.tokens import SECRET, mint

GETS = ["/demo", "/demo/config", "/demo/static/demo.js", "/demo/static/notifications.js"]
POSTS = ["/demo/token", "/demo/jobs"]


async def request(method: str, url: str, **kwargs: Any) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.request(
        method, url, **kwargs
    ) as response:
        return response.status, response.content_type, await response.text()


async def post_json(url: str, body: object) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_no_demo_routes_outside_local_mode(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()  # GATEWAY_LOCAL_MODE unset: false
    for path in GETS:
        assert (await request("GET", gateway.url + path))[0] == 404, path
    for path in POSTS:
        status, _, _ = await request("POST", gateway.url + path, json={"user": "42"})
        assert status == 404, path
    assert (await request("GET", gateway.url + "/healthz"))[0] == 200


async def test_the_page_and_its_scripts_are_served_in_local_mode(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(GATEWAY_LOCAL_MODE="true")
    status, kind, html = await request("GET", gateway.url + "/demo")
    assert (status, kind) == (200, "text/html")
    assert '"socket.io-client": "/demo/static/socket.io.esm.min.js"' in html
    for name, path in FILES.items():
        status, kind, text = await request("GET", f"{gateway.url}/demo/static/{name}")
        expected = "text/css" if path.suffix == ".css" else "text/javascript"
        assert (status, kind) == (200, expected), name
        assert text == path.read_text(encoding="utf-8"), name
    for name in ("index.html", "..%2F..%2Fpyproject.toml", "socket.io.js"):
        assert (await request("GET", f"{gateway.url}/demo/static/{name}"))[0] == 404, name
    async with aiohttp.ClientSession() as session:
        async with session.get(gateway.url + "/demo/config") as response:
            assert await response.json() == {
                "namespaces": ["/data_owner", "/billing"],
                "queues": ["critical-events", "general-events"],
                "events": ["records:updated", "resources:created", "system:alert"],
            }


async def test_a_dev_token_is_minted_with_the_configured_secret(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(GATEWAY_LOCAL_MODE="true", JWT_AUDIENCE="gw")
    status, answer = await post_json(
        gateway.url + "/demo/token", {"user": "42", "department": "A", "ttl_seconds": 60}
    )
    assert status == 200
    claims = jwt.decode(answer["token"], SECRET, algorithms=["HS256"], audience="gw")
    assert (claims["sub"], claims["department"]) == ("42", "A")
    assert claims["exp"] == answer["expires_at"] and 55 < claims["exp"] - claims["iat"] <= 61
    # The gateway accepts it.
    client = await RecordingClient(gateway.url, "/data_owner", answer["token"]).connect()
    await client.close()
    for body, reason in [
        ({}, "user must be"),
        ({"user": "4 2"}, "user must be"),
        ({"user": "42", "department": ["A"]}, "department must be"),
        ({"user": "42", "ttl_seconds": 86400}, "ttl_seconds must be"),
    ]:
        status, answer = await post_json(gateway.url + "/demo/token", body)
        assert status == 400 and answer["error"].startswith(reason), (body, answer)
    status, _, _ = await request(
        "POST", gateway.url + "/demo/token", data='{"user": "42"}',
        headers={"Content-Type": "text/plain"},
    )
    assert status == 415  # no cross-site form posts


async def test_no_dev_tokens_with_only_a_public_key(start_gateway: StartGateway) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    gateway = await start_gateway(
        GATEWAY_LOCAL_MODE="true", JWT_SECRET="", JWT_PUBLIC_KEY=public_pem,
        JWT_ALGORITHMS="ES256",
    )
    status, answer = await post_json(gateway.url + "/demo/token", {"user": "42"})
    assert status == 409 and "JWT_SECRET" in answer["error"]


async def test_a_test_job_goes_through_the_producer_api(
    start_gateway: StartGateway, redis_proc: RedisProcess
) -> None:
    gateway = await start_gateway(GATEWAY_LOCAL_MODE="true")
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    try:
        status, queued = await post_json(gateway.url + "/demo/jobs", {
            "event": "records:updated", "namespace": "/data_owner", "rooms": ["user:42"],
            "id": "res-1", "data": {"status": "ready"}, "job_id": "demo:res-1:1",
        })
        assert status == 200, queued
        event, payload = await client.next_event()
    finally:
        await client.close()
    assert queued == {"queue": "critical-events", "job_id": "demo:res-1:1",
                      "trace_id": payload["metadata"]["trace_id"]}
    assert (event, payload["id"], payload["data"]) == ("records:updated", "res-1",
                                                       {"status": "ready"})
    # Every job added, with its own id or not, increments the queue's id counter.
    added_before = redis_proc.client().get("bull:critical-events:id")
    status, answer = await post_json(gateway.url + "/demo/jobs", {
        "event": "records:updated", "namespace": "/data_owner", "rooms": ["admins"], "id": 1,
    })
    assert status == 422
    assert answer["error"].startswith("invalid notification: rooms[0] must look like")
    assert redis_proc.client().get("bull:critical-events:id") == added_before == "1"


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [("127.0.0.1", True), ("::1", True), ("10.0.0.7", False), (None, False), ("x", False)],
)
def test_only_loopback_clients_may_post(remote: str | None, allowed: bool) -> None:
    from gateway.web.demo import _loopback

    assert _loopback(remote) is allowed
