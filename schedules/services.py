"""Writes for monitoring events, alerts and notifications (thin shells over `clinical/`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from schedules.models import Alert


def _require_note(note: str, field: str = "note") -> str:
    note = (note or "").strip()
    if not note:
        raise ValidationError({field: "A note is required: say what was done or decided."})
    return note


@transaction.atomic
def alert_acknowledge(*, alert: Alert, user, note: str) -> Alert:
    """Open → acknowledged, with who, when and a note (a reason is required: no silent snooze)."""
    note = _require_note(note)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != Alert.Status.OPEN:
        raise ValidationError(
            {"status": f"Only an open alert can be acknowledged (it is {alert.status})."}
        )
    alert.status = Alert.Status.ACKNOWLEDGED
    alert.acknowledged_by = user
    alert.acknowledged_at = timezone.now()
    alert.acknowledge_note = note
    alert.save()
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, user, note: str) -> Alert:
    """Open or acknowledged → resolved, with who, when and a note."""
    note = _require_note(note)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status not in Alert.ACTIVE_STATUSES:
        raise ValidationError(
            {
                "status": f"Only an open or acknowledged alert can be resolved (it is {alert.status})."
            }
        )
    if alert.acknowledged_at is None:
        alert.acknowledged_by = user
        alert.acknowledged_at = timezone.now()
        alert.acknowledge_note = note
    alert.status = Alert.Status.RESOLVED
    alert.resolved_by = user
    alert.resolved_at = timezone.now()
    alert.resolve_note = note
    alert.save()
    return alert


# --- Planning and evaluation (bodies land with the clinical planner / lab rules) -------------
def dispatch_replan(patient_id: int) -> None:
    """Re-plan a patient's monitoring after the current transaction commits."""

    def send() -> None:
        from schedules.tasks import replan_patient

        try:
            replan_patient.delay(patient_id)
        except Exception:  # broker down: the nightly replan sweep covers it
            import logging

            logging.getLogger(__name__).warning(
                "Could not queue re-planning of patient %s.", patient_id, exc_info=True
            )

    transaction.on_commit(send)


def sync_plan(patient_id: int, today=None) -> None:
    raise NotImplementedError


def evaluate_result(result_id: int) -> None:
    raise NotImplementedError
