"""What one BullMQ job does: decode once, decide once, emit at most once."""

import logging
import time
from dataclasses import dataclass

from bullmq import DelayedError, Job, UnrecoverableError

from consumers.observer import ConsumerObserver, Outcome
from consumers.protocols import Notifier
from consumers.trailing import TRAILING_JOB_NAME, TrailingScheduler
from jobformat import InvalidNotification, Notification, NotificationDecoder, event_label
from throttling import NotYet, Throttle, Verdict, trailing_job_id

logger = logging.getLogger(__name__)

EMITTED: dict[str, bool] = {"emitted": True}
THROTTLED: dict[str, bool] = {"throttled": True}
NOTHING_HELD: dict[str, bool] = {"emitted": False}


@dataclass(frozen=True, slots=True)
class Throttling:
    throttle: Throttle
    scheduler: TrailingScheduler


class NotificationProcessor:
    """The processor of one queue's Worker.

    A job completes only after its emit was handed to the cross-pod adapter (or its
    notification was held in Redis and its trailing emit scheduled); any exception
    leaves the job to BullMQ's retry.
    """

    def __init__(
        self,
        queue: str,
        decoder: NotificationDecoder,
        notifier: Notifier,
        observer: ConsumerObserver,
        throttling: Throttling | None = None,
    ) -> None:
        self._queue = queue
        self._decoder = decoder
        self._notifier = notifier
        self._observer = observer
        self._throttling = throttling

    async def __call__(self, job: Job, token: str) -> dict[str, bool]:
        if job.name == TRAILING_JOB_NAME and self._throttling is not None:
            return await self._trailing(job, token, self._throttling)
        notification = self._decode(job)
        window_ms = self._throttling.throttle.window_ms(notification.event) if (
            self._throttling is not None
        ) else None
        if window_ms is None or self._throttling is None:
            await self._emit(notification, Outcome.EMITTED)
            return EMITTED
        return await self._throttled(notification, window_ms, self._throttling)

    def _decode(self, job: Job) -> Notification:
        try:
            return self._decoder.decode(
                self._queue, str(job.id), job.name, job.data, int(job.timestamp)
            )
        except InvalidNotification as error:
            self._observer.job_finished(self._queue, event_label(job.name), Outcome.INVALID)
            logger.warning("job %s of %s rejected: %s", job.id, self._queue, error)
            raise UnrecoverableError(str(error)) from None

    async def _emit(self, notification: Notification, outcome: Outcome) -> None:
        try:
            await self._notifier.notify(notification)
        except Exception:
            self._observer.job_finished(self._queue, notification.event, Outcome.FAILED)
            raise
        self._observer.job_finished(self._queue, notification.event, outcome)
        lag = max(0.0, time.time() - notification.created_at_ms / 1000)
        self._observer.notification_emitted(self._queue, lag)

    async def _throttled(
        self, notification: Notification, window_ms: int, throttling: Throttling
    ) -> dict[str, bool]:
        throttle = throttling.throttle
        key = throttle.key(notification.namespace, notification.event, notification.resource_id)
        decision = await throttle.decide(
            key, window_ms, notification.to_bytes(), notification.created_at_ms
        )
        if decision.verdict is Verdict.EMIT:
            await self._emit(notification, Outcome.EMITTED)
            return EMITTED
        if decision.verdict is Verdict.HOLD:
            # Scheduled on every hold, not just the first: the id makes it idempotent,
            # and a pod that died between holding and scheduling leaves its job to be
            # retried, which schedules it then.
            await throttling.scheduler.schedule(
                self._queue, key, window_ms, decision.window_end_ms, decision.delay_ms
            )
        if decision.superseded:
            self._observer.notification_coalesced(self._queue, notification.event)
        self._observer.job_finished(self._queue, notification.event, Outcome.THROTTLED)
        return THROTTLED

    async def _trailing(self, job: Job, token: str, throttling: Throttling) -> dict[str, bool]:
        key, window_ms = _trailing_job_data(job, throttling.throttle)
        held = await throttling.throttle.take(key)
        if held is None:
            return NOTHING_HELD
        if isinstance(held, NotYet):
            if job.id == trailing_job_id(key, held.window_end_ms):
                # Our own window, reached early by this pod's clock: wait for it.
                await job.moveToDelayed(int(time.time() * 1000) + held.delay_ms + 1, token)
                raise DelayedError()
            await throttling.scheduler.schedule(
                self._queue, key, window_ms, held.window_end_ms, held.delay_ms
            )
            return NOTHING_HELD
        notification = Notification.from_bytes(held.encoded)
        await self._emit(notification, Outcome.TRAILING)
        flushed = await throttling.throttle.flushed(key, held.version, window_ms)
        if flushed.newer_pending:
            await throttling.scheduler.schedule(
                notification.queue, key, window_ms, flushed.window_end_ms, flushed.delay_ms
            )
        return EMITTED


def _trailing_job_data(job: Job, throttle: Throttle) -> tuple[str, int]:
    data = job.data
    if not isinstance(data, dict):
        raise UnrecoverableError("invalid notification: trailing job data must be an object")
    key, window_ms = data.get("key"), data.get("window_ms")
    if not isinstance(key, str) or not throttle.owns(key):
        raise UnrecoverableError("invalid notification: trailing job key is not a throttle key")
    if not isinstance(window_ms, int) or window_ms <= 0:
        raise UnrecoverableError("invalid notification: trailing job window_ms must be positive")
    return key, window_ms
