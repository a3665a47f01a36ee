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
    """A stream of the offsets sent to one room (ids only: the payload is kept once)."""
    return f"{prefix}:log:{namespace}:room:{room}"


def room_last_key(prefix: str, namespace: str, room: str) -> str:
    """The newest offset ever sent to one room; kept much longer than the entries, so a
    quiet room's clients recover from any age (nothing was sent to them since)."""
    return f"{prefix}:log:{namespace}:last:{room}"
