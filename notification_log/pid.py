"""The `pid` of Socket.IO's connection state recovery, made stateless.

Socket.IO keeps a session per pid on the server that held the connection; ours keeps
nothing: the pid carries the log's epoch and the offset at which the connection began,
signed with the pods' shared key, so any pod can check it. The rooms are never in it:
they always come from the token verified on the new connect, so a forged or foreign
pid can at most move the replay's start within the client's own rooms, and the
signature stops even that.
"""

import base64
import hashlib
import hmac
from typing import NamedTuple

from notification_log.offsets import Offset, parse_offset

_MAC_BYTES = 16


class PidClaim(NamedTuple):
    """A verified pid: what the client was given at the connect that issued it."""

    pid: str
    epoch: str
    position: Offset


class PidSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, epoch: str, position: Offset) -> str:
        body = f"{epoch}.{position}"
        return f"{body}.{self._mac(body)}"

    def verify(self, pid: object) -> PidClaim | None:
        """The claim of a pid this gateway issued, or None (not ours, altered, garbled)."""
        if not isinstance(pid, str) or len(pid) > 128:
            return None
        epoch, _, rest = pid.partition(".")
        position_text, _, mac = rest.partition(".")
        position = parse_offset(position_text)
        if position is None or parse_offset(epoch) is None:
            return None
        if not hmac.compare_digest(mac, self._mac(f"{epoch}.{position_text}")):
            return None
        return PidClaim(pid, epoch, position)

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
