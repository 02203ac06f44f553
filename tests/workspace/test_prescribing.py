"""Prescribing with a preview (issue #17 item 3): the calculator and every check are shown
before anything is saved; the save goes through the same service with the same arguments."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from patients.models import LabResult, Measurement, Prescription
from patients.services import lab_result_record
from tests.workspace.conftest import on_methotrexate

pytestmark = pytest.mark.django_db


def start_form(**over):
    data = {
        "drug": "methotrexate",
        "basis": "mg_per_m2",
        "amount": "10",
        "formulation": "tablet_2.5mg",
        "route": "",
        "weekday": "friday",
        "start_date": date.today().isoformat(),
        "reason": "Refractory skin disease.",
        "preview": "1",
    }
    data.update(over)
    return data


def measured(patient):
    Measurement.objects.create(
        patient=patient,
        measured_on=date.today() - timedelta(days=5),
        weight_kg=Decimal("70"),
        height_cm=Decimal("170"),
    )


def baseline_bloods(patient):
    at = timezone.now() - timedelta(days=3)
    for i, (analyte, value, unit) in enumerate(
        [
            ("alt", "20", "U/L"),
            ("ast", "20", "U/L"),
            ("albumin", "40", "g/L"),
            ("wbc", "6", "10*9/L"),
            ("neutrophils", "3", "10*9/L"),
            ("lymphocytes", "2", "10*9/L"),
            ("eosinophils", "0.2", "10*9/L"),
            ("platelets", "250", "10*9/L"),
            ("haemoglobin", "130", "g/L"),
            ("mcv", "90", "fL"),
            ("creatinine", "70", "umol/L"),
            ("egfr", "90", "mL/min/{1.73_m2}"),
        ]
    ):
        lab_result_record(
            patient=patient, analyte=analyte, value=value, unit=unit, collected_at=at,
            accession=f"BL-{i}",
        )  # fmt: skip


def test_the_preview_shows_the_calculation_and_saves_nothing(client_as, patient):
    measured(patient)
    baseline_bloods(patient)
    r = client_as("clinician").post(f"/staff/patients/{patient.pk}/prescribe/", start_form())
    assert r.status_code == 200
    body = r.content.decode()
    assert "Preview" in body and "not saved yet" in body
    assert "Give: " in body and "2.5 mg tablet" in body and "once weekly on Fridays" in body
    assert "BSA" in body and "1.818 m²" in body  # Mosteller for 70 kg, 170 cm
    assert "Confirm and save" in body
    assert "No baseline bloods" not in body
    assert not Prescription.objects.filter(patient=patient).exists()


def test_confirming_saves_what_was_previewed(client_as, patient):
    measured(patient)
    baseline_bloods(patient)
    c = client_as("clinician")
    preview = c.post(f"/staff/patients/{patient.pk}/prescribe/", start_form())
    assert preview.status_code == 200
    data = start_form()
    data.pop("preview")
    data["confirm"] = "1"
    r = c.post(f"/staff/patients/{patient.pk}/prescribe/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    rx = Prescription.objects.get(patient=patient)
    assert rx.dose_mg == Decimal("17.5")  # 10 mg/m² × 1.82 m² = 18.2 → 7 × 2.5 mg tablets
    assert rx.weekday == "friday" and rx.basis == "mg_per_m2" and rx.basis_amount == Decimal("10")
    assert rx.created_by.username == f"clinician-{patient.clinic_id}"


def test_methotrexate_without_baseline_bloods_must_be_confirmed(client_as, patient):
    measured(patient)
    c = client_as("clinician")
    body = c.post(f"/staff/patients/{patient.pk}/prescribe/", start_form()).content.decode()
    assert "No baseline bloods on record" in body
    assert "ALT" in body and "creatinine" in body  # what is missing, in words
    data = start_form()
    data.pop("preview")
    data["confirm"] = "1"
    r = c.post(f"/staff/patients/{patient.pk}/prescribe/", data)
    assert r.status_code == 200
    assert "Confirm that you prescribe without baseline bloods" in r.content.decode()
    assert not Prescription.objects.filter(patient=patient).exists()
    data["confirm_no_baseline"] = "on"
    assert c.post(f"/staff/patients/{patient.pk}/prescribe/", data).status_code == 302
    assert Prescription.objects.filter(patient=patient, status="active").count() == 1
    # The planner makes the baseline draw due on or before the first dose.
    from schedules.models import MonitoringEvent
    from schedules.services import sync_plan

    sync_plan(patient.pk)
    baseline = MonitoringEvent.objects.get(
        patient=patient, kind="baseline", tests__contains=["alt"]
    )
    assert baseline.latest <= date.today() and baseline.completed_on is None


def test_a_hard_stop_is_shown_in_words_and_cannot_be_saved(client_as, patient):
    measured(patient)
    baseline_bloods(patient)
    c = client_as("clinician")
    data = start_form(weekday="")
    body = c.post(f"/staff/patients/{patient.pk}/prescribe/", data).content.decode()
    assert "Stops the save" in body
    assert "MTX_NO_WEEKDAY" not in body.split("why?")[0]  # the code sits behind "why?"
    assert "Confirm and save" not in body
    data.pop("preview")
    data["confirm"] = "1"
    assert c.post(f"/staff/patients/{patient.pk}/prescribe/", data).status_code == 200
    assert not Prescription.objects.exists()


def test_an_overridable_cap_needs_a_recorded_reason(client_as, patient):
    measured(patient)
    baseline_bloods(patient)
    c = client_as("clinician")
    # The calculator caps 30 mg to 25 mg; prescribing 30 mg anyway is the overridable stop.
    data = start_form(basis="fixed", amount="30", dose_mg="30")
    body = c.post(f"/staff/patients/{patient.pk}/prescribe/", data).content.decode()
    assert "Stops the save unless overridden" in body
    assert "Reason for overriding the stop" in body
    data.pop("preview")
    data["confirm"] = "1"
    body = c.post(f"/staff/patients/{patient.pk}/prescribe/", data).content.decode()
    assert "Give the reason for overriding" in body
    assert not Prescription.objects.exists()
    data["override_reason"] = "Agreed with the consultant: severe disease."
    r = c.post(f"/staff/patients/{patient.pk}/prescribe/", data)
    assert r.status_code == 302, r.content.decode()[-3000:]
    rx = Prescription.objects.get(patient=patient)
    assert rx.override_reason.startswith("Agreed")
    assert any(w["code"] == "DOSE_ABOVE_CAP_OVERRIDDEN" for w in rx.warnings)


def test_overridable_stops_listed_by_the_workspace_are_lifted_by_a_reason():
    """workspace.prescribing.OVERRIDABLE_STOPS names codes that the core marks overridable."""
    from clinical.prescription_checks import CHECK_CODES
    from workspace.prescribing import OVERRIDABLE_STOPS

    for code in OVERRIDABLE_STOPS:
        assert code in CHECK_CODES and f"{code}_OVERRIDDEN" in CHECK_CODES


def test_change_dose_previews_then_saves_a_new_row(client_as, patient):
    rx = on_methotrexate(patient, dose="15")
    c = client_as("clinician")
    url = f"/staff/patients/{patient.pk}/prescriptions/{rx.pk}/change/"
    data = {
        "basis": "fixed",
        "amount": "20",
        "formulation": "",
        "effective_date": date.today().isoformat(),
        "reason": "Partial response.",
        "preview": "1",
    }
    body = c.post(url, data).content.decode()
    assert "Give: 8 × 2.5 mg tablets (20 mg) once weekly on Mondays" in body
    assert Prescription.objects.filter(patient=patient).count() == 1
    data.pop("preview")
    data["confirm"] = "1"
    assert c.post(url, data).status_code == 302
    new = Prescription.objects.get(supersedes=rx)
    assert new.dose_mg == Decimal("20") and new.change == "dose_increase"


def test_hold_restart_and_stop_are_one_form_each(client_as, patient):
    rx = on_methotrexate(patient)
    c = client_as("clinician")
    base = f"/staff/patients/{patient.pk}/prescriptions"
    today = date.today().isoformat()
    hold = c.get(f"{base}/{rx.pk}/hold/").content.decode()
    assert 'name="end_reason"' not in hold and 'name="amount"' not in hold
    r = c.post(f"{base}/{rx.pk}/hold/", {"effective_date": today, "reason": "ALT raised."})
    assert r.status_code == 302
    held = Prescription.objects.get(supersedes=rx)
    assert held.status == "held"
    r = c.post(f"{base}/{held.pk}/hold/", {"effective_date": today, "reason": "again"})
    assert "only an active prescription can be held" in r.content.decode()
    r = c.post(
        f"{base}/{held.pk}/restart/",
        {"effective_date": today, "dose_mg": "10", "reason": "ALT normal.", "confirm": "1"},
    )
    assert r.status_code == 302
    restarted = Prescription.objects.get(supersedes=held)
    assert restarted.status == "active" and restarted.dose_mg == Decimal("10")
    r = c.post(
        f"{base}/{restarted.pk}/stop/",
        {"effective_date": today, "end_reason": "remission", "reason": "In remission."},
    )
    assert r.status_code == 302
    assert Prescription.objects.get(supersedes=restarted).status == "stopped"


def test_a_reason_is_required_for_a_hold(client_as, patient):
    rx = on_methotrexate(patient)
    url = f"/staff/patients/{patient.pk}/prescriptions/{rx.pk}/hold/"
    r = client_as("clinician").post(url, {"effective_date": date.today().isoformat(), "reason": ""})
    assert r.status_code == 200 and "This field is required" in r.content.decode()
    assert Prescription.objects.filter(patient=patient).count() == 1


def test_the_preview_of_a_change_leaves_no_row_and_no_replan(
    client_as, patient, django_capture_on_commit_callbacks
):
    rx = on_methotrexate(patient)
    url = f"/staff/patients/{patient.pk}/prescriptions/{rx.pk}/restart/"
    held_url = f"/staff/patients/{patient.pk}/prescriptions/{rx.pk}/hold/"
    c = client_as("clinician")
    with django_capture_on_commit_callbacks() as callbacks:
        c.post(held_url, {"effective_date": date.today().isoformat(), "reason": "x"})
    assert len(callbacks) == 1  # the hold's re-plan
    held = Prescription.objects.get(supersedes=rx)
    with django_capture_on_commit_callbacks() as callbacks:
        body = c.post(
            f"/staff/patients/{patient.pk}/prescriptions/{held.pk}/restart/",
            {"effective_date": date.today().isoformat(), "reason": "ok", "preview": "1"},
        ).content.decode()
    assert "Confirm and save" in body
    assert callbacks == []
    assert not Prescription.objects.filter(supersedes=held).exists()
    assert url  # the restart URL of a superseded row is refused by the service, not the page
    assert LabResult.objects.count() == 0
