"""Every Redis client of the pod, built from one `RedisSettings` (`factory`): URL,
Sentinel, or on a Redis Cluster the master of the queue prefix's slot (`slot_master`),
with stepped reconnects and reply deadlines; the pipelined client and the pub/sub with
deadlines (`pipelined`); the eviction-policy check (`eviction`).

May import: `config`, `roomcast.slot_map` (parsing `CLUSTER SLOTS`); redis and hiredis.
Nothing of the web, Socket.IO or BullMQ.
"""

from gateway.redis_clients.factory import SentinelMasterClient, SteppedBackoff, redis_client
from gateway.redis_clients.slot_master import SlotMasterPool

__all__ = ["SentinelMasterClient", "SlotMasterPool", "SteppedBackoff", "redis_client"]
