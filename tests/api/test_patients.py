"""Patients: CRUD within the clinic, ?mrn= lookup, validation in the one error shape."""

from __future__ import annotations

import pytest

from tests.api.conftest import errors_of, make_lab

pytestmark = pytest.mark.django_db

NEW = {
    "mrn": "N-0100",
    "given_name": "Ada",
    "family_name": "Lovelace",
    "birth_date": "1985-12-10",
    "sex": "female",
    "diagnosis": "psoriasis",
    "risk_factors": ["obesity", "diabetes"],
}


def test_a_clinician_creates_a_patient_in_her_clinic(api, clinic):
    r = api.post("/api/v1/patients/", NEW, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["mrn"] == "N-0100" and body["risk_factors"] == ["obesity", "diabetes"]
    from patients.models import Patient

    assert Patient.objects.get(pk=body["id"]).clinic == clinic


def test_mrn_lookup_finds_the_patient(api, patient):
    r = api.get("/api/v1/patients/", {"mrn": patient.mrn})
    assert r.status_code == 200
    assert [p["id"] for p in r.json()["results"]] == [patient.pk]
    assert api.get("/api/v1/patients/", {"mrn": "nope"}).json()["count"] == 0


def test_mrn_lookup_does_not_see_another_clinics_patient(api, other_patient):
    r = api.get("/api/v1/patients/", {"mrn": other_patient.mrn})
    assert r.json()["count"] == 0
    assert api.get(f"/api/v1/patients/{other_patient.pk}/").status_code == 404


def test_a_duplicate_mrn_is_a_400_naming_mrn(api, patient):
    r = api.post("/api/v1/patients/", {**NEW, "mrn": patient.mrn}, format="json")
    assert r.status_code == 400
    assert errors_of(r) == {"mrn": "unique"}


def test_the_same_mrn_may_exist_in_another_clinic(api, other_patient):
    r = api.post("/api/v1/patients/", {**NEW, "mrn": other_patient.mrn}, format="json")
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"sex": "f"}, "sex", "invalid_choice"),
        ({"diagnosis": "eczema"}, "diagnosis", "invalid_choice"),
        ({"risk_factors": ["smoking"]}, "risk_factors.0", "invalid_choice"),
        ({"risk_factors": ["obesity", "obesity"]}, "risk_factors", "invalid"),
        ({"birth_date": "2999-01-01"}, "birth_date", "invalid"),
        ({"birth_date": "10/12/1985"}, "birth_date", "invalid"),
        ({"mrn": ""}, "mrn", "blank"),
        ({"mrn": 1234}, "mrn", "invalid"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, change, field, code):
    r = api.post("/api/v1/patients/", {**NEW, **change}, format="json")
    assert r.status_code == 400
    assert errors_of(r) == {field: code}


def test_a_missing_field_is_required(api):
    body = {k: v for k, v in NEW.items() if k != "diagnosis"}
    r = api.post("/api/v1/patients/", body, format="json")
    assert errors_of(r) == {"diagnosis": "required"}


def test_patch_changes_only_what_is_given(api, patient):
    r = api.patch(
        f"/api/v1/patients/{patient.pk}/", {"risk_factors": ["alcohol_excess"]}, format="json"
    )
    assert r.status_code == 200, r.json()
    patient.refresh_from_db()
    assert patient.risk_factors == ["alcohol_excess"] and patient.mrn == "N-0001"


def test_put_replaces_the_details(api, patient):
    r = api.put(f"/api/v1/patients/{patient.pk}/", NEW, format="json")
    assert r.status_code == 200
    patient.refresh_from_db()
    assert patient.family_name == "Lovelace"


def test_put_needs_every_field(api, patient):
    r = api.put(f"/api/v1/patients/{patient.pk}/", {"mrn": "X"}, format="json")
    assert r.status_code == 400
    assert "given_name" in errors_of(r)


def test_a_patient_without_records_can_be_deleted(api, patient):
    assert api.delete(f"/api/v1/patients/{patient.pk}/").status_code == 204
    assert api.get(f"/api/v1/patients/{patient.pk}/").status_code == 404


def test_a_patient_with_records_is_never_deleted(api, patient):
    make_lab(patient, "A-1")
    r = api.delete(f"/api/v1/patients/{patient.pk}/")
    assert r.status_code == 409
    assert errors_of(r) == {None: "has_records"}


def test_lists_are_paginated_and_ordered(api, clinic):
    from patients.models import Patient

    for i in range(7):
        Patient.objects.create(
            clinic=clinic,
            mrn=f"P{i}",
            given_name="G",
            family_name=f"F{i}",
            birth_date="1990-01-01",
            sex="male",
            diagnosis="psoriasis",
        )
    r = api.get("/api/v1/patients/", {"page_size": 3, "ordering": "-mrn"})
    body = r.json()
    assert body["count"] == 7 and len(body["results"]) == 3 and body["next"]
    assert [p["mrn"] for p in body["results"]] == ["P6", "P5", "P4"]
    assert api.get("/api/v1/patients/", {"page": 99}).status_code == 404
