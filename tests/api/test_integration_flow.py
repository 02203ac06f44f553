"""Done-when of issue #6: an integration token posts a day's labs for its clinic in one batch, sees
the alerts they raised, and cannot read another clinic's patients — through a real Celery worker
on Redis evaluating the results (skipped without REDIS_URL, a failure in CI without it)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import make_prescription, token_client
from tests.conftest import make_member

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_until_evaluated(ids, timeout=60.0):
    from patients.models import LabResult

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = LabResult.objects.filter(pk__in=ids, evaluated_version__isnull=True).count()
        if pending == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{pending} of {len(ids)} results still unevaluated after {timeout} s")


def test_integration_posts_a_days_labs_and_sees_the_alerts_they_raised(
    celery_worker, clinic, patient, toddler, other_patient
):
    make_prescription(patient)  # Pat is on methotrexate 15 mg weekly
    lis = token_client(make_member(clinic, "lis", "integration", staff=False))
    found = lis.get("/api/v1/patients/", {"mrn": patient.mrn}).json()["results"]
    assert [p["id"] for p in found] == [patient.pk]

    morning = (timezone.now() - timedelta(hours=3)).replace(microsecond=0).isoformat()
    day = [
        # Pat: ALT 150 U/L with a ULN of 40 — more than 3 × ULN.
        {
            "patient_mrn": patient.mrn,
            "analyte": "ALT",
            "value": 150,
            "unit": "U/L",
            "reference_high": 40,
            "collected_at": morning,
            "accession": "D1-ALT",
        },
        {
            "patient_mrn": patient.mrn,
            "analyte": "WBC",
            "value": "6.1",
            "unit": "10^9/L",
            "collected_at": morning,
            "accession": "D1-WBC",
        },
        {
            "patient_mrn": patient.mrn,
            "loinc": "777-3",
            "value": 250,
            "unit": "x10E9/L",
            "collected_at": morning,
            "accession": "D1-PLT",
        },
        {
            "patient_mrn": toddler.mrn,
            "analyte": "haemoglobin",
            "value": "11.8",
            "unit": "g/dL",
            "collected_at": morning,
            "accession": "D1-HB",
        },
        # Another clinic's patient: refused, and nothing is stored for it.
        {
            "patient": other_patient.pk,
            "analyte": "ALT",
            "value": 30,
            "unit": "U/L",
            "collected_at": morning,
            "accession": "D1-OTHER",
        },
    ]
    r = lis.post("/api/v1/labs/batch/", {"results": day}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["summary"] == {"created": 4, "replayed": 0, "amended": 0, "rejected": 1}
    assert body["results"][4]["errors"][0]["code"] == "does_not_exist"

    wait_until_evaluated([x["id"] for x in body["results"][:4]])

    alerts = lis.get("/api/v1/alerts/", {"patient": patient.pk, "status": "open"}).json()
    liver = [
        a
        for a in alerts["results"]
        if a["severity"] == "critical"
        and any(res["accession"] == "D1-ALT" for res in a["lab_results"])
    ]
    assert liver, alerts
    assert liver[0]["action"] and liver[0]["source"] and liver[0]["message"]

    # A replay of the whole day changes nothing and raises nothing new.
    again = lis.post("/api/v1/labs/batch/", {"results": day[:4]}, format="json").json()
    assert again["summary"]["replayed"] == 4
    assert lis.get("/api/v1/alerts/", {"patient": patient.pk}).json()["count"] == alerts["count"]

    # And another clinic stays invisible.
    assert lis.get(f"/api/v1/patients/{other_patient.pk}/").status_code == 404
    assert lis.get("/api/v1/patients/", {"mrn": other_patient.mrn}).json()["count"] == 0
    assert lis.get(f"/api/v1/patients/{other_patient.pk}/plan/").status_code == 404
