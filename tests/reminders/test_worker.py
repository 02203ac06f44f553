"""With a real Celery worker on Redis and a real SMTP server: the issue's "done when" list.

Skipped without REDIS_URL (a failure with MTXMONITOR_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from patients.models import Prescription
from patients.services import lab_result_record
from schedules.models import Alert, Notification, Reminder
from schedules.notify import on_alerts_raised
from schedules.reminder_tasks import send_due_notifications, sweep_reminders
from tests.conftest import make_member
from tests.reminders.conftest import body, london, make_event, make_patient

pytestmark = pytest.mark.worker

TODAY = date(2025, 3, 10)
NINE = london(2025, 3, 10, 9)


def test_a_draw_due_in_7_days_reaches_the_nurses_digest_once_over_four_sweeps(tasks, patient, smtp):
    event = make_event(patient, TODAY + timedelta(days=7))

    sweep_reminders.delay(now=NINE.isoformat())
    tasks.wait_idle()
    (message,) = smtp.inbox.wait_for(1)
    for minutes in (15, 30, 45):
        sweep_reminders.delay(now=(NINE + timedelta(minutes=minutes)).isoformat())
        tasks.wait_idle()

    assert tasks.results("schedules.reminder_tasks.sweep_reminders") == [1, 1, 1, 1]  # chunks
    assert len(tasks.results("schedules.reminder_tasks.sweep_reminder_chunk")) == 4
    assert len(smtp.messages) == 1
    assert message["X-Envelope-To"] == "nina@example.org"
    assert "coming up: due Mon 17 Mar 2025 (in 7 days)" in body(message)
    assert Reminder.objects.get().event_id == event.id
    assert Notification.objects.get().state == "sent"


def test_a_critical_alert_reaches_the_nurse_within_seconds_and_only_after_commit(
    tasks, patient, smtp
):
    with transaction.atomic():
        alert = Alert.objects.create(
            patient=patient,
            rule="LIVER_GT_3X_ULN",
            severity="critical",
            message="ALT 160 U/L is above 3× the upper limit of normal.",
            action="Withhold methotrexate.",
            source="test",
        )
        on_alerts_raised([alert.id])
        assert Notification.objects.get().state == "pending"
        assert tasks.published == {}  # nothing leaves before the commit

    (message,) = smtp.inbox.wait_for(1, timeout=10)
    assert message["Subject"] == "[mtxmonitor] CRITICAL result: MRN N-0001 (PE)"
    assert message["X-Envelope-To"] == "nina@example.org"
    tasks.wait_idle()
    assert Notification.objects.get().state == "sent"


def test_alt_4x_uln_posted_reaches_the_nurses_inbox_as_a_critical_email(tasks, patient, smtp):
    """The whole pipeline: lab_result_record → evaluate on the worker → alert → e-mail."""
    Prescription.objects.create(
        patient=patient,
        drug="methotrexate",
        dose_mg=Decimal("15"),
        frequency="once_weekly",
        weekday="monday",
        route="oral",
        formulation="tablet_2.5mg",
        start_date=date.today() - timedelta(days=120),
    )
    lab_result_record(
        patient=patient,
        analyte="ALT",
        value="160",
        unit="U/L",
        reference_high="40",
        collected_at=timezone.now() - timedelta(hours=1),
        accession="R-ALT-1",
    )

    smtp.inbox.wait_for(1, timeout=15)  # the first critical e-mail, within seconds
    tasks.wait_idle()
    critical = Alert.objects.filter(patient=patient, severity="critical")
    liver = critical.get(rule="LIVER_GT_3X_ULN")
    # ALT 160 U/L is above 3× ULN and above 100 U/L: two critical findings, one e-mail.
    assert critical.count() >= 2
    (message,) = smtp.messages
    assert message["X-Mtxmonitor-Notification"] == (
        f"critical:result={liver.lab_result_id}:v=1:to=nurse-{patient.responsible_nurse_id}"
    )
    assert message["Subject"] == "[mtxmonitor] CRITICAL result: MRN N-0001 (PE)"
    text = body(message)
    assert text.count("Test: ALT") == 1
    assert text.count("Finding: ") == critical.count()
    assert "above 3× the upper limit of normal" in text
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}


def test_smtp_server_stopped_mid_run_ends_with_every_email_sent_exactly_once(
    tasks, clinic, smtp, settings
):
    settings.MTXMONITOR_NOTIFICATION_RETRY_SECONDS = 0  # retry as soon as the sweep asks
    nurses = [make_member(clinic, f"nurse{i}", "nurse") for i in range(5)]
    for i, nurse in enumerate(nurses):
        make_event(make_patient(clinic, f"S-{i}", nurse), TODAY)
    smtp.inbox.hold_after(2)  # two accepted, the third held with no answer ...

    sweep_reminders.delay(now=NINE.isoformat())
    assert smtp.inbox.holding.wait(30)
    smtp.stop()  # ... and the server goes away in the middle of the run
    tasks.wait_idle()

    states = sorted(Notification.objects.values_list("state", "attempts"))
    assert states == [("pending", 1)] * 3 + [("sent", 1)] * 2
    assert len(smtp.messages) == 2

    smtp.inbox.hold_after(None)
    smtp.start()
    send_due_notifications.delay()
    tasks.wait_idle()
    smtp.inbox.wait_for(5)
    send_due_notifications.delay()  # and once more, for good measure
    sweep_reminders.delay(now=(NINE + timedelta(minutes=15)).isoformat())
    tasks.wait_idle()

    assert sorted(m["X-Envelope-To"] for m in smtp.messages) == sorted(n.email for n in nurses)
    assert len({m["Message-ID"] for m in smtp.messages}) == 5
    assert sorted(Notification.objects.values_list("state", "attempts")) == (
        [("sent", 1)] * 2 + [("sent", 2)] * 3
    )
    assert Reminder.objects.filter(notification__state="sent").count() == 5
