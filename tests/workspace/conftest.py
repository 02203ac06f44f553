"""Workspace fixtures: a logged-in client per role, a patient with history in each clinic."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import make_member


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def client_as(clinic, other_clinic):
    """A logged-in test client for a role, in Northside (or `where`)."""
    made = {}

    def make(role: str, *, where=None) -> Client:
        where = where or clinic
        key = (role, where.pk)
        if key not in made:
            made[key] = make_member(where, f"{role}-{where.pk}", role)
        c = Client()
        c.force_login(made[key])
        return c

    return make


def on_methotrexate(patient, *, dose="15", days_ago=120):
    from patients.models import Measurement, Prescription

    Measurement.objects.create(
        patient=patient,
        measured_on=date.today() - timedelta(days=10),
        weight_kg=Decimal("70"),
        height_cm=Decimal("170"),
    )
    return Prescription.objects.create(
        patient=patient,
        drug="methotrexate",
        dose_mg=Decimal(dose),
        frequency="once_weekly",
        weekday="monday",
        route="oral",
        formulation="tablet_2.5mg",
        start_date=date.today() - timedelta(days=days_ago),
    )


def alt_result(patient, value: str, accession: str, *, hours_ago=2, high="40"):
    from patients.services import lab_result_record
    from schedules.services import evaluate_result

    result = lab_result_record(
        patient=patient,
        analyte="alt",
        value=value,
        unit="U/L",
        reference_high=high,
        collected_at=timezone.now() - timedelta(hours=hours_ago),
        accession=accession,
    ).result
    evaluate_result(result.pk)  # what the worker does after commit (tests/test_worker.py)
    return result


@pytest.fixture
def charted(patient):
    """Pat on methotrexate with an ALT of 150 U/L (two findings: > 3× ULN and > 100 U/L)."""
    rx = on_methotrexate(patient)
    alt_result(patient, "25", "N-ALT-1", hours_ago=24 * 30)
    alt_result(patient, "150", "N-ALT-2")
    return rx


@pytest.fixture
def elsewhere(other_patient):
    """Olga at Eastside on methotrexate with a critical ALT: what Northside must never see."""
    rx = on_methotrexate(other_patient)
    alt_result(other_patient, "170", "E-ALT-1")
    return rx
