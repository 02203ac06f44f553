"""Celery tasks for reminders and notifications (issue #5): thin shells over
`schedules.reminders` (the sweep) and `schedules.mail` (the ledger).

Every task here is idempotent — statuses are computed from dates, inserts are keyed, sending
claims its row by compare-and-set — so acks_late redelivery (settings.CELERY_TASK_ACKS_LATE)
is safe. No task is scheduled with a long countdown: due dates live in the database
(`Notification.next_attempt_at`) and the beat sweeps for them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.db import OperationalError

log = logging.getLogger(__name__)

RETRY_DB = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 8,
}


def _instant(now: str | None) -> datetime | None:
    return datetime.fromisoformat(now) if now else None


@shared_task(**RETRY_DB)
def sweep_reminders(now: str | None = None) -> int:
    """Beat, every few minutes: the coordinator; fans the chunks out. Returns the chunk count.

    ``now`` (ISO 8601 with offset) pins the instant, for tests and replays only.
    """
    from schedules.reminders import sweep

    report = sweep(now=_instant(now), fan_out=True)
    log.info("Reminder sweep: %d clinic(s), %d chunk(s) queued.", report.clinics, report.chunks)
    return report.chunks


@shared_task(**RETRY_DB)
def sweep_reminder_chunk(
    clinic_id: int, nurse_ids: list[int], unassigned: bool, now: str | None = None
) -> int:
    """One chunk of the sweep; queues the sending of the digests it composed."""
    from schedules.mail import queue_sending
    from schedules.reminders import Chunk, sweep_chunk

    report = sweep_chunk(Chunk(clinic_id, tuple(nurse_ids), unassigned), now=_instant(now))
    queue_sending(report.notification_ids)
    return len(report.notification_ids)


@shared_task(**RETRY_DB)
def send_notification(notification_id: int) -> str:
    """Claim and send one e-mail of the ledger (a no-op if someone else has it or it is done)."""
    from schedules.mail import send_notification as send

    return send(notification_id)


@shared_task(**RETRY_DB)
def send_notifications(notification_ids: list[int]) -> dict[str, int]:
    """Several e-mails over one SMTP connection (a chunk's digests, a retry sweep's batch)."""
    from schedules.mail import send_batch

    return send_batch(notification_ids)


@shared_task(**RETRY_DB)
def send_due_notifications() -> int:
    """Beat, every minute: retries whose backoff has passed, rows stuck `sending`, and anything
    whose dispatch was lost (broker down at commit)."""
    from schedules.mail import send_due

    return send_due().get("queued", 0)
