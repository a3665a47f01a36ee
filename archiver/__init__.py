"""The audit archiver: moves finished notification jobs from Redis to PostgreSQL.

`python -m archiver` (same image as the gateway) every ARCHIVE_INTERVAL_SECONDS copies
the completed and failed jobs of GATEWAY_QUEUES that finished more than
ARCHIVE_MIN_AGE_SECONDS ago into the `notification_archive` table, then removes them
from Redis, so Redis is no audit log and its finished sets stay bounded.

It reads BullMQ's keys directly with redis-py (keys.py), not through BullMQ or the
gateway's consumers. May import: `config` and the job format (`jobformat`, for the
gateway's trace ids); never the gateway, consumers, socketio, engineio, aiohttp or BullMQ,
and nothing imports it (lint-imports).

Modules: `archive` (one pass), `source` (Redis reads and the removal script), `rows`
(a job hash to a row), `database` (inserts), `migrations`, `service` (the run loop),
`metrics`, `find` (the operator's queries), `exclusions`, `trace`, `keys`.
"""
