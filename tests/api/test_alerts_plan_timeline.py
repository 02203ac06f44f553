"""Alerts (filter, acknowledge, resolve), the monitoring plan, measurements and the timeline."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.api.conftest import errors_of, make_alert, make_event, make_lab

pytestmark = pytest.mark.django_db


# --- Alerts --------------------------------------------------------------------------------
def test_an_alert_shows_the_results_behind_it(api_as, patient):
    lab = make_lab(patient, "A-1", value="150")
    earlier = make_lab(patient, "A-0", value="130")
    alert = make_alert(patient, lab)
    alert.related_results.add(earlier)
    body = api_as("nurse").get(f"/api/v1/alerts/{alert.pk}/").json()
    assert body["rule"] == "LIVER_GT_3X_ULN" and body["severity"] == "critical"
    assert body["status"] == "open" and body["action"] and body["source"]
    assert sorted(r["accession"] for r in body["lab_results"]) == ["A-0", "A-1"]


def test_alerts_filter_by_patient_status_and_severity(api_as, patient, toddler):
    make_alert(patient, severity="critical")
    make_alert(patient, severity="warning", status="resolved")
    make_alert(toddler, severity="info")
    client = api_as("viewer")

    def ids(**params):
        return sorted(
            a["severity"] for a in client.get("/api/v1/alerts/", params).json()["results"]
        )

    assert ids(patient=patient.pk) == ["critical", "warning"]
    assert ids(status="open") == ["critical", "info"]
    assert ids(severity=["critical", "warning"]) == ["critical", "warning"]
    assert errors_of(client.get("/api/v1/alerts/", {"severity": "high"})) == {
        "severity": "invalid_choice"
    }


def test_a_nurse_acknowledges_then_resolves_with_notes(api_as, patient, nina):
    alert = make_alert(patient)
    client = api_as("nurse")
    r = client.post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Phoned the patient"}, format="json"
    )
    assert r.status_code == 200, r.json()
    assert (
        r.json()["status"] == "acknowledged"
        and r.json()["acknowledge_note"] == "Phoned the patient"
    )
    assert r.json()["acknowledged_by"] == f"nurse-{patient.clinic_id}"
    r = client.post(
        f"/api/v1/alerts/{alert.pk}/resolve/", {"note": "Repeat ALT normal"}, format="json"
    )
    assert r.json()["status"] == "resolved"


def test_acknowledging_needs_a_note_and_an_open_alert(api_as, patient):
    alert = make_alert(patient, status="resolved")
    client = api_as("nurse")
    assert errors_of(client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json")) == {
        "note": "required"
    }
    r = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "x"}, format="json")
    assert r.status_code == 400 and errors_of(r) == {"status": "invalid"}


# --- Plan --------------------------------------------------------------------------------
def test_the_plan_lists_events_by_target_date(api_as, patient):
    today = date.today()
    make_event(
        patient,
        key="b",
        target=today + timedelta(days=28),
        status="planned",
        earliest=today + timedelta(days=25),
        latest=today + timedelta(days=35),
    )
    make_event(patient, key="a", kind="baseline", status="done", completed_on=today)
    body = api_as("integration").get(f"/api/v1/patients/{patient.pk}/plan/").json()
    events = body["results"]
    assert [e["key"] if "key" in e else e["kind"] for e in events] == ["baseline", "routine"]
    assert set(events[0]) >= {
        "kind",
        "tests",
        "earliest",
        "target",
        "latest",
        "status",
        "explanation",
    }
    only_open = (
        api_as("integration").get(f"/api/v1/patients/{patient.pk}/plan/", {"open": "true"}).json()
    )
    assert [e["status"] for e in only_open["results"]] == ["planned"]


# --- Measurements ------------------------------------------------------------------------
def test_a_measurement_is_recorded_with_its_bsa(api, patient):
    r = api.post(
        f"/api/v1/patients/{patient.pk}/measurements/",
        {"measured_on": date.today().isoformat(), "weight_kg": "70", "height_cm": "170"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert r.json()["bsa_m2"] == "1.818" and r.json()["bsa_formula"] == "mosteller"
    listed = api.get(f"/api/v1/patients/{patient.pk}/measurements/").json()
    assert listed["count"] == 1


def test_an_implausible_measurement_is_refused(api, patient):
    r = api.post(
        f"/api/v1/patients/{patient.pk}/measurements/",
        {"measured_on": date.today().isoformat(), "weight_kg": "700", "height_cm": "170"},
        format="json",
    )
    assert r.status_code == 400 and "weight_kg" in errors_of(r)


def test_measurements_of_another_clinics_patient_are_not_found(api, other_patient):
    assert api.get(f"/api/v1/patients/{other_patient.pk}/measurements/").status_code == 404


# --- Timeline ----------------------------------------------------------------------------
def test_the_timeline_has_everything_in_date_order(api_as, records):
    patient = records["own"]["patient"]
    body = api_as("viewer").get(f"/api/v1/patients/{patient.pk}/timeline/").json()
    kinds = [e["type"] for e in body]
    assert set(kinds) == {"measurement", "prescription", "lab_result", "alert", "assessment"}
    dates = [e["date"] for e in body]
    assert dates == sorted(dates)
    assert all(e["summary"] for e in body)
    since = (
        api_as("viewer")
        .get(f"/api/v1/patients/{patient.pk}/timeline/", {"since": date.today().isoformat()})
        .json()
    )
    assert "measurement" not in [e["type"] for e in since]
    bad = api_as("viewer").get(f"/api/v1/patients/{patient.pk}/timeline/", {"since": "soon"})
    assert errors_of(bad) == {"since": "invalid"}
