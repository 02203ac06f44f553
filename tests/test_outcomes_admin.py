"""Capture at the point of care in the admin (issue 19): a stop carries its end reason; a liver
alert can be recorded as an adverse event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from patients.models import AdverseEvent, LabResult, Prescription
from schedules.models import Alert
from schedules.services import evaluate_result
from tests.api.conftest import make_prescription
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def stop_url(rx):
    return f"/admin/patients/prescription/{rx.pk}/act/stop/"


def test_a_stop_in_the_admin_needs_an_end_reason_and_keeps_it(client, clinic, toddler):
    client.force_login(make_member(clinic, "carla", "clinician"))
    rx = make_prescription(
        toddler, dose_mg="5", start_date=timezone.localdate() - timedelta(days=30)
    )
    today = timezone.localdate().isoformat()
    response = client.post(stop_url(rx), {"effective_date": today, "reason": "Parents' wish"})
    assert response.status_code == 200
    assert "end_reason" in response.context["form"].errors
    assert not Prescription.objects.filter(supersedes=rx).exists()
    response = client.post(
        stop_url(rx),
        {
            "effective_date": today,
            "reason": "Parents' wish",
            "end_reason": "patient_or_parent_concern",
        },
    )
    assert response.status_code == 302
    stop = Prescription.objects.get(supersedes=rx)
    assert (stop.status, stop.end_reason) == ("stopped", "patient_or_parent_concern")


def _liver_alert(patient):
    result = LabResult(
        patient=patient,
        analyte="alt",
        reported_value="130",
        reported_unit="U/L",
        reference_high=40,
        collected_at=timezone.now() - timedelta(hours=2),
        accession="AE-ALT-1",
    )
    result.save()
    evaluate_result(result.pk)
    return Alert.objects.get(lab_result=result, rule="LIVER_GT_3X_ULN")


def _act(client, alerts):
    return client.post(
        "/admin/schedules/alert/",
        {
            "action": "record_adverse_event",
            "_selected_action": [a.pk for a in alerts],
            "status__exact": "open",
        },
        follow=True,
    )


def test_a_liver_alert_is_recorded_as_transaminitis_once(client, clinic, toddler):
    rx = make_prescription(
        toddler, dose_mg="5", start_date=timezone.localdate() - timedelta(days=40)
    )
    alert = _liver_alert(toddler)
    client.force_login(make_member(clinic, "nora", "nurse"))
    response = _act(client, [alert])
    assert response.status_code == 200
    event = AdverseEvent.objects.get(patient=toddler)
    assert (event.kind, event.prescription_id, event.onset_date) == (
        "transaminitis",
        rx.pk,
        alert.lab_result.collected_at.astimezone(clinic.tz).date(),
    )
    assert "LIVER_GT_3X_ULN" in event.description
    _act(client, [alert])
    assert AdverseEvent.objects.filter(patient=toddler).count() == 1


def test_an_alert_that_documents_no_adverse_event_is_refused_by_name(client, clinic, toddler):
    alert = Alert.objects.create(
        patient=toddler, rule="RESULT_NOT_EVALUABLE", severity="warning", message="m", action="a",
        source="s",
    )  # fmt: skip
    client.force_login(make_member(clinic, "carla", "clinician"))
    response = _act(client, [alert])
    assert "does not document an adverse event" in response.content.decode()
    assert not AdverseEvent.objects.exists()


def test_a_viewer_may_not_record_one(client, clinic, toddler):
    alert = _liver_alert(toddler)
    client.force_login(make_member(clinic, "vic", "viewer"))
    _act(client, [alert])
    assert not AdverseEvent.objects.exists()
