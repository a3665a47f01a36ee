"""Channel names: `<prefix>:room:{<namespace>:<room>}`, the only place they are spelled.

The hash tag is the room, so rooms spread over all 16384 slots (and so over every
master): a tag in the prefix (the queues' `{app-main}`) would put every room in one slot,
on one master, which is no scaling at all. So the prefix's braces are dropped here, and
the first `{` of a channel name is always the room's. Everything kept for one room (its
part of the notification log) carries the same tag (`room_tag`), so the append and the
`SPUBLISH` run in one Lua call on the room's master.

A room id may itself contain `}` (job rooms are `user:<id>`/`department:<code>` with any
non-space id): the tag then ends there. That is the same for the channel and the room's
keys, so they still share a slot; such rooms just share slots a little more.
"""

from redis.crc import key_slot


def bare_prefix(prefix: str) -> str:
    """The queue prefix without its hash-tag braces (`{app-main}` -> `app-main`)."""
    return prefix.replace("{", "").replace("}", "")


def room_tag(namespace: str, room: str) -> str:
    """The hash tag of one room, braces included: every key and channel of the room has it."""
    return "{" + namespace + ":" + room + "}"


def room_channel(prefix: str, namespace: str, room: str) -> str:
    """The sharded channel a room's notifications are published on."""
    return f"{bare_prefix(prefix)}:room:{room_tag(namespace, room)}"


def channel_slot(channel: str | bytes) -> int:
    """The cluster slot of a channel (or key), as Redis computes it."""
    return int(key_slot(channel.encode() if isinstance(channel, str) else channel))
