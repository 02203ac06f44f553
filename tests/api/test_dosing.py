"""The stateless dose calculator: steps, warnings, and input errors naming the field."""

from __future__ import annotations

import pytest

from tests.api.conftest import errors_of

pytestmark = pytest.mark.django_db

CHILD = {
    "drug": "methotrexate",
    "basis": "mg_per_m2",
    "amount": "15",
    "weight_kg": "20",
    "height_cm": "115",
    "birth_date": "2018-03-01",
    "indication": "atopic_dermatitis",
    "weekday": "friday",
}


def test_it_calculates_a_bsa_based_dose_with_its_steps(api):
    r = api.post("/api/v1/dosing/calculate/", CHILD, format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["bsa_formula"] == "mosteller" and body["bsa_m2"] == "0.799"
    assert body["raw_dose_mg"] == "11.9850"
    assert body["final_dose_mg"] in ("12.5000", "10.0000")
    assert "Fridays" in body["administration"]
    assert [s["name"] for s in body["steps"]][:2] == ["BSA", "Raw dose"]
    for w in body["warnings"]:
        assert set(w) >= {"code", "message", "source"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"height_cm": None}, "height_cm"),  # mg/m² needs a height
        ({"weight_kg": "400"}, "weight_kg"),  # implausible for a 6-year-old
        ({"formulation": "capsule_250mg"}, "formulation"),  # a mycophenolate product
        ({"formula": "guess"}, "formula"),
        ({"amount": "-1"}, "amount"),
    ],
)
def test_bad_input_names_the_field(api, change, field):
    r = api.post("/api/v1/dosing/calculate/", {**CHILD, **change}, format="json")
    assert r.status_code == 400, r.json()
    assert field in errors_of(r)


def test_it_stores_nothing(api, patient):
    from patients.models import Prescription

    api.post("/api/v1/dosing/calculate/", CHILD, format="json")
    assert Prescription.objects.count() == 0
