"""Issue #15 "Done when": on the demo data the nurses' digests carry only actionable items."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, time

import pytest
from django.core import mail
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def digests():
    from patients.models import Clinic

    call_command("seed_demo", "--quiet")
    today = Clinic.objects.get(name="Northside Dermatology").today()
    nine = datetime.combine(today, time(9), tzinfo=zoneinfo.ZoneInfo("Europe/London"))
    call_command("sweep_reminders", "--now", nine.isoformat())
    return {m.subject: m.body for m in mail.outbox}


def test_the_demo_digests_hold_only_actionable_items(digests):
    nurse = "\n".join(b for s, b in digests.items() if "Monitoring reminders" in s)
    lines = [x for x in nurse.splitlines() if x.startswith("  * ")]
    assert lines, nurse
    # no baseline test that cannot be done (infant eGFR, chest X-ray, serology done elsewhere)
    assert not any(x.startswith("  * Baseline") for x in lines), lines
    # no review or draw overdue for months: every overdue item is at most 4 weeks late
    for x in lines:
        m = re.search(r"overdue (\d+) days", x)
        assert m is None or int(m.group(1)) <= 28, x
    # what the README says a digest holds on the demo data
    assert any("Confirmatory: ALT" in x for x in lines)
    assert any(x.startswith("  * Routine") and "overdue" in x for x in lines)
    assert any(x.startswith("  * Response review") for x in lines)
    escalation = "\n".join(b for s, b in digests.items() if "Escalation" in s)
    assert "Response review" not in escalation and "Baseline" not in escalation


def test_the_demo_records_tests_completed_with_a_reason(digests):
    from schedules.models import MonitoringEvent

    reasons = set(
        MonitoringEvent.objects.exclude(completion_reason="").values_list(
            "patient__mrn", "completion_reason"
        )
    )
    assert ("NS-1001", "not_applicable_for_age") in reasons
    assert ("NS-1003", "done_elsewhere") in reasons
