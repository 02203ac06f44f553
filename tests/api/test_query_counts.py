"""No N+1: every list endpoint answers in a bounded number of queries, whatever the row count.

Each endpoint is read with a few rows and with many; the query count must be the same and under
the bound (auth+membership 1, count 1, page 1, the access-log insert 1 (audit/, issue 14), plus
the endpoint's own: the patient for nested URLs, prefetches).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import make_alert, make_event, make_lab, make_prescription

pytestmark = pytest.mark.django_db


def grow(patient, n: int, start: int) -> None:
    from patients.models import DiseaseAssessment, Measurement, Patient

    for i in range(start, start + n):
        lab = make_lab(patient, f"Q-{i}")
        extra = make_lab(patient, f"QX-{i}", analyte="ast")
        alert = make_alert(patient, lab, acknowledged_at=None)
        alert.related_results.add(extra)
        make_event(patient, key=f"e{i}", target=date.today() + timedelta(days=i))
        Measurement.objects.create(
            patient=patient,
            measured_on=date.today() - timedelta(days=i),
            weight_kg=70,
            height_cm=170,
        )
        DiseaseAssessment.objects.create(patient=patient, assessed_on=date.today(), iga=1)
        Patient.objects.create(
            clinic=patient.clinic,
            mrn=f"QP-{i}",
            given_name="Q",
            family_name=f"P{i}",
            birth_date="1990-01-01",
            sex="male",
            diagnosis="psoriasis",
        )
        rx = make_prescription(
            patient,
            drug="mycophenolate_mofetil",
            dose_mg=500,
            frequency="twice_daily",
            weekday="",
            formulation="tablet_500mg",
            status="held" if i % 2 else "active",
        )
        if i % 2:
            make_prescription(
                patient,
                supersedes=rx,
                dose_mg=750,
                drug="mycophenolate_mofetil",
                frequency="twice_daily",
                weekday="",
                formulation="tablet_500mg",
            )


ENDPOINTS = {
    "patients": (lambda p: "/api/v1/patients/", 4),
    "prescriptions": (lambda p: "/api/v1/prescriptions/", 4),
    "labs": (lambda p: "/api/v1/labs/", 4),
    "alerts": (lambda p: "/api/v1/alerts/", 6),  # + the results behind them (links, rows)
    "plan": (lambda p: f"/api/v1/patients/{p.pk}/plan/", 5),  # + the patient
    "measurements": (lambda p: f"/api/v1/patients/{p.pk}/measurements/", 5),
    "timeline": (lambda p: f"/api/v1/patients/{p.pk}/timeline/", 11),  # patient + 6 kinds + 2
}


def count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200, r.content
    return len(ctx.captured_queries)


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_list_endpoints_have_a_bounded_query_count(
    name, api_as, patient, django_assert_max_num_queries
):
    url, bound = ENDPOINTS[name]
    client = api_as("clinician")
    grow(patient, 2, 0)
    few = count(client, url(patient))
    grow(patient, 25, 100)
    with django_assert_max_num_queries(bound):
        r = client.get(url(patient))
    assert r.status_code == 200
    assert count(client, url(patient)) == few


def test_a_lab_batch_does_not_query_per_item(
    api_as, patient, toddler, django_assert_max_num_queries
):
    from django.utils import timezone

    at = (timezone.now() - timedelta(hours=1)).isoformat()

    def items(prefix, n):
        return [
            {
                "patient": (patient if i % 2 else toddler).pk,
                "analyte": "ALT",
                "value": 30 + i,
                "unit": "U/L",
                "accession": f"{prefix}-{i}",
                "collected_at": at,
            }
            for i in range(n)
        ]

    client = api_as("integration")
    # auth 1, patients 1, savepoints and the lock query, 2 bulk inserts (rows, history) per 500
    # rows; SQLite caps the parameters of one statement, so there the inserts come in more
    # (still fixed-size) pieces.
    bound = 12 if connection.vendor == "postgresql" else 60
    with django_assert_max_num_queries(bound):
        r = client.post("/api/v1/labs/batch/", {"results": items("Q", 600)}, format="json")
    assert r.json()["summary"]["created"] == 600
    with django_assert_max_num_queries(8):
        r = client.post("/api/v1/labs/batch/", {"results": items("Q", 600)}, format="json")
    assert r.json()["summary"]["replayed"] == 600
