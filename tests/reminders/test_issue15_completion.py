"""Issue #15 item 11: tests completed with a reason stop their reminders; a missed response
review is reminded once, escalated once, then listed as missed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schedules.models import MonitoringEvent, Reminder
from tests.reminders.conftest import body, london, make_event, sweep

pytestmark = pytest.mark.django_db

TODAY = date(2025, 3, 10)


def at(days: int, hour: int = 9):
    d = TODAY + timedelta(days=days)
    return london(d.year, d.month, d.day, hour)


def test_a_baseline_completed_as_not_applicable_for_age_is_no_longer_reminded(patient, nina, smtp):
    from schedules.services import event_complete_with_reason

    xray = make_event(
        patient,
        TODAY - timedelta(days=20),
        latest=TODAY - timedelta(days=10),
        kind="baseline",
        tests=("chest_xray",),
    )
    sweep(at(0))
    assert "Baseline: " in body(smtp.inbox.to("nina@example.org")[-1])
    event_complete_with_reason(
        event=xray, user=nina, reason="not_applicable_for_age", note="Infant: no chest X-ray."
    )
    xray.refresh_from_db()
    assert xray.status == "done" and xray.completion_reason == "not_applicable_for_age"
    assert xray.completed_by == nina and "not applicable for age" in xray.explanation
    before = Reminder.objects.count()
    for day in range(1, 20):
        sweep(at(day))
    assert Reminder.objects.count() == before  # no overdue repeat, no escalation
    assert len(smtp.inbox.to("nina@example.org")) == 1


def test_an_overdue_review_is_reminded_once_escalated_once_then_missed(patient, smtp):
    review = make_event(
        patient, TODAY - timedelta(days=7), latest=TODAY - timedelta(days=1), kind="response_review"
    )
    for day in range(0, 40):
        sweep(at(day))
    phases = sorted(Reminder.objects.filter(event=review).values_list("phase", flat=True))
    assert phases == ["escalation", "overdue"]  # not every 3 days for months
    assert len(smtp.inbox.to("derm@example.org")) == 1
    review.refresh_from_db()
    assert review.status == "missed"
    assert review.status not in MonitoringEvent.OPEN_STATUSES


def test_routine_draws_are_still_repeated_every_3_days(patient, smtp):
    draw = make_event(patient, TODAY - timedelta(days=10), latest=TODAY - timedelta(days=1))
    for day in range(0, 10):
        sweep(at(day))
    overdue = Reminder.objects.filter(event=draw, phase="overdue").count()
    assert overdue == 4  # days 0, 3, 6, 9
    draw.refresh_from_db()
    assert draw.status == "overdue"
