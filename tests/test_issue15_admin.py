"""Issue #15 item 11 in the admin: a baseline test completed with a reason, refusals named."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schedules.models import MonitoringEvent

pytestmark = pytest.mark.django_db

TODAY = date.today()


@pytest.fixture
def xray(patient):
    return MonitoringEvent.objects.create(
        patient=patient,
        drug="methotrexate",
        key="test:baseline:xray",
        kind="baseline",
        tests=["chest_xray"],
        earliest=TODAY - timedelta(days=30),
        target=TODAY - timedelta(days=7),
        latest=TODAY,
        explanation="Baseline chest X-ray (test fixture).",
    )


def url(event) -> str:
    return f"/admin/schedules/monitoringevent/{event.pk}/change/"


def test_the_admin_completes_a_baseline_test_with_a_reason(client, nina, xray):
    client.force_login(nina)
    page = client.get(url(xray)).content.decode()
    assert "completion_reason" in page and "Done at another hospital" in page
    # done elsewhere without a date: refused, the field named
    r = client.post(url(xray), {"completion_reason": "done_elsewhere", "completion_note": ""})
    assert r.status_code == 200 and "Say when it was done" in r.content.decode()
    xray.refresh_from_db()
    assert xray.status == "planned"
    done_on = TODAY - timedelta(days=20)
    r = client.post(
        url(xray),
        {
            "completion_reason": "done_elsewhere",
            "completed_on": done_on.isoformat(),
            "completion_note": "Letter from St Elsewhere",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    xray.refresh_from_db()
    assert (xray.status, xray.completed_on, xray.completion_reason) == (
        "done",
        done_on,
        "done_elsewhere",
    )
    assert xray.completed_by == nina and "St Elsewhere" in xray.explanation


def test_the_admin_refuses_to_waive_a_routine_draw(client, nina, patient):
    routine = MonitoringEvent.objects.create(
        patient=patient,
        drug="methotrexate",
        key="test:routine",
        kind="routine",
        tests=["alt", "wbc"],
        earliest=TODAY - timedelta(days=7),
        target=TODAY,
        latest=TODAY + timedelta(days=7),
        explanation="Routine draw (test fixture).",
    )
    client.force_login(nina)
    r = client.post(url(routine), {"completion_reason": "not_applicable_for_age"})
    assert r.status_code == 200 and "cannot be waived" in r.content.decode()
    routine.refresh_from_db()
    assert routine.status == "planned"
