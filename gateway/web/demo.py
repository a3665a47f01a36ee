"""The demo page of local mode (`GATEWAY_LOCAL_MODE=true`, set by scripts/run).

- `GET /demo`: a page that logs in as a chosen user/department and shows live
  notifications through client/notifications.js (served from the checkout, with
  socket.io-client from node_modules: local mode runs from a checkout, not an image).
- `POST /demo/token`: a short-lived dev token signed with `JWT_SECRET`.
- `POST /demo/jobs`: a test job, added through the producer API.

None of these routes exist unless local mode is on (gateway/pod/app.py). The two POST
endpoints answer only loopback clients and JSON bodies (a cross-site form or a
no-preflight `fetch` cannot reach them).
"""

import ipaddress
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from config import Settings
from gateway.redis_clients.factory import redis_client
from jobformat import InvalidNotification
from producer import NotificationProducer

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().with_name("demo")
CHECKOUT = Path(__file__).resolve().parents[2]
# The only files /demo/static serves: name -> path (nothing is looked up by path).
FILES = {
    "demo.js": STATIC / "demo.js",
    "demo.css": STATIC / "demo.css",
    "notifications.js": CHECKOUT / "client" / "notifications.js",
    "socket.io.esm.min.js": (
        CHECKOUT / "node_modules" / "socket.io-client" / "dist" / "socket.io.esm.min.js"
    ),
}
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
DEMO_EVENTS = ("records:updated", "resources:created", "system:alert")
TOKEN_TTL_SECONDS = 300
MAX_TOKEN_TTL_SECONDS = 3600
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

DEMO_PRODUCER = web.AppKey("demo_producer", NotificationProducer)
SETTINGS = web.AppKey("demo_settings", Settings)


def add_demo_routes(app: web.Application, settings: Settings) -> None:
    app[SETTINGS] = settings
    app.router.add_get("/demo", page)
    app.router.add_get("/demo/config", demo_config)
    app.router.add_get("/demo/static/{name}", static_file)
    app.router.add_post("/demo/token", dev_token)
    app.router.add_post("/demo/jobs", enqueue_test_job)
    app.cleanup_ctx.append(_producer)
    logger.warning("local mode: demo page and dev-token endpoint at /demo (never in production)")


async def _producer(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = redis_client(settings.redis, decode_responses=True, prefix=settings.consumers.prefix)
    app[DEMO_PRODUCER] = NotificationProducer.for_gateway(settings, client)
    yield
    await app[DEMO_PRODUCER].close()
    await client.aclose()


async def page(request: web.Request) -> web.FileResponse:
    return _file(STATIC / "index.html")


async def static_file(request: web.Request) -> web.FileResponse:
    path = FILES.get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return _file(path)


async def demo_config(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response({
        "namespaces": list(settings.server.namespaces),
        "queues": [queue.name for queue in settings.consumers.queues],
        "events": list(DEMO_EVENTS),
    })


async def dev_token(request: web.Request) -> web.Response:
    body = await _json_body(request)
    settings = request.app[SETTINGS]
    user = _name(body, "user")
    department = None if body.get("department") in (None, "") else _name(body, "department")
    ttl = body.get("ttl_seconds", TOKEN_TTL_SECONDS)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        ttl = -1
    if not 0 < ttl <= MAX_TOKEN_TTL_SECONDS:
        raise _error(
            web.HTTPBadRequest, f"ttl_seconds must be a number in (0, {MAX_TOKEN_TTL_SECONDS}]"
        )
    token, expires_at = mint_dev_token(settings, user, department, float(ttl))
    return web.json_response({"token": token, "expires_at": expires_at})


def mint_dev_token(
    settings: Settings, user: str, department: str | None, ttl_seconds: float
) -> tuple[str, float]:
    auth = settings.auth
    algorithm = next((name for name in auth.algorithms if name.startswith("HS")), None)
    if auth.secret is None or algorithm is None:
        raise _error(
            web.HTTPConflict, "dev tokens need JWT_SECRET and an HS* algorithm in JWT_ALGORITHMS"
        )
    now = time.time()
    claims: dict[str, Any] = {"iat": int(now), "exp": now + ttl_seconds, auth.user_claim: user}
    if department is not None:
        claims[auth.department_claim] = department
    if auth.audience is not None:
        claims["aud"] = auth.audience
    if auth.issuer is not None:
        claims["iss"] = auth.issuer
    return jwt.encode(claims, auth.secret.reveal(), algorithm=algorithm), claims["exp"]


async def enqueue_test_job(request: web.Request) -> web.Response:
    body = await _json_body(request)
    producer = request.app[DEMO_PRODUCER]
    # Every field is checked by notify, as the gateway checks a job.
    fields: dict[str, Any] = {
        name: body.get(name) for name in ("event", "namespace", "rooms", "id", "data", "metadata")
    }
    queue, job_id = body.get("queue"), body.get("job_id")
    try:
        queued = await producer.notify(
            fields["event"],
            namespace=fields["namespace"],
            rooms=fields["rooms"],
            id=fields["id"],
            data=fields["data"],
            metadata=fields["metadata"],
            queue=queue if isinstance(queue, str) and queue else None,
            job_id=None if job_id in (None, "") else job_id,
        )
    except InvalidNotification as error:
        raise _error(web.HTTPUnprocessableEntity, str(error)) from None
    return web.json_response({
        "queue": queued.queue, "job_id": queued.job_id, "trace_id": queued.trace_id,
    })


def _file(path: Path) -> web.FileResponse:
    if not path.is_file():
        raise web.HTTPNotFound(text=f"{path.name} is missing: run scripts/setup (npm ci)")
    response = web.FileResponse(path)
    response.content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    response.headers["Cache-Control"] = "no-store"
    return response


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not _loopback(request.remote):
        raise web.HTTPForbidden(text="local mode endpoints answer loopback clients only")
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    try:
        body = await request.json()
    except ValueError:
        raise _error(web.HTTPBadRequest, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, "the body must be a JSON object")
    return body


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _name(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not _NAME.match(value):
        raise _error(web.HTTPBadRequest, f"{field} must be 1 to 64 letters, digits or _.@-")
    return value


def _error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    return kind(text=json.dumps({"error": message}), content_type="application/json")
