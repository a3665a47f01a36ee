"""What one BullMQ job does: decode once, emit once, say what happened."""

import logging
import time

from bullmq import Job, UnrecoverableError

from consumers.decode import InvalidNotification, NotificationDecoder
from consumers.observer import ConsumerObserver, Outcome
from consumers.protocols import Notifier

logger = logging.getLogger(__name__)

EMITTED: dict[str, bool] = {"emitted": True}


class NotificationProcessor:
    """The processor of one queue's Worker.

    The job completes only after `Notifier.notify` returned, i.e. after the emit was
    handed to the cross-pod adapter; any exception leaves the job to BullMQ's retry.
    """

    def __init__(
        self,
        queue: str,
        decoder: NotificationDecoder,
        notifier: Notifier,
        observer: ConsumerObserver,
    ) -> None:
        self._queue = queue
        self._decoder = decoder
        self._notifier = notifier
        self._observer = observer

    async def __call__(self, job: Job, token: str) -> dict[str, bool]:
        event = job.name if isinstance(job.name, str) else "<invalid>"
        try:
            notification = self._decoder.decode(
                self._queue, str(job.id), job.name, job.data, int(job.timestamp)
            )
        except InvalidNotification as error:
            self._observer.job_finished(self._queue, event, Outcome.INVALID)
            logger.warning("job %s of %s rejected: %s", job.id, self._queue, error)
            raise UnrecoverableError(str(error)) from None
        try:
            await self._notifier.notify(notification)
        except Exception:
            self._observer.job_finished(self._queue, event, Outcome.FAILED)
            raise
        self._observer.job_finished(self._queue, event, Outcome.EMITTED)
        self._observer.notification_emitted(self._queue, _lag_seconds(notification.created_at_ms))
        return EMITTED


def _lag_seconds(created_at_ms: int) -> float:
    return max(0.0, time.time() - created_at_ms / 1000)


