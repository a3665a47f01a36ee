"""The gateway pod: aiohttp + python-socketio, HTTP endpoints, metrics and lifecycle."""

from gateway.app import build_app

__all__ = ["build_app"]
