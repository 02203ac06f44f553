"""Issue #15 items 7, 9, 10 and 11 through the API: the plan after a dose increase, a
confirmatory repeat that was done, a child's baseline with creatinine only, and completing a
test with a reason (POST /api/v1/patients/{id}/plan/{event}/complete/)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from patients.models import DiseaseAssessment, Patient
from patients.prescriptions import prescription_change_dose
from schedules.models import MonitoringEvent
from schedules.services import sync_plan
from tests.test_monitoring import draw, start_mtx

pytestmark = pytest.mark.django_db

TODAY = date.today()


def plan(api, patient) -> list[dict]:
    r = api.get(f"/api/v1/patients/{patient.pk}/plan/", {"page_size": 200})
    assert r.status_code == 200, r.json()
    return r.json()["results"]


def complete(api, patient, event_id, **body):
    return api.post(f"/api/v1/patients/{patient.pk}/plan/{event_id}/complete/", body, format="json")


def test_a_dose_increase_does_not_cancel_an_overdue_draw(api, patient):
    rx = start_mtx(patient, TODAY - timedelta(days=300))
    for d in (270, 230, 190, 150):
        draw(patient, TODAY - timedelta(days=d))
    sync_plan(patient.pk)
    (overdue,) = [e for e in plan(api, patient) if e["kind"] == "routine" and not e["completed_on"]]
    assert date.fromisoformat(overdue["latest"]) < TODAY  # no blood for 150 days
    prescription_change_dose(
        prescription=rx, dose_mg="20", effective_date=TODAY - timedelta(days=1), reason="Flare"
    )
    sync_plan(patient.pk)
    events = {e["id"]: e for e in plan(api, patient)}
    assert events[overdue["id"]]["status"] != "cancelled"  # still overdue: reminded, escalated
    pending = [
        e
        for e in events.values()
        if e["kind"] == "routine" and e["status"] not in ("done", "cancelled")
    ]
    assert [e["id"] for e in pending] == [overdue["id"]]


def test_a_confirmatory_repeat_that_was_done_shows_done(api, patient):
    start_mtx(patient, TODAY - timedelta(days=60))
    draw(patient, TODAY - timedelta(days=6), alt="160")
    draw(patient, TODAY - timedelta(days=1), alt="170", tag="b")
    (repeat,) = [e for e in plan(api, patient) if e["kind"] == "confirmatory"]
    assert repeat["status"] == "done"
    assert repeat["completed_on"] == (TODAY - timedelta(days=1)).isoformat()


@pytest.fixture
def infant(clinic, nina):
    from patients.models import Measurement

    p = Patient.objects.create(
        clinic=clinic,
        mrn="N-0100",
        given_name="Ivy",
        family_name="Small",
        birth_date=TODAY - timedelta(days=420),
        sex="female",
        diagnosis="atopic_dermatitis",
        risk_factors=[],
        responsible_nurse=nina.membership,
    )
    Measurement.objects.create(
        patient=p, measured_on=TODAY - timedelta(days=10), weight_kg="9.5", height_cm="76"
    )
    return p


def test_an_infants_baseline_with_creatinine_and_no_egfr_is_complete(api, infant):
    from patients.services import lab_result_record
    from tests.test_monitoring import datetime

    at = datetime.combine(TODAY - timedelta(days=5), datetime.min.time()).replace(
        hour=10, tzinfo=infant.clinic.tz
    )
    for analyte, value, unit in (
        ("alt", "20", "U/L"),
        ("ast", "30", "U/L"),
        ("albumin", "40", "g/L"),
        ("wbc", "8", "10*9/L"),
        ("neutrophils", "3", "10*9/L"),
        ("lymphocytes", "4", "10*9/L"),
        ("eosinophils", "0.3", "10*9/L"),
        ("platelets", "300", "10*9/L"),
        ("haemoglobin", "115", "g/L"),
        ("mcv", "80", "fL"),
        ("creatinine", "25", "umol/L"),
    ):
        lab_result_record(
            patient=infant,
            analyte=analyte,
            value=value,
            unit=unit,
            collected_at=at,
            accession=f"INF-{analyte}",
        )
    from tests.api.conftest import make_prescription

    make_prescription(
        infant,
        dose_mg="4",
        formulation="oral_solution_2mg_ml",
        start_date=TODAY - timedelta(days=2),
        weekday="saturday",
    )
    sync_plan(infant.pk)
    (labs,) = [e for e in plan(api, infant) if e["kind"] == "baseline" and "alt" in e["tests"]]
    assert labs["status"] == "done"
    assert "eGFR estimated from creatinine" in labs["explanation"]


def test_a_baseline_test_completed_with_a_reason_through_the_api(api_as, patient):
    start_mtx(patient, TODAY - timedelta(days=10))
    sync_plan(patient.pk)
    xray = MonitoringEvent.objects.get(patient=patient, kind="baseline", tests=["chest_xray"])
    nurse = api_as("nurse")
    r = complete(nurse, patient, xray.pk, reason="done_elsewhere")
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["errors"]} == {"done_on"}
    future = (TODAY + timedelta(days=3)).isoformat()
    assert (
        complete(nurse, patient, xray.pk, reason="done_elsewhere", done_on=future).status_code
        == 400
    )
    assert complete(nurse, patient, xray.pk, reason="bogus").status_code == 400
    assert (
        complete(api_as("viewer"), patient, xray.pk, reason="not_applicable_for_age").status_code
        == 403
    )
    done_on = (TODAY - timedelta(days=40)).isoformat()
    r = complete(
        nurse, patient, xray.pk, reason="done_elsewhere", done_on=done_on, note="St Elsewhere"
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "done" and body["completed_on"] == done_on
    assert body["completion_reason"] == "done_elsewhere"
    assert (
        "done at another hospital" in body["explanation"] and "St Elsewhere" in body["explanation"]
    )
    sync_plan(patient.pk)
    (again,) = [e for e in plan(api_as("clinician"), patient) if e["id"] == xray.pk]
    assert again["status"] == "done" and again["completion_reason"] == "done_elsewhere"
    # twice: refused, the record is not rewritten
    assert complete(nurse, patient, xray.pk, reason="not_applicable_for_age").status_code == 400


def test_routine_blood_tests_cannot_be_waived_and_reviews_take_an_iga(api, patient):
    start_mtx(patient, TODAY - timedelta(days=10))
    sync_plan(patient.pk)
    routine = MonitoringEvent.objects.get(patient=patient, kind="routine")
    r = complete(api, patient, routine.pk, reason="not_applicable_for_age")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "reason"
    review = MonitoringEvent.objects.filter(patient=patient, kind="response_review").first()
    r = complete(api, patient, review.pk, reason="not_indicated", note="x")
    assert r.status_code == 400 and "IGA" in r.json()["errors"][0]["message"]


def test_a_routine_draw_done_elsewhere_re_anchors_the_next_one(api, patient):
    start_mtx(patient, TODAY - timedelta(days=100))
    draw(patient, TODAY - timedelta(days=70))
    sync_plan(patient.pk)
    routine = (
        MonitoringEvent.objects.filter(patient=patient, kind="routine").exclude(status="done").get()
    )
    elsewhere = TODAY - timedelta(days=3)
    r = complete(api, patient, routine.pk, reason="done_elsewhere", done_on=elsewhere.isoformat())
    assert r.status_code == 200, r.json()
    sync_plan(patient.pk)
    pending = [
        e
        for e in plan(api, patient)
        if e["kind"] == "routine" and e["status"] not in ("done", "cancelled")
    ]
    assert len(pending) == 1 and date.fromisoformat(pending[0]["earliest"]) > elsewhere


def test_a_review_is_completed_by_an_iga_in_its_window_not_by_a_later_one(api, patient):
    start = TODAY - timedelta(days=200)
    start_mtx(patient, start)
    # the 12-week review's window passed without an IGA; one at week 24 is the 24-week review's
    DiseaseAssessment.objects.create(
        patient=patient, assessed_on=start + timedelta(weeks=24), iga=2
    )
    sync_plan(patient.pk)
    reviews = sorted(
        (e for e in plan(api, patient) if e["kind"] == "response_review"), key=lambda e: e["target"]
    )
    assert [r["completed_on"] is not None for r in reviews] == [False, True]
