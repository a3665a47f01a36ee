"""The notification log: every emitted notification, with its offset, kept in Redis for a
retention window, for reconnecting clients (Socket.IO connection state recovery) and for
pods whose adapter subscription was re-established (docs/recovery.md).

Holds: the Redis key names (`keys`), offsets (`offsets`), the signed `pid` a client keeps
between connections (`pid`), and the Lua scripts that append (atomically with the
cross-pod publish) and read it (`log`). May import: config, redis, the standard library.
"""

from notification_log.log import (
    LogMessage,
    LogRead,
    NotificationLog,
    Position,
    ReadStatus,
    is_log_message,
)
from notification_log.offsets import Offset, parse_offset
from notification_log.pid import PidClaim, PidSigner

__all__ = [
    "LogMessage",
    "LogRead",
    "NotificationLog",
    "Offset",
    "PidClaim",
    "PidSigner",
    "Position",
    "ReadStatus",
    "is_log_message",
    "parse_offset",
]
