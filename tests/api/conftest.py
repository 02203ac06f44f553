"""API fixtures: a token client per role, and one record of every kind in each clinic."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import make_member

ROLES = ("clinician", "nurse", "viewer", "integration")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Test users are made by the dozen here; PBKDF2's deliberate slowness is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def api_key(user) -> str:
    """A new API key for `user` (stored hashed: api.models.ApiToken)."""
    from api.models import ApiToken

    return ApiToken.issue(user)[1]


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return client


@pytest.fixture
def api_as(clinic, other_clinic):
    """api_as("nurse") → an APIClient with the token of a Northside nurse (made on first use)."""
    made: dict = {}

    def make(role: str, *, where=None) -> APIClient:
        where = where or clinic
        key = (role, where.pk)
        if key not in made:
            made[key] = token_client(make_member(where, f"{role}-{where.pk}", role))
        return made[key]

    return make


@pytest.fixture
def api(api_as) -> APIClient:
    """A Northside clinician."""
    return api_as("clinician")


def errors_of(response) -> dict[str, str]:
    """{field: code} of a response in the API's error shape."""
    body = response.json()
    assert set(body) == {"errors"}, body
    return {e["field"]: e["code"] for e in body["errors"]}


# --- Records -----------------------------------------------------------------------------
def make_prescription(patient, **kw):
    from patients.models import Prescription

    fields = {
        "drug": "methotrexate",
        "dose_mg": Decimal("15"),
        "frequency": "once_weekly",
        "weekday": "monday",
        "route": "oral",
        "formulation": "tablet_2.5mg",
        "start_date": date.today() - timedelta(days=30),
        "status": "active",
    }
    fields.update(kw)
    return Prescription.objects.create(patient=patient, **fields)


def make_lab(patient, accession: str, analyte="alt", value="30", unit="U/L", **kw):
    from patients.models import LabResult

    return LabResult.objects.create(
        patient=patient,
        clinic_id=patient.clinic_id,
        analyte=analyte,
        reported_value=value,
        reported_unit=unit,
        collected_at=kw.pop("collected_at", timezone.now() - timedelta(hours=2)),
        accession=accession,
        reference_high=kw.pop("reference_high", Decimal("40")),
        **kw,
    )


def make_alert(patient, lab=None, **kw):
    from schedules.models import Alert

    fields = {
        "rule": "LIVER_GT_3X_ULN",
        "severity": "critical",
        "message": "ALT 150 U/L > 3× ULN",
        "action": "Withhold methotrexate and repeat in a week",
        "source": "BSR 2017, Table 3",
    }
    fields.update(kw)
    alert = Alert.objects.create(
        patient=patient, lab_result=lab, result_version=lab.version if lab else None, **fields
    )
    if lab is not None:
        alert.related_results.add(lab)
    return alert


def make_event(patient, **kw):
    from schedules.models import MonitoringEvent

    today = date.today()
    fields = {
        "drug": "methotrexate",
        "key": f"mtx:routine:{kw.get('target', today)}",
        "kind": "routine",
        "tests": ["alt", "wbc"],
        "earliest": today - timedelta(days=3),
        "target": today,
        "latest": today + timedelta(days=7),
        "status": "due",
        "explanation": "Every 4 weeks while the dose is stable (BSR 2017).",
    }
    fields.update(kw)
    return MonitoringEvent.objects.create(patient=patient, **fields)


@pytest.fixture
def records(patient, other_patient):
    """One of every kind of record for Pat (Northside) and Olga (Eastside)."""
    from patients.models import DiseaseAssessment, Measurement

    out = {}
    for side, p in (("own", patient), ("other", other_patient)):
        m = Measurement.objects.create(
            patient=p,
            measured_on=date.today() - timedelta(days=10),
            weight_kg=Decimal("70"),
            height_cm=Decimal("170"),
        )
        rx = make_prescription(p)
        lab = make_lab(p, f"ACC-{side}-1", value="150")
        alert = make_alert(p, lab)
        event = make_event(p)
        DiseaseAssessment.objects.create(patient=p, assessed_on=date.today(), iga=2)
        out[side] = {
            "patient": p,
            "measurement": m,
            "prescription": rx,
            "lab": lab,
            "alert": alert,
            "event": event,
        }
    return out
