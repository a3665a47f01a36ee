"""The Socket.IO layer: python-socketio's server with the gateway's rules for clients
(`server`), one namespace per service with JWT at connect (`namespace`), the cross-pod
adapter on Redis pub/sub and the notification log (`adapter`), local delivery of logged
notifications (`delivery`), connection state recovery (`recovery`), the local emit on the
broadcast fast path (`local_emit`), the consumers' `Notifier` (`notifier`), per-client
limits (`client_limits`), orjson for python-socketio (`jsonshim`), and what it reports
(`observer`).

May import: `gateway.transport`, `notification_log`, `jobformat`, `auth`, `config`;
socketio, engineio, redis, orjson. Not aiohttp (the web face and the websocket driver
have it), not Prometheus, not the pod.
"""
