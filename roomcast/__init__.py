"""Room channels on Redis Cluster: one sharded pub/sub channel (Redis 7 `SPUBLISH` /
`SSUBSCRIBE`) per (namespace, room), so a pod receives only the notifications of the rooms
its local sockets are in (docs/cluster.md).

Holds: the channel names and the hash tag that picks their slot (`channels`), the
cluster's slot map (`slot_map`), one subscriber connection per master (`link`), and the
subscriber that keeps the pod's wanted channels subscribed across churn, failover and slot
migration and says when a subscription is (re)established (`subscriber`).

Built on public pieces only (asyncio, hiredis' reader, redis-py's `key_slot` and a plain
`redis.asyncio.Redis` for `CLUSTER SLOTS`): redis-py 7.4's asyncio client has no sharded
pub/sub, and 8.1's has the defects measured in docs/cluster.md. May import: redis,
hiredis, the standard library.
"""

from roomcast.channels import channel_slot, room_channel, room_tag
from roomcast.slot_map import ClusterUnavailable, SlotMap
from roomcast.subscriber import RoomSubscriber

__all__ = [
    "ClusterUnavailable",
    "RoomSubscriber",
    "SlotMap",
    "channel_slot",
    "room_channel",
    "room_tag",
]
