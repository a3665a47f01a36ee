"""Redis key names of the notification log; the only place they are spelled.

Every key starts with the queue prefix, so a hash-tagged prefix (`{app-main}`) keeps the
log in the queues' slot."""


def last_id_key(prefix: str) -> str:
    """The newest offset handed out, across all namespaces: offsets are totally ordered."""
    return f"{prefix}:log:last"


def epoch_key(prefix: str) -> str:
    """Set when the log is first written; a log that was lost comes back with a new one."""
    return f"{prefix}:log:epoch"


def entries_key(prefix: str, namespace: str) -> str:
    """A stream of the namespace's notifications: id = offset, fields rooms and args."""
    return f"{prefix}:log:{namespace}:entries"


def floor_key(prefix: str, namespace: str) -> str:
    """The oldest offset still complete after the count bound trimmed the entries."""
    return f"{prefix}:log:{namespace}:floor"


def room_key(prefix: str, namespace: str, room: str) -> str:
    """A sorted set of the offsets sent to one room (scored by their ms; the payload is
    kept once, in the entries): those within the retention, and always the newest, kept
    a day, so a quiet room's clients recover from any position up to a day old. A sorted
    set, not a stream: 205 bytes for a room with one offset, against 4.4 KB."""
    return f"{prefix}:log:{namespace}:room:{room}"


def room_channel_start(prefix: str, namespace: str) -> str:
    """What every room channel of `namespace` begins with (the append adds the room)."""
    return f"{prefix}:room:{namespace}:"


def room_channel(prefix: str, namespace: str, room: str) -> str:
    """The sharded pub/sub channel (`SPUBLISH`) of one room, when the adapter routes by
    room. It carries the prefix's hash tag, so on a cluster it is in the log's slot and
    the append publishes it from its own script, in the log's order."""
    return room_channel_start(prefix, namespace) + room
