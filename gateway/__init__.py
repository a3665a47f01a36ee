"""The gateway pod: aiohttp + python-socketio, run by `python -m gateway`.

Sub-packages, each with one job (docs/architecture.md, "Packages and what each may
import"; `lint-imports` enforces it):

- `pod`: the app's assembly from `Settings`, its cleanup contexts, state, readiness and
  lifecycle; imports all the others, and nothing imports it.
- `web`: the HTTP face: /healthz, /readyz, /metrics (the only Prometheus module), the
  demo page.
- `realtime`: the Socket.IO layer: server, namespaces, adapter, local delivery, recovery.
- `transport`: the Engine.IO websocket transport: per-connection delivery state, send
  queue, back-pressure, driver, lean socket, broadcast fast path.
- `redis_clients`: every Redis client of the pod, the pipelined client, the eviction check.
"""

from gateway.pod import build_app

__all__ = ["build_app"]
