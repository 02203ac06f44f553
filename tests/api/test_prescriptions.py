"""Prescriptions: start, change dose, hold, restart, stop — every check applies, history kept."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.api.conftest import errors_of

pytestmark = pytest.mark.django_db

TODAY = date.today()


def start(patient, **kw):
    body = {
        "patient": patient.pk,
        "drug": "methotrexate",
        "dose_mg": "15",
        "frequency": "once_weekly",
        "weekday": "monday",
        "route": "oral",
        "formulation": "tablet_2.5mg",
        "start_date": TODAY.isoformat(),
        "reason": "Dermatomyositis, steroid-sparing",
    }
    body.update(kw)
    return body


@pytest.fixture
def measured(patient):
    from patients.models import Measurement

    Measurement.objects.create(patient=patient, measured_on=TODAY, weight_kg=70, height_cm=170)
    return patient


def test_a_clinician_starts_methotrexate(api, measured):
    r = api.post("/api/v1/prescriptions/", start(measured), format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["drug"] == "methotrexate" and body["dose_mg"] == "15.00"
    assert body["status"] == "active" and body["current"] is True and body["change"] == "start"
    assert isinstance(body["warnings"], list)
    for w in body["warnings"]:
        assert set(w) >= {"code", "message", "source"}


def test_daily_methotrexate_is_refused_with_the_reason(api, measured):
    r = api.post(
        "/api/v1/prescriptions/",
        start(measured, frequency="once_daily", weekday=None),
        format="json",
    )
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert any(e["field"] == "frequency" and e["code"].startswith("MTX") for e in errors), errors


def test_a_dose_above_the_cap_is_refused(api, measured):
    r = api.post("/api/v1/prescriptions/", start(measured, dose_mg="50"), format="json")
    assert r.status_code == 400
    assert "dose_mg" in errors_of(r)


def test_a_second_current_methotrexate_is_refused(api, measured):
    assert api.post("/api/v1/prescriptions/", start(measured), format="json").status_code == 201
    r = api.post("/api/v1/prescriptions/", start(measured), format="json")
    assert r.status_code == 400 and "drug" in errors_of(r)


def test_another_clinics_patient_cannot_be_prescribed_for(api, other_patient):
    r = api.post("/api/v1/prescriptions/", start(other_patient), format="json")
    assert r.status_code == 400 and errors_of(r) == {"patient": "does_not_exist"}


def test_actions_keep_the_history_as_a_chain(api, measured):
    first = api.post("/api/v1/prescriptions/", start(measured), format="json").json()
    when = (TODAY + timedelta(days=1)).isoformat()
    changed = api.post(
        f"/api/v1/prescriptions/{first['id']}/change-dose/",
        {"dose_mg": "17.5", "effective_date": when, "reason": "Active disease"},
        format="json",
    )
    assert changed.status_code == 201, changed.json()
    changed = changed.json()
    assert changed["supersedes"] == first["id"] and changed["change"] == "dose_increase"
    held = api.post(
        f"/api/v1/prescriptions/{changed['id']}/hold/",
        {"effective_date": when, "reason": "ALT 3× ULN"},
        format="json",
    ).json()
    assert held["status"] == "held"
    restarted = api.post(
        f"/api/v1/prescriptions/{held['id']}/restart/",
        {"effective_date": when, "reason": "ALT normal", "dose_mg": "15"},
        format="json",
    ).json()
    assert restarted["status"] == "active" and restarted["dose_mg"] == "15.00"
    stopped = api.post(
        f"/api/v1/prescriptions/{restarted['id']}/stop/",
        {"effective_date": when, "reason": "Remission", "end_reason": "remission"},
        format="json",
    ).json()
    assert stopped["status"] == "stopped"

    old = api.get(f"/api/v1/prescriptions/{first['id']}/").json()
    assert old["dose_mg"] == "15.00" and old["current"] is False
    assert old["superseded_by"] == changed["id"]
    current = api.get("/api/v1/prescriptions/", {"patient": measured.pk, "current": "true"}).json()
    assert [p["id"] for p in current["results"]] == [stopped["id"]]
    assert api.get("/api/v1/prescriptions/", {"patient": measured.pk}).json()["count"] == 5


def test_acting_on_a_superseded_prescription_is_refused(api, measured):
    first = api.post("/api/v1/prescriptions/", start(measured), format="json").json()
    api.post(
        f"/api/v1/prescriptions/{first['id']}/hold/",
        {"effective_date": TODAY.isoformat(), "reason": "Infection"},
        format="json",
    )
    r = api.post(
        f"/api/v1/prescriptions/{first['id']}/hold/",
        {"effective_date": TODAY.isoformat(), "reason": "Again"},
        format="json",
    )
    assert r.status_code == 400


def test_an_action_needs_a_reason(api, measured):
    first = api.post("/api/v1/prescriptions/", start(measured), format="json").json()
    r = api.post(
        f"/api/v1/prescriptions/{first['id']}/hold/",
        {"effective_date": TODAY.isoformat()},
        format="json",
    )
    assert errors_of(r) == {"reason": "required"}


def test_stop_needs_a_known_end_reason(api, measured):
    first = api.post("/api/v1/prescriptions/", start(measured), format="json").json()
    r = api.post(
        f"/api/v1/prescriptions/{first['id']}/stop/",
        {"effective_date": TODAY.isoformat(), "reason": "x", "end_reason": "bored"},
        format="json",
    )
    assert errors_of(r) == {"end_reason": "invalid_choice"}


def test_prescriptions_are_never_edited_in_place(api, measured):
    first = api.post("/api/v1/prescriptions/", start(measured), format="json").json()
    r = api.patch(f"/api/v1/prescriptions/{first['id']}/", {"dose_mg": "20"}, format="json")
    assert r.status_code == 405
    assert errors_of(r) == {None: "method_not_allowed"}
