"""`/healthz`, `/readyz` and `/metrics` (the contract's section 5), and on a pod that holds
no client connections (GATEWAY_ROLE=consumer) a 404 for `/socket.io/` that says why.

What readiness means and what a scrape refreshes are the pod's (gateway/pod/readiness.py),
handed in as callables; the page itself is the metrics' (gateway/web/metrics.py)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

Readiness = Callable[[], Awaitable[list[str]]]
"""The reasons the pod is not ready; none when it is."""


class MetricsPage(Protocol):
    def exposition(self) -> tuple[bytes, str]:
        """The /metrics body and its content type."""

    def connection_refused(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Endpoints:
    readiness: Readiness
    metrics: MetricsPage
    before_scrape: Callable[[], Awaitable[None]] | None
    no_clients: str | None


ENDPOINTS = web.AppKey("endpoints", _Endpoints)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    problems = await request.app[ENDPOINTS].readiness()
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    endpoints = request.app[ENDPOINTS]
    if endpoints.before_scrape is not None:
        await endpoints.before_scrape()
    body, content_type = endpoints.metrics.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def no_clients(request: web.Request) -> web.Response:
    """/socket.io/ on a pod that holds no client connections (GATEWAY_ROLE=consumer)."""
    endpoints = request.app[ENDPOINTS]
    endpoints.metrics.connection_refused("role")
    return web.json_response({"message": endpoints.no_clients}, status=404)


def add_routes(
    app: web.Application,
    *,
    readiness: Readiness,
    metrics_page: MetricsPage,
    before_scrape: Callable[[], Awaitable[None]] | None = None,
    no_clients_message: str | None = None,
) -> None:
    """The routes; with `no_clients_message`, `/socket.io/` answers 404 with it."""
    app[ENDPOINTS] = _Endpoints(readiness, metrics_page, before_scrape, no_clients_message)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if no_clients_message is not None:
        app.router.add_route("*", "/socket.io/", no_clients)
        app.router.add_route("*", "/socket.io/{tail:.*}", no_clients)
