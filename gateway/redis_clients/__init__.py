"""Every Redis client of the pod, built from one `RedisSettings` (`factory`): URL or
Sentinel, stepped reconnects, reply deadlines; the pipelined client and the pub/sub with
deadlines (`pipelined`); the eviction-policy check (`eviction`).

May import: `config`; redis and hiredis. Nothing of the web, Socket.IO or BullMQ.
"""

from gateway.redis_clients.factory import SentinelMasterClient, SteppedBackoff, redis_client

__all__ = ["SentinelMasterClient", "SteppedBackoff", "redis_client"]
