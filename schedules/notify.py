"""Hook from the lab pipeline to the reminder/notification system (issue #5).

`schedules.services.evaluate_result` calls `on_alerts_raised` inside its transaction with the ids
of the alerts it has just created; implementations must defer any sending until after commit
(`transaction.on_commit`) and be idempotent.
"""

from __future__ import annotations

from clinical import codes
from clinical.reminders import critical_key, recipient_token


def on_alerts_raised(alert_ids: list[int]) -> None:
    """Queue what must go out at once for new alerts (critical ones: an immediate e-mail).

    One ledger row per lab result version (every critical finding of one result in one e-mail;
    a finding without a result, alone) and recipient (the patient's nurse, or the clinic contact
    when the patient has none or the nurse has no usable address), created under its unique key
    so a re-evaluation never queues it twice; sending is dispatched after the caller's commit.
    Should the dispatch be lost (broker down), the row is `pending` and the retry sweep sends it
    within a minute. Warnings and info alerts wait for a human in the worklist: no e-mail.
    """
    from schedules.mail import queue_sending
    from schedules.models import Alert, Notification
    from schedules.reminders import nurse_addresses

    alerts = list(
        Alert.objects.filter(id__in=list(alert_ids), severity=codes.AlertSeverity.CRITICAL)
        .select_related("patient__clinic")
        .order_by("id")
    )
    if not alerts:
        return
    addresses = nurse_addresses(
        {a.patient.responsible_nurse_id for a in alerts if a.patient.responsible_nurse_id}
    )
    rows = []
    grouped: set[tuple] = set()
    for alert in alerts:  # by id: a result's first critical alert carries its e-mail
        group = (alert.lab_result_id, alert.result_version) if alert.lab_result_id else alert.id
        if group in grouped:
            continue  # listed in the e-mail of its result's first critical alert
        grouped.add(group)
        patient = alert.patient
        nurse_id = patient.responsible_nurse_id
        token = recipient_token(nurse_id=nurse_id, clinic_id=patient.clinic_id)
        rows.append(
            Notification(
                clinic_id=patient.clinic_id,
                kind=Notification.Kind.CRITICAL,
                key=critical_key(
                    alert_id=alert.id,
                    recipient=token,
                    result_id=alert.lab_result_id,
                    version=alert.result_version,
                ),
                recipient_id=nurse_id,
                to_email=addresses.get(nurse_id) or patient.clinic.contact_email,
                patient=patient,
                alert=alert,
            )
        )
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    queue_sending(
        Notification.objects.filter(
            key__in=[r.key for r in rows], state=Notification.State.PENDING
        ).values_list("id", flat=True)
    )
