"""Socket.IO connection state recovery on connect, stateless (docs/recovery.md).

socket.io-client (4.6+) keeps the `pid` of the CONNECT reply and, as offset, the last
argument of each event; on reconnect it sends `{pid, offset, ...auth}` and sets
`socket.recovered` when the reply repeats its pid. Here:

- a first connect gets a pid that carries the log's epoch and the pod's position (the
  newest offset it has delivered), signed: a client that blips before its first
  notification recovers from there;
- a reconnect with a valid pid is replayed, from the log, everything its rooms got
  after `max(offset, pid position)`, the rooms coming from the token verified now;
  live notifications meanwhile wait and are merged by offset (gateway/realtime/delivery.py);
  the reply repeats the pid;
- when that can't be complete (an invalid pid or offset, the log lost or reset, the
  offset older than the retention or trimmed, Redis unreachable), nothing is
  replayed and the reply carries a new pid: `recovered` is false, and the app reloads.

A client that can't take the extra argument connects with `auth.offsets = false`: its
events carry no offset and it gets no pid.
"""

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError

from gateway.realtime.delivery import LocalDelivery
from gateway.realtime.observer import RecoveryObserver
from notification_log import LogMessage, NotificationLog, Offset, PidSigner, parse_offset
from notification_log.log import ReadStatus

logger = logging.getLogger(__name__)

# Notifications replayed to one client at most; a longer gap is not recovered.
MAX_REPLAY = 5_000
READ_TIMEOUT_SECONDS = 5.0


class RecoveryOutcome(StrEnum):
    RECOVERED = "recovered"
    NEW = "new"  # no pid: a first connect
    INVALID = "invalid"  # a pid we did not issue, or a garbled offset
    RESET = "reset"  # the log was lost since
    AHEAD = "ahead"  # the client saw offsets the log no longer has
    EXPIRED = "expired"  # older than GATEWAY_RECOVERY_SECONDS
    TRIMMED = "trimmed"  # removed by GATEWAY_RECOVERY_MAX_ENTRIES
    TOO_MANY = "too_many"  # more than MAX_REPLAY to replay
    UNAVAILABLE = "unavailable"  # Redis did not answer, or the pod has no position yet
    OPTED_OUT = "opted_out"  # auth.offsets = false


_BY_STATUS = {
    ReadStatus.RESET: RecoveryOutcome.RESET,
    ReadStatus.AHEAD: RecoveryOutcome.AHEAD,
    ReadStatus.EXPIRED: RecoveryOutcome.EXPIRED,
    ReadStatus.TRIMMED: RecoveryOutcome.TRIMMED,
    ReadStatus.TOO_MANY: RecoveryOutcome.TOO_MANY,
}


@dataclass(slots=True)
class _Plan:
    """What `prepare` decided for one connect, carried to `finish` and `connected`."""

    sid: str
    pid: str | None = None
    epoch: str | None = None
    start: Offset | None = None
    position: Offset | None = None  # the pod's watermark when the socket was held
    outcome: RecoveryOutcome = RecoveryOutcome.NEW
    replay: tuple[list[LogMessage], Offset | None] | None = None


class ConnectionRecovery:
    def __init__(
        self,
        log: NotificationLog,
        signer: PidSigner,
        delivery: LocalDelivery,
        observer: RecoveryObserver,
    ) -> None:
        self._log = log
        self._signer = signer
        self._delivery = delivery
        self._observer = observer
        self._plans: dict[str, _Plan] = {}

    def prepare(self, sid: str, eio_sid: str, auth: Any) -> None:
        """Before the socket joins its rooms: decide, and hold back live notifications
        of one that asks to be recovered."""
        auth = auth if isinstance(auth, dict) else {}
        if auth.get("offsets") is False:
            self._delivery.without_offsets.add(sid)
            self._observer.recovery_finished(RecoveryOutcome.OPTED_OUT)
            return
        plan = _Plan(sid, position=self._delivery.watermark)
        self._plans[sid] = plan
        if "pid" not in auth:
            return
        claim = self._signer.verify(auth["pid"])
        offset = parse_offset(auth["offset"]) if auth.get("offset") is not None else None
        if claim is None or (auth.get("offset") is not None and offset is None):
            plan.outcome = RecoveryOutcome.INVALID
            return
        plan.pid, plan.epoch = claim.pid, claim.epoch
        plan.start = max(claim.position, offset) if offset is not None else claim.position
        self._delivery.hold(sid, eio_sid)

    async def finish(
        self,
        sid: str,
        namespace: str,
        rooms: tuple[str, ...],
        position: Offset | None = None,
    ) -> str | None:
        """After the socket joined its rooms: read its replay; the pid for the reply.
        `position`: where a new pid starts instead of the pod's watermark, when the
        socket's rooms were subscribed just now (routing by room: nothing of theirs was
        delivered here before; gateway/realtime/room_routing.py)."""
        plan = self._plans.get(sid)
        if plan is None:
            return None
        if position is not None and (plan.position is None or position > plan.position):
            plan.position = position
        if plan.start is not None and plan.epoch is not None:
            await self._read(plan, namespace, rooms)
        if plan.outcome is not RecoveryOutcome.RECOVERED:
            plan.pid = self._fresh_pid(plan.position)
        self._observer.recovery_finished(plan.outcome)
        return plan.pid

    async def _read(self, plan: _Plan, namespace: str, rooms: tuple[str, ...]) -> None:
        assert plan.start is not None and plan.epoch is not None
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                read = await self._log.read(namespace, rooms, plan.epoch, plan.start, MAX_REPLAY)
        except (RedisError, OSError, TimeoutError) as error:
            logger.warning("recovery read failed (%s); the client reconnects unrecovered", error)
            plan.outcome = RecoveryOutcome.UNAVAILABLE
            plan.replay = ([], None)
            return
        if read.status is ReadStatus.OK:
            plan.outcome = RecoveryOutcome.RECOVERED
            plan.replay = (list(read.messages), read.last)
            return
        plan.outcome = _BY_STATUS[read.status]
        plan.replay = ([], None)
        if read.status is ReadStatus.RESET and read.epoch:
            self._delivery.epoch = read.epoch

    def _fresh_pid(self, position: Offset | None) -> str | None:
        epoch = self._delivery.epoch
        if position is None or epoch is None:
            return None  # not subscribed yet: this connection can't be recovered
        return self._signer.issue(epoch, position)

    def connected(self, sid: str) -> None:
        """After the CONNECT reply was queued: the replay, then what waited, in order."""
        plan = self._plans.pop(sid, None)
        if plan is not None and plan.replay is not None:
            messages, floor = plan.replay
            self._delivery.replay(sid, messages, floor)

    def forget(self, sid: str) -> None:
        self._plans.pop(sid, None)
        self._delivery.forget(sid)
