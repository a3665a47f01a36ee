"""The pod's HTTP face: /healthz, /readyz and /metrics (`endpoints`), the Prometheus
metrics that observe every other package (`metrics`, the one gateway module that imports
prometheus_client), and the local-mode demo page (`demo`, with its static files).

May import: the report types of `gateway.transport` and `consumers` (the observers it
implements), `gateway.redis_clients` (the demo's producer client), `producer`,
`jobformat`, `config`; aiohttp, prometheus_client, PyJWT. Never the pod (readiness comes
in as a callable) nor the Socket.IO layer.
"""
