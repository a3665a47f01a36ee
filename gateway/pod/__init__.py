"""The pod: the aiohttp app assembled from `Settings` (`app.build_app`), its resources
opened in cleanup contexts and closed in reverse, its state (`state`), readiness
(`readiness`) and graceful shutdown (`lifecycle`).

May import every other part of the gateway (`web`, `realtime`, `transport`,
`redis_clients`) and the packages they serve (`consumers`, `throttling`, `auth`,
`notification_log`, `jobformat`, `producer`, `config`); nothing imports it but
`gateway/__main__.py`.
"""

from gateway.pod.app import build_app

__all__ = ["build_app"]
