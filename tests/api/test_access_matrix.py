"""The access matrix: every operation of the schema × every role × own / other clinic.

The expected roles are written out here, from the issue, independently of api/permissions.py:
integration writes labs and reads patients, plans, alerts (and its labs); a nurse reads and
acknowledges/resolves alerts, and records labs and measurements (issues #13, #17); a viewer reads; a clinician does everything in the clinic.
Another clinic's object is never seen: 404 on its URL, absent from lists, "does_not_exist" when
named in a body. No credentials: 401; a user with no clinic role: 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import yaml
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api.conftest import ROLES, errors_of, token_client

pytestmark = pytest.mark.django_db

ALL = frozenset(ROLES)
STAFF = frozenset({"clinician", "nurse", "viewer"})
CLINICIAN = frozenset({"clinician"})
# Issue #13 made one table of rights for the admin and the API, and issue #17's nurse types a
# liver panel in the workspace: a nurse records labs and measurements in every door (this test
# changed with them; it had nurses read-only for labs and measurements).
LAB_WRITERS = frozenset({"clinician", "nurse", "integration"})
MEASUREMENT_WRITERS = frozenset({"clinician", "nurse"})
ALERT_ACTORS = frozenset({"clinician", "nurse"})
TODAY = date.today()


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # as in the OpenAPI schema
    roles: frozenset[str]
    url: Callable[[dict], str]
    body: Callable[[dict], dict | None] = lambda rec: None
    ok: int = 200
    # How another clinic's object is kept out: "404" (its URL), "list" (absent from the list),
    # "body" (named in the body: 400 does_not_exist), "batch" (the item is rejected), or None
    # (the operation names no clinic object).
    other: str | None = "404"
    listed: Callable[[dict], int] | None = None  # the record a list must (not) show


def _p(rec):
    return rec["patient"].pk


def _empty_patient(rec):
    from patients.models import Patient

    p = Patient.objects.create(
        clinic=rec["patient"].clinic,
        mrn="EMPTY-1",
        given_name="E",
        family_name="Mpty",
        birth_date="1990-01-01",
        sex="unknown",
        diagnosis="other",
    )
    return f"/api/v1/patients/{p.pk}/"


def _held(rec):
    from patients.prescriptions import prescription_hold

    out = prescription_hold(
        prescription=rec["prescription"], effective_date=TODAY, reason="Infection"
    )
    return f"/api/v1/prescriptions/{out.prescription.pk}/restart/"


def _baseline_event(rec) -> int:
    from schedules.models import MonitoringEvent

    return MonitoringEvent.objects.create(
        patient=rec["patient"],
        drug="methotrexate",
        key=f"test:baseline:{MonitoringEvent.objects.count()}",
        kind="baseline",
        tests=["chest_xray"],
        earliest=TODAY - timedelta(days=30),
        target=TODAY - timedelta(days=7),
        latest=TODAY,
        explanation="Baseline chest X-ray (test fixture).",
    ).pk


def _lab(rec, accession="NEW-1"):
    return {
        "patient": _p(rec),
        "analyte": "ALT",
        "value": 35,
        "unit": "U/L",
        "collected_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "accession": accession,
    }


PATIENT = {
    "mrn": "NEW-1",
    "given_name": "Ada",
    "family_name": "Lovelace",
    "birth_date": "1985-12-10",
    "sex": "female",
    "diagnosis": "psoriasis",
}

OPS: list[Op] = [
    Op("GET", "/api/v1/patients/", ALL, lambda r: "/api/v1/patients/", other="list", listed=_p),
    Op(
        "POST",
        "/api/v1/patients/",
        CLINICIAN,
        lambda r: "/api/v1/patients/",
        lambda r: PATIENT,
        ok=201,
        other=None,
    ),
    Op("GET", "/api/v1/patients/{id}/", ALL, lambda r: f"/api/v1/patients/{_p(r)}/"),
    Op(
        "PUT",
        "/api/v1/patients/{id}/",
        CLINICIAN,
        lambda r: f"/api/v1/patients/{_p(r)}/",
        lambda r: PATIENT,
    ),
    Op(
        "PATCH",
        "/api/v1/patients/{id}/",
        CLINICIAN,
        lambda r: f"/api/v1/patients/{_p(r)}/",
        lambda r: {"risk_factors": ["diabetes"]},
    ),
    Op("DELETE", "/api/v1/patients/{id}/", CLINICIAN, _empty_patient, ok=204),
    Op(
        "GET",
        "/api/v1/patients/{patient_id}/measurements/",
        STAFF,
        lambda r: f"/api/v1/patients/{_p(r)}/measurements/",
    ),
    Op(
        "POST",
        "/api/v1/patients/{patient_id}/measurements/",
        MEASUREMENT_WRITERS,
        lambda r: f"/api/v1/patients/{_p(r)}/measurements/",
        lambda r: {"measured_on": TODAY.isoformat(), "weight_kg": "71", "height_cm": "170"},
        ok=201,
    ),
    Op(
        "GET",
        "/api/v1/patients/{patient_id}/plan/",
        ALL,
        lambda r: f"/api/v1/patients/{_p(r)}/plan/",
    ),
    Op(  # issue #15: complete a baseline or routine test with a reason
        "POST",
        "/api/v1/patients/{patient_id}/plan/{event_id}/complete/",
        ALERT_ACTORS,
        lambda r: f"/api/v1/patients/{_p(r)}/plan/{_baseline_event(r)}/complete/",
        lambda r: {"reason": "done_elsewhere", "done_on": TODAY.isoformat()},
    ),
    Op(
        "GET",
        "/api/v1/patients/{patient_id}/timeline/",
        STAFF,
        lambda r: f"/api/v1/patients/{_p(r)}/timeline/",
    ),
    Op(
        "GET",
        "/api/v1/prescriptions/",
        STAFF,
        lambda r: "/api/v1/prescriptions/",
        other="list",
        listed=lambda r: r["prescription"].pk,
    ),
    Op(
        "POST",
        "/api/v1/prescriptions/",
        CLINICIAN,
        lambda r: "/api/v1/prescriptions/",
        lambda r: {
            "patient": _p(r),
            "drug": "folic_acid",
            "dose_mg": "5",
            "frequency": "once_weekly",
            "weekday": "wednesday",
            "formulation": "folic_acid_tablet_5mg",
            "start_date": TODAY.isoformat(),
        },
        ok=201,
        other="body",
    ),
    Op(
        "GET",
        "/api/v1/prescriptions/{id}/",
        STAFF,
        lambda r: f"/api/v1/prescriptions/{r['prescription'].pk}/",
    ),
    Op(
        "POST",
        "/api/v1/prescriptions/{id}/change-dose/",
        CLINICIAN,
        lambda r: f"/api/v1/prescriptions/{r['prescription'].pk}/change-dose/",
        lambda r: {"dose_mg": "12.5", "effective_date": TODAY.isoformat(), "reason": "Nausea"},
        ok=201,
    ),
    Op(
        "POST",
        "/api/v1/prescriptions/{id}/hold/",
        CLINICIAN,
        lambda r: f"/api/v1/prescriptions/{r['prescription'].pk}/hold/",
        lambda r: {"effective_date": TODAY.isoformat(), "reason": "Infection"},
        ok=201,
    ),
    Op(
        "POST",
        "/api/v1/prescriptions/{id}/restart/",
        CLINICIAN,
        _held,
        lambda r: {"effective_date": TODAY.isoformat(), "reason": "Infection treated"},
        ok=201,
    ),
    Op(
        "POST",
        "/api/v1/prescriptions/{id}/stop/",
        CLINICIAN,
        lambda r: f"/api/v1/prescriptions/{r['prescription'].pk}/stop/",
        lambda r: {
            "effective_date": TODAY.isoformat(),
            "reason": "Clear",
            "end_reason": "remission",
        },
        ok=201,
    ),
    Op(
        "GET",
        "/api/v1/labs/",
        ALL,
        lambda r: "/api/v1/labs/",
        other="list",
        listed=lambda r: r["lab"].pk,
    ),
    Op("POST", "/api/v1/labs/", LAB_WRITERS, lambda r: "/api/v1/labs/", _lab, ok=201, other="body"),
    Op("GET", "/api/v1/labs/{id}/", ALL, lambda r: f"/api/v1/labs/{r['lab'].pk}/"),
    Op("GET", "/api/v1/labs/{id}/history/", ALL, lambda r: f"/api/v1/labs/{r['lab'].pk}/history/"),
    Op(
        "POST",
        "/api/v1/labs/batch/",
        LAB_WRITERS,
        lambda r: "/api/v1/labs/batch/",
        lambda r: {"results": [_lab(r, "B-1"), _lab(r, "B-2")]},
        other="batch",
    ),
    Op(
        "GET",
        "/api/v1/alerts/",
        ALL,
        lambda r: "/api/v1/alerts/",
        other="list",
        listed=lambda r: r["alert"].pk,
    ),
    Op("GET", "/api/v1/alerts/{id}/", ALL, lambda r: f"/api/v1/alerts/{r['alert'].pk}/"),
    Op(
        "POST",
        "/api/v1/alerts/{id}/acknowledge/",
        ALERT_ACTORS,
        lambda r: f"/api/v1/alerts/{r['alert'].pk}/acknowledge/",
        lambda r: {"note": "Seen"},
    ),
    Op(
        "POST",
        "/api/v1/alerts/{id}/resolve/",
        ALERT_ACTORS,
        lambda r: f"/api/v1/alerts/{r['alert'].pk}/resolve/",
        lambda r: {"note": "Done"},
    ),
    Op(
        "POST",
        "/api/v1/dosing/calculate/",
        STAFF,
        lambda r: "/api/v1/dosing/calculate/",
        lambda r: {
            "drug": "methotrexate",
            "basis": "fixed",
            "amount": "15",
            "weight_kg": "70",
            "birth_date": "1970-05-17",
            "indication": "psoriasis",
            "weekday": "monday",
        },
        other=None,
    ),
    # Outcomes (issue 19).
    Op(
        "GET",
        "/api/v1/patients/{patient_id}/assessments/",
        STAFF,
        lambda r: f"/api/v1/patients/{_p(r)}/assessments/",
    ),
    Op(
        "POST",
        "/api/v1/patients/{patient_id}/assessments/",
        CLINICIAN,
        lambda r: f"/api/v1/patients/{_p(r)}/assessments/",
        lambda r: {"assessed_on": TODAY.isoformat(), "iga": 3},
        ok=201,
    ),
    Op(
        "GET",
        "/api/v1/patients/{patient_id}/adverse-events/",
        STAFF,
        lambda r: f"/api/v1/patients/{_p(r)}/adverse-events/",
    ),
    Op(
        "POST",
        "/api/v1/patients/{patient_id}/adverse-events/",
        ALERT_ACTORS,
        lambda r: f"/api/v1/patients/{_p(r)}/adverse-events/",
        lambda r: {"kind": "infection", "onset_date": TODAY.isoformat(), "severity": "mild"},
        ok=201,
    ),
    Op("GET", "/api/v1/reports/cohort/", STAFF, lambda r: "/api/v1/reports/cohort/", other=None),
]


def _id(op: Op) -> str:
    return f"{op.method} {op.path.removeprefix('/api/v1')}"


def _call(client: APIClient, op: Op, rec: dict):
    url, body = op.url(rec), op.body(rec)
    return client.generic(
        op.method,
        url,
        **({"data": _json(body)} if body is not None else {}),
        content_type="application/json",
    )


def _json(body) -> str:
    import json

    return json.dumps(body)


CASES = [
    pytest.param(op, role, side, id=f"{_id(op)} | {role} | {side}")
    for op in OPS
    for role in ROLES
    for side in ("own", "other")
    if side == "own" or op.other is not None
]


@pytest.mark.parametrize(("op", "role", "side"), CASES)
def test_access(op: Op, role: str, side: str, api_as, records):
    client = api_as(role)
    rec = records[side]
    r = _call(client, op, rec)
    if role not in op.roles:
        assert r.status_code == 403, r.content
        assert errors_of(r) == {None: "permission_denied"}
        return
    if side == "own":
        assert r.status_code == op.ok, r.content
        if op.listed:
            assert op.listed(rec) in [x["id"] for x in r.json()["results"]]
        return
    # Another clinic's records.
    if op.other == "404":
        assert r.status_code == 404, r.content
        assert errors_of(r) == {None: "not_found"}
    elif op.other == "list":
        assert r.status_code == 200
        ids = [x["id"] for x in r.json()["results"]]
        assert op.listed(rec) not in ids and op.listed(records["own"]) in ids
    elif op.other == "body":
        assert r.status_code == 400
        assert errors_of(r) == {"patient": "does_not_exist"}
    elif op.other == "batch":
        assert r.status_code == 200
        body = r.json()
        assert body["summary"]["rejected"] == 2 and body["summary"]["created"] == 0
        assert {e["code"] for item in body["results"] for e in item["errors"]} == {"does_not_exist"}


@pytest.mark.parametrize("op", OPS, ids=_id)
def test_no_credentials_is_401_everywhere(op: Op, records):
    r = _call(APIClient(), op, records["own"])
    assert r.status_code == 401 and errors_of(r) == {None: "not_authenticated"}


@pytest.mark.parametrize("op", OPS, ids=_id)
def test_no_clinic_role_is_403_everywhere(op: Op, records, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    r = _call(token_client(admin), op, records["own"])
    assert r.status_code == 403 and errors_of(r) == {None: "no_clinic_role"}


def test_the_matrix_covers_every_operation_of_the_schema(api):
    schema = yaml.safe_load(api.get("/api/schema/").content)
    in_schema = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert in_schema == {(op.method, op.path) for op in OPS}


def test_the_api_matrix_matches_the_issue(api):
    """api/permissions.py (which the views enforce) says the same as this module."""
    from api.permissions import MATRIX

    assert MATRIX["lab"]["write"] == LAB_WRITERS
    assert MATRIX["alert"]["act"] == ALERT_ACTORS
    assert MATRIX["patient"]["read"] == ALL and MATRIX["patient"]["write"] == CLINICIAN
    assert MATRIX["plan"]["read"] == ALL and MATRIX["alert"]["read"] == ALL
    for resource in ("measurement", "prescription", "timeline", "dosing"):
        assert MATRIX[resource]["read"] == STAFF
