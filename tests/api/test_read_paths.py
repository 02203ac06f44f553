"""The two hot read paths, pinned: GET /alerts/ and GET /patients/{id}/plan/.

Both answer from a lean path (api/readers.py: rows of `.values_list()` turned straight into
JSON-ready dicts) instead of DRF's serializer machinery, because they are read by every nurse's
screen and every EHR poll. These tests hold them to the public contract:

- a snapshot of both answers for a dataset with every shape a row can take (acknowledged,
  resolved, superseded, no result, a result linked only by the foreign key, a result that is
  not evaluable, an amended result, nested details, dates with and without values), written
  out field by field, key order included, so that a field that goes missing, is renamed or
  changes its format fails here;
- the same rows through the DRF serializers (AlertSerializer via GET /alerts/{id}/,
  MonitoringEventSerializer directly), which must give byte-identical JSON, so the lean path
  cannot drift from the serializers the schema is generated from;
- pagination, filters, ordering and tenancy through the lean path;
- on PostgreSQL, the written-out queries (the ?status= alert list, the unfiltered plan, the
  results behind alerts, the token lookup) against the general path through the ORM, for the
  same requests: byte-identical answers, the same objects.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.renderers import JSONRenderer

from tests.api.conftest import make_event, make_lab, make_prescription

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def data(clinic, patient, other_patient, nina, alice):
    """Alerts and a plan for Pat (Northside) in every shape, and Olga's (Eastside) beside them."""
    from patients.models import LabResult
    from schedules.models import Alert

    alt = make_lab(patient, "R-ALT-2", value="150", collected_at=at("2026-03-02T08:15:00+01:00"))
    alt_before = make_lab(
        patient, "R-ALT-1", value="130", collected_at=at("2026-02-20T09:00:00.250000+00:00")
    )
    wbc = make_lab(
        patient,
        "R-WBC-1",
        analyte="wbc",
        value="3.1",
        unit="10*9/L",
        reference_high=None,
        collected_at=at("2026-02-27T11:30:00+00:00"),
    )
    haemolysed = make_lab(
        patient,
        "R-PLT-1",
        analyte="platelets",
        value="haemolysed",
        unit="10*9/L",
        reference_high=None,
        collected_at=at("2026-02-26T07:05:09+00:00"),
    )
    # An amended result: version 2, the canonical value with more places than the column's.
    ast = make_lab(patient, "R-AST-1", analyte="ast", value="41.5", unit="U/L")
    LabResult.objects.filter(pk=ast.pk).update(
        version=2,
        collected_at=at("2026-02-25T23:59:59.999999+00:00"),
        reported_value="42.25",
        value=Decimal("42.2500"),
    )
    other_lab = make_lab(other_patient, "O-ALT-1", value="200")

    def alert(p, *, raised_at, lab=None, related=(), **kw):
        fields = {
            "rule": "LIVER_GT_3X_ULN",
            "severity": "critical",
            "message": "ALT 150 U/L is above 3× ULN (3 × 40 = 120 U/L).",
            "action": "Withhold methotrexate; repeat ALT and AST within 7 days.",
            "source": "EULAR/3E 2009, rec 5",
        }
        fields.update(kw)
        a = Alert.objects.create(
            patient=p, lab_result=lab, result_version=lab.version if lab else None, **fields
        )
        a.related_results.add(*related)
        Alert.objects.filter(pk=a.pk).update(raised_at=raised_at)  # auto_now_add otherwise
        a.raised_at = raised_at
        return a

    a_open = alert(
        patient,
        raised_at=at("2026-03-02T10:00:00.123456+00:00"),
        lab=alt,
        related=[alt, alt_before],
        details={"uln": "40", "uln_source": "lab", "values": ["130", "150"], "nested": {"k": 1}},
    )
    a_ack = alert(
        patient,
        raised_at=at("2026-03-01T09:00:00+00:00"),
        lab=wbc,
        related=[wbc],
        rule="WBC_LOW",
        severity="warning",
        message="WBC 3.1 10*9/L is below 3.5 10*9/L.",
        action="Repeat within 2 weeks.",
        source="BSR 2017, Table 3",
        status="acknowledged",
        acknowledged_by=nina,
        acknowledged_at=at("2026-03-01T10:30:00+01:00"),
        acknowledge_note="Phoned the patient; repeat booked",
    )
    a_resolved = alert(
        patient,
        raised_at=at("2026-02-28T12:00:00+00:00"),
        lab=haemolysed,
        related=[haemolysed],
        rule="NOT_EVALUABLE",
        severity="info",
        message="Platelets reported as 'haemolysed' cannot be evaluated.",
        action="Ask for a repeat sample.",
        source="local",
        status="resolved",
        acknowledged_by=nina,
        acknowledged_at=at("2026-02-28T13:00:00+00:00"),
        acknowledge_note="Seen",
        resolved_by=alice,
        resolved_at=at("2026-02-28T15:45:30.5+00:00"),
        resolve_note="Repeat sample normal",
    )
    a_no_lab = alert(
        patient,
        raised_at=at("2026-02-27T08:00:00+00:00"),
        rule="MTX_NO_MONITORING",
        severity="warning",
        message="No blood test for 90 days.",
        action="Book bloods.",
        source="BSR 2017",
    )
    # Linked to its result only by the foreign key (no related_results row): still shown.
    a_fk_only = alert(
        patient,
        raised_at=at("2026-02-26T08:00:00+00:00"),
        lab=ast,
        rule="LIVER_ABOVE_ULN",
        severity="warning",
        message="AST 42.25 U/L is above the ULN.",
        action="Repeat.",
        source="BSR 2017",
    )
    a_superseded = alert(
        patient,
        raised_at=at("2026-02-25T08:00:00+00:00"),
        lab=alt_before,
        related=[alt_before],
        status="superseded",
        superseded_by=a_open,
    )
    alert(other_patient, raised_at=at("2026-03-02T11:00:00+00:00"), lab=other_lab)

    rx = make_prescription(patient)
    today = date(2026, 3, 2)
    e_done = make_event(
        patient,
        key="mtx:baseline",
        kind="baseline",
        tests=["alt", "ast", "wbc", "creatinine"],
        earliest=today - timedelta(days=40),
        target=today - timedelta(days=35),
        latest=today - timedelta(days=30),
        status="done",
        completed_on=today - timedelta(days=33),
        prescription=rx,
        phase="baseline",
        explanation="Baseline before the first dose (EULAR/3E 2009, rec 3).",
        protocol="eular_3e_2009",
        source="EULAR/3E 2009, rec 3",
    )
    e_repeat = make_event(
        patient,
        key="mtx:confirm:1",
        kind="confirmatory",
        tests=["alt", "ast"],
        earliest=today,
        target=today + timedelta(days=3),
        latest=today + timedelta(days=7),
        status="due",
        prescription=rx,
        alert=a_open,
        explanation="Repeat ALT and AST within a week (ALT above 3× ULN).",
    )
    e_routine = make_event(
        patient,
        key="mtx:routine:1",
        tests=["alt", "wbc"],
        earliest=today + timedelta(days=30),
        target=today + timedelta(days=35),
        latest=today + timedelta(days=42),
        status="planned",
        prescription=rx,
        phase="early",
        interval_days=42,
        explanation="Every 6 weeks until the dose is stable (EULAR/3E 2009, rec 5).",
        protocol="eular_3e_2009",
        source="EULAR/3E 2009, rec 5",
    )
    e_review = make_event(
        patient,
        key="mtx:review:12",
        kind="response_review",
        tests=[],
        earliest=today + timedelta(days=35),
        target=today + timedelta(days=35),
        latest=today + timedelta(days=49),
        status="cancelled",
        explanation="Response review at 12 weeks.",
    )
    make_event(other_patient, key="o:routine")
    return {
        "labs": {
            "alt": alt,
            "alt_before": alt_before,
            "wbc": wbc,
            "haemolysed": haemolysed,
            "ast": ast,
        },
        "alerts": [a_open, a_ack, a_resolved, a_no_lab, a_fk_only, a_superseded],
        "events": [e_done, e_repeat, e_routine, e_review],
        "rx": rx,
    }


def dumps(value) -> str:
    """JSON text as the API writes it: key order and formats are part of the comparison."""
    return JSONRenderer().render(value).decode()


def raw(response) -> list | dict:
    """The body parsed with its key order (dicts keep it), to compare with dumps()."""
    assert response.status_code == 200, response.content
    return json.loads(response.content)


# --- The alert list ------------------------------------------------------------------------
def expected_alerts(data, patient, nina, alice) -> list[dict]:
    """Pat's six alerts as GET /alerts/ answers them, newest first, every field written out."""
    a_open, a_ack, a_resolved, a_no_lab, a_fk_only, a_superseded = data["alerts"]
    labs = data["labs"]
    alt_before = {
        "id": labs["alt_before"].pk,
        "analyte": "alt",
        "value": "130",
        "unit": "U/L",
        "canonical_value": "130.0000",
        "canonical_unit": "U/L",
        "reference_high": "40.0000",
        "collected_at": "2026-02-20T09:00:00.250000Z",
        "accession": "R-ALT-1",
        "version": 1,
    }
    liver = {
        "rule": "LIVER_GT_3X_ULN",
        "severity": "critical",
        "message": "ALT 150 U/L is above 3× ULN (3 × 40 = 120 U/L).",
        "action": "Withhold methotrexate; repeat ALT and AST within 7 days.",
        "source": "EULAR/3E 2009, rec 5",
    }
    return [
        {
            "id": a_open.pk,
            "patient": patient.pk,
            **liver,
            "status": "open",
            "details": {
                "uln": "40",
                "uln_source": "lab",
                "values": ["130", "150"],
                "nested": {"k": 1},
            },
            "lab_result": labs["alt"].pk,
            "result_version": 1,
            "lab_results": [
                alt_before,
                {
                    "id": labs["alt"].pk,
                    "analyte": "alt",
                    "value": "150",
                    "unit": "U/L",
                    "canonical_value": "150.0000",
                    "canonical_unit": "U/L",
                    "reference_high": "40.0000",
                    "collected_at": "2026-03-02T07:15:00Z",
                    "accession": "R-ALT-2",
                    "version": 1,
                },
            ],
            "raised_at": "2026-03-02T10:00:00.123456Z",
            "acknowledged_by": None,
            "acknowledged_at": None,
            "acknowledge_note": "",
            "resolved_by": None,
            "resolved_at": None,
            "resolve_note": "",
            "superseded_by": None,
        },
        {
            "id": a_ack.pk,
            "patient": patient.pk,
            "rule": "WBC_LOW",
            "severity": "warning",
            "status": "acknowledged",
            "message": "WBC 3.1 10*9/L is below 3.5 10*9/L.",
            "action": "Repeat within 2 weeks.",
            "source": "BSR 2017, Table 3",
            "details": {},
            "lab_result": labs["wbc"].pk,
            "result_version": 1,
            "lab_results": [
                {
                    "id": labs["wbc"].pk,
                    "analyte": "wbc",
                    "value": "3.1",
                    "unit": "10*9/L",
                    "canonical_value": "3.1000",
                    "canonical_unit": "10*9/L",
                    "reference_high": None,
                    "collected_at": "2026-02-27T11:30:00Z",
                    "accession": "R-WBC-1",
                    "version": 1,
                }
            ],
            "raised_at": "2026-03-01T09:00:00Z",
            "acknowledged_by": nina.username,
            "acknowledged_at": "2026-03-01T09:30:00Z",
            "acknowledge_note": "Phoned the patient; repeat booked",
            "resolved_by": None,
            "resolved_at": None,
            "resolve_note": "",
            "superseded_by": None,
        },
        {
            "id": a_resolved.pk,
            "patient": patient.pk,
            "rule": "NOT_EVALUABLE",
            "severity": "info",
            "status": "resolved",
            "message": "Platelets reported as 'haemolysed' cannot be evaluated.",
            "action": "Ask for a repeat sample.",
            "source": "local",
            "details": {},
            "lab_result": labs["haemolysed"].pk,
            "result_version": 1,
            "lab_results": [
                {
                    "id": labs["haemolysed"].pk,
                    "analyte": "platelets",
                    "value": "haemolysed",
                    "unit": "10*9/L",
                    "canonical_value": None,
                    "canonical_unit": "10*9/L",
                    "reference_high": None,
                    "collected_at": "2026-02-26T07:05:09Z",
                    "accession": "R-PLT-1",
                    "version": 1,
                }
            ],
            "raised_at": "2026-02-28T12:00:00Z",
            "acknowledged_by": nina.username,
            "acknowledged_at": "2026-02-28T13:00:00Z",
            "acknowledge_note": "Seen",
            "resolved_by": alice.username,
            "resolved_at": "2026-02-28T15:45:30.500000Z",
            "resolve_note": "Repeat sample normal",
            "superseded_by": None,
        },
        {
            "id": a_no_lab.pk,
            "patient": patient.pk,
            "rule": "MTX_NO_MONITORING",
            "severity": "warning",
            "status": "open",
            "message": "No blood test for 90 days.",
            "action": "Book bloods.",
            "source": "BSR 2017",
            "details": {},
            "lab_result": None,
            "result_version": None,
            "lab_results": [],
            "raised_at": "2026-02-27T08:00:00Z",
            "acknowledged_by": None,
            "acknowledged_at": None,
            "acknowledge_note": "",
            "resolved_by": None,
            "resolved_at": None,
            "resolve_note": "",
            "superseded_by": None,
        },
        {
            "id": a_fk_only.pk,
            "patient": patient.pk,
            "rule": "LIVER_ABOVE_ULN",
            "severity": "warning",
            "status": "open",
            "message": "AST 42.25 U/L is above the ULN.",
            "action": "Repeat.",
            "source": "BSR 2017",
            "details": {},
            "lab_result": labs["ast"].pk,
            "result_version": 1,
            "lab_results": [
                {
                    "id": labs["ast"].pk,
                    "analyte": "ast",
                    "value": "42.25",
                    "unit": "U/L",
                    "canonical_value": "42.2500",
                    "canonical_unit": "U/L",
                    "reference_high": "40.0000",
                    "collected_at": "2026-02-25T23:59:59.999999Z",
                    "accession": "R-AST-1",
                    "version": 2,
                }
            ],
            "raised_at": "2026-02-26T08:00:00Z",
            "acknowledged_by": None,
            "acknowledged_at": None,
            "acknowledge_note": "",
            "resolved_by": None,
            "resolved_at": None,
            "resolve_note": "",
            "superseded_by": None,
        },
        {
            "id": a_superseded.pk,
            "patient": patient.pk,
            **liver,
            "status": "superseded",
            "details": {},
            "lab_result": labs["alt_before"].pk,
            "result_version": 1,
            "lab_results": [alt_before],
            "raised_at": "2026-02-25T08:00:00Z",
            "acknowledged_by": None,
            "acknowledged_at": None,
            "acknowledge_note": "",
            "resolved_by": None,
            "resolved_at": None,
            "resolve_note": "",
            "superseded_by": a_open.pk,
        },
    ]


ALERT_KEYS = [
    "id", "patient", "rule", "severity", "status", "message", "action", "source", "details",
    "lab_result", "result_version", "lab_results", "raised_at", "acknowledged_by",
    "acknowledged_at", "acknowledge_note", "resolved_by", "resolved_at", "resolve_note",
    "superseded_by",
]  # fmt: skip
ALERT_LAB_KEYS = [
    "id", "analyte", "value", "unit", "canonical_value", "canonical_unit", "reference_high",
    "collected_at", "accession", "version",
]  # fmt: skip


def test_the_alert_list_answers_exactly_as_pinned(data, api_as, patient, nina, alice):
    body = raw(api_as("nurse").get("/api/v1/alerts/"))
    expected = expected_alerts(data, patient, nina, alice)
    assert list(body) == ["count", "next", "previous", "results"]
    assert body == {"count": 6, "next": None, "previous": None, "results": expected}
    for alert in body["results"]:
        assert list(alert) == ALERT_KEYS  # order too: the JSON is the contract
        for lab in alert["lab_results"]:
            assert list(lab) == ALERT_LAB_KEYS


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?status=open",
        "?status=open&status=acknowledged",
        "?severity=warning&ordering=severity",
        "?ordering=raised_at&page_size=4&page=2",
    ],
)
def test_each_listed_alert_is_byte_for_byte_what_the_serializer_answers(data, api_as, query):
    """The list's lean path against AlertSerializer (GET /alerts/{id}/ uses it as it is)."""
    client = api_as("viewer")
    listed = raw(client.get(f"/api/v1/alerts/{query}"))["results"]
    assert listed
    for item in listed:
        one = raw(client.get(f"/api/v1/alerts/{item['id']}/"))
        assert dumps(item) == dumps(one)


def test_the_alert_list_pages_filters_orders_and_stays_in_the_clinic(
    data, api_as, patient, other_clinic
):
    client = api_as("clinician")
    a_open, a_ack, a_resolved, a_no_lab, a_fk_only, a_superseded = (a.pk for a in data["alerts"])

    def ids(query):
        return [a["id"] for a in raw(client.get(f"/api/v1/alerts/{query}"))["results"]]

    body = raw(client.get("/api/v1/alerts/?page_size=2&page=2"))
    assert body["count"] == 6
    assert body["next"] == "http://testserver/api/v1/alerts/?page=3&page_size=2"
    assert body["previous"] == "http://testserver/api/v1/alerts/?page_size=2"
    assert [a["id"] for a in body["results"]] == [a_resolved, a_no_lab]
    last = raw(client.get("/api/v1/alerts/?page_size=4&page=last"))
    assert [a["id"] for a in last["results"]] == [a_fk_only, a_superseded]
    assert last["next"] is None
    assert ids("?status=open") == [a_open, a_no_lab, a_fk_only]
    assert ids("?status=open&status=acknowledged") == [a_open, a_ack, a_no_lab, a_fk_only]
    assert ids("?severity=critical") == [a_open, a_superseded]
    assert ids("?rule=WBC_LOW") == [a_ack]
    assert ids(f"?patient={patient.pk}&ordering=raised_at")[:2] == [a_superseded, a_fk_only]
    assert ids("?ordering=severity,-id") == [
        a_superseded,
        a_open,
        a_resolved,
        a_fk_only,
        a_no_lab,
        a_ack,
    ]
    assert ids(f"?lab_result={data['labs']['alt_before'].pk}") == [a_superseded]
    # Eastside's alert is in none of these; Eastside sees only its own.
    eastside = raw(api_as("nurse", where=other_clinic).get("/api/v1/alerts/"))
    assert eastside["count"] == 1
    assert eastside["results"][0]["id"] not in ids("?page_size=500")

    r = client.get("/api/v1/alerts/?page=9")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    r = client.get("/api/v1/alerts/?status=")
    assert r.status_code == 400 and r.json() == {
        "errors": [
            {
                "field": "status",
                "code": "invalid_choice",
                "message": "Select a valid choice.  is not one of the available choices.",
            },
            {"field": "status", "code": "blank", "message": "may not be empty."},
        ]
    }
    r = client.get("/api/v1/alerts/?status=closed")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalid_choice"
    r = client.get("/api/v1/alerts/?page_size=0")
    assert r.status_code == 400
    assert raw(client.get("/api/v1/alerts/?raised_after=2030-01-01T00:00:00Z")) == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


# --- The plan ------------------------------------------------------------------------------
EVENT_KEYS = [
    "id", "patient", "prescription", "drug", "kind", "tests", "earliest", "target", "latest",
    "status", "completed_on", "phase", "interval_days", "explanation", "protocol", "source",
    "alert", "completion_reason", "completion_note",
]  # fmt: skip
# issue #15 changed this test: a test completed with a reason says which and why
# (completion_reason, completion_note; empty for every other event).


def test_the_plan_answers_exactly_as_pinned(data, api_as, patient):
    e_done, e_repeat, e_routine, e_review = (e.pk for e in data["events"])
    rx, a_open = data["rx"].pk, data["alerts"][0].pk
    body = raw(api_as("integration").get(f"/api/v1/patients/{patient.pk}/plan/"))
    assert list(body) == ["count", "next", "previous", "results"]
    assert body == {
        "count": 4,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": e_done,
                "patient": patient.pk,
                "prescription": rx,
                "drug": "methotrexate",
                "kind": "baseline",
                "tests": ["alt", "ast", "wbc", "creatinine"],
                "earliest": "2026-01-21",
                "target": "2026-01-26",
                "latest": "2026-01-31",
                "status": "done",
                "completed_on": "2026-01-28",
                "phase": "baseline",
                "interval_days": None,
                "explanation": "Baseline before the first dose (EULAR/3E 2009, rec 3).",
                "protocol": "eular_3e_2009",
                "source": "EULAR/3E 2009, rec 3",
                "alert": None,
                "completion_reason": "",
                "completion_note": "",
            },
            {
                "id": e_repeat,
                "patient": patient.pk,
                "prescription": rx,
                "drug": "methotrexate",
                "kind": "confirmatory",
                "tests": ["alt", "ast"],
                "earliest": "2026-03-02",
                "target": "2026-03-05",
                "latest": "2026-03-09",
                "status": "due",
                "completed_on": None,
                "phase": "",
                "interval_days": None,
                "explanation": "Repeat ALT and AST within a week (ALT above 3× ULN).",
                "protocol": "",
                "source": "",
                "alert": a_open,
                "completion_reason": "",
                "completion_note": "",
            },
            {
                "id": e_routine,
                "patient": patient.pk,
                "prescription": rx,
                "drug": "methotrexate",
                "kind": "routine",
                "tests": ["alt", "wbc"],
                "earliest": "2026-04-01",
                "target": "2026-04-06",
                "latest": "2026-04-13",
                "status": "planned",
                "completed_on": None,
                "phase": "early",
                "interval_days": 42,
                "explanation": "Every 6 weeks until the dose is stable (EULAR/3E 2009, rec 5).",
                "protocol": "eular_3e_2009",
                "source": "EULAR/3E 2009, rec 5",
                "alert": None,
                "completion_reason": "",
                "completion_note": "",
            },
            {
                "id": e_review,
                "patient": patient.pk,
                "prescription": None,
                "drug": "methotrexate",
                "kind": "response_review",
                "tests": [],
                "earliest": "2026-04-06",
                "target": "2026-04-06",
                "latest": "2026-04-20",
                "status": "cancelled",
                "completed_on": None,
                "phase": "",
                "interval_days": None,
                "explanation": "Response review at 12 weeks.",
                "protocol": "",
                "source": "",
                "alert": None,
                "completion_reason": "",
                "completion_note": "",
            },
        ],
    }
    for event in body["results"]:
        assert list(event) == EVENT_KEYS


@pytest.mark.parametrize("query", ["", "?open=true", "?ordering=-target", "?page_size=3&page=2"])
def test_the_plan_is_byte_for_byte_what_the_serializer_answers(data, api_as, patient, query):
    from api.serializers import MonitoringEventSerializer
    from schedules.models import MonitoringEvent

    listed = raw(api_as("nurse").get(f"/api/v1/patients/{patient.pk}/plan/{query}"))["results"]
    assert listed
    rows = MonitoringEvent.objects.in_bulk([e["id"] for e in listed])
    assert dumps(listed) == dumps([MonitoringEventSerializer(rows[e["id"]]).data for e in listed])


def test_the_plan_pages_filters_and_stays_in_the_clinic(data, api_as, patient, other_patient):
    e_done, e_repeat, e_routine, e_review = (e.pk for e in data["events"])
    client = api_as("viewer")
    url = f"/api/v1/patients/{patient.pk}/plan/"

    def ids(query):
        return [e["id"] for e in raw(client.get(url + query))["results"]]

    body = raw(client.get(url + "?page_size=3&page=2"))
    assert body["count"] == 4 and body["next"] is None
    assert body["previous"] == f"http://testserver{url}?page_size=3"
    assert [e["id"] for e in body["results"]] == [e_review]
    assert ids("?open=true") == [e_repeat, e_routine]
    assert ids("?open=false") == [e_done, e_review]
    assert ids("?status=due&status=planned") == [e_repeat, e_routine]
    assert ids("?kind=baseline") == [e_done]
    assert ids("?ordering=-target,-id") == [e_review, e_routine, e_repeat, e_done]
    assert raw(client.get(url + "?kind=routine&status=done"))["results"] == []
    # Another clinic's patient, and no patient at all, are not found; an error is a 400.
    for other in (f"/api/v1/patients/{other_patient.pk}/plan/", "/api/v1/patients/999999/plan/"):
        r = client.get(other)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    r = client.get(url + "?open=maybe")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "open"


# --- The written-out queries (PostgreSQL) against the general path -------------------------
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the written-out queries run on PostgreSQL only"
)

FAST_ALERT_QUERIES = [
    "",
    "?status=open",
    "?status=acknowledged&status=open",
    "?status=open&status=acknowledged&status=resolved&status=superseded",
    "?status=superseded",
    "?page_size=2",
    "?page_size=2&page=3",
    "?page_size=4&page=last",
    "?status=open&page_size=1&page=2",
    "?status=open&status=open",
    "?page=4",  # past the end: 404
    "?page=0",
    "?page_size=0",
]
FAST_PLAN_QUERIES = ["", "?page_size=1", "?page_size=3&page=2", "?page=last", "?page=3"]


@pytest.fixture
def general_path_only(monkeypatch):
    """Every request through django-filter, OrderingFilter and the ORM (no written-out SQL)."""

    def use():
        from api import readers

        def alert_rows(params, clinic_id, ordering, general):
            return readers.QuerysetRows(general(), readers.ALERT_COLUMNS)

        def plan_rows(params, clinic_id, patient_id, ordering, general):
            return readers.QuerysetRows(general(), readers.EVENT_COLUMNS)

        monkeypatch.setattr(readers, "alert_rows", alert_rows)
        monkeypatch.setattr(readers, "plan_rows", plan_rows)

    return use


@pytest.fixture
def written_out(monkeypatch):
    """Counts the requests answered by written-out SQL (so a comparison compares something)."""
    from api import readers

    calls = []
    rows = readers.SqlRows.rows

    def spy(self, offset, limit):
        calls.append(self.sql)
        return rows(self, offset, limit)

    monkeypatch.setattr(readers.SqlRows, "rows", spy)
    return calls


@postgresql_only
def test_the_written_out_lists_answer_what_the_general_path_answers(
    data, api_as, patient, other_patient, written_out, general_path_only
):
    client = api_as("nurse")
    urls = [f"/api/v1/alerts/{q}" for q in FAST_ALERT_QUERIES] + [
        f"/api/v1/patients/{p.pk}/plan/{q}"
        for p in (patient, other_patient)
        for q in FAST_PLAN_QUERIES
    ]
    fast = [(client.get(url).status_code, client.get(url).content) for url in urls]
    assert len(written_out) >= len(urls)  # every one of them (twice) read by written-out SQL
    general_path_only()
    written_out.clear()
    general = [(client.get(url).status_code, client.get(url).content) for url in urls]
    assert written_out == []
    for url, one, other in zip(urls, fast, general, strict=True):
        assert one == other, url
    assert {status for status, _ in fast} == {200, 400, 404}


@postgresql_only
def test_the_written_out_alert_list_stays_in_the_clinic(data, api_as, other_clinic, written_out):
    mine = raw(api_as("nurse").get("/api/v1/alerts/?status=open&status=superseded"))
    theirs = raw(api_as("nurse", where=other_clinic).get("/api/v1/alerts/?status=open"))
    assert written_out
    assert mine["count"] == 4 and theirs["count"] == 1
    assert {a["id"] for a in mine["results"]}.isdisjoint(a["id"] for a in theirs["results"])


@postgresql_only
def test_the_nurses_poll_reads_its_page_with_the_results_behind_it(
    data, api_as, clinic, written_out
):
    """The token, then one statement: the page, its count and every result linked to its alerts.
    A result behind an alert only by the foreign key (a_fk_only's) is one query more."""
    from django.test.utils import CaptureQueriesContext

    from schedules.models import Alert

    fk_only = data["alerts"][4].pk  # a_fk_only
    client = api_as("nurse")
    for query, statuses in [
        ("?status=acknowledged&status=resolved", {"acknowledged", "resolved"}),
        ("?status=open", {"open"}),
        ("?status=superseded", {"superseded"}),
    ]:
        client.get(f"/api/v1/alerts/{query}")  # the token and the connection, once
        written_out.clear()
        with CaptureQueriesContext(connection) as ctx:
            body = raw(client.get(f"/api/v1/alerts/{query}"))
        alerts = Alert.objects.filter(patient__clinic=clinic, status__in=statuses)
        assert [a["id"] for a in body["results"]] == [
            a.pk for a in alerts.order_by("-raised_at", "-id")
        ]
        for shown in body["results"]:
            linked = set(alerts.get(pk=shown["id"]).related_results.values_list("pk", flat=True))
            assert linked <= {lab["id"] for lab in shown["lab_results"]}, query
        by_fk_only = alerts.filter(pk=fk_only).exists()
        assert written_out, query
        # + 1: the access-log rows of the patients shown, one INSERT (audit/, issue 14).
        assert len(ctx.captured_queries) == 3 + by_fk_only, (query, ctx.captured_queries)


@postgresql_only
def test_the_results_behind_alerts_are_the_orms(data):
    from api import readers
    from schedules.models import Alert

    ids = list(Alert.objects.values_list("pk", flat=True))
    written = readers._linked_labs(ids)
    assert written and sorted(written) == sorted(readers.linked_labs_orm(ids))


@postgresql_only
def test_the_token_lookup_loads_what_select_related_loads(django_assert_num_queries, nina):
    from django.contrib.auth import get_user_model

    from api.authentication import _token_with_user
    from api.models import ApiToken as Token
    from api.models import digest
    from patients.models import StaffMembership

    lone = get_user_model().objects.create_user("no-role")  # no membership
    for user in (nina, lone):
        key = Token.issue(user)[1]
        membership = StaffMembership.objects.filter(user=user).first()
        with django_assert_num_queries(1):
            token = _token_with_user(digest(key))
        expected = Token.objects.select_related("user", "user__membership").get(
            key_digest=digest(key)
        )
        assert (token.pk, token.user_id, token.created_at, token.expires_at) == (
            expected.pk,
            expected.user_id,
            expected.created_at,
            expected.expires_at,
        )
        fields = [f.attname for f in get_user_model()._meta.concrete_fields]
        assert [getattr(token.user, f) for f in fields] == [
            getattr(expected.user, f) for f in fields
        ]
        assert not token._state.adding and token.user._state.db == "default"
        with django_assert_num_queries(0):  # all loaded, as select_related loads them
            if membership is None:
                with pytest.raises(StaffMembership.DoesNotExist):
                    token.user.membership  # noqa: B018
            else:
                assert token.user.membership.pk == membership.pk
                assert token.user.membership.clinic_id == membership.clinic_id
                assert token.user.membership.role == membership.role
                assert token.user.membership.user is token.user
    with pytest.raises(Token.DoesNotExist):
        _token_with_user(digest("0" * 40))


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _hot_answers(client, patient) -> list[bytes]:
    urls = [
        "/api/v1/alerts/?status=open",
        "/api/v1/alerts/",
        f"/api/v1/patients/{patient.pk}/plan/",
    ]
    return [client.get(url).content for url in urls for _ in range(2)]


@postgresql_only
def test_the_hottest_queries_are_prepared_statements(transactional_db, data, api_as, patient):
    """api/pg.py: the token lookup, the alert page (with its count and results) and the plan
    are prepared on the connection, once each, and answer what unprepared ones answer."""
    connection.close()  # a new connection: nothing prepared on it yet
    client = api_as("nurse")
    prepared = _hot_answers(client, patient)
    statements = _prepared_statements()
    assert any('FROM "api_apitoken" t' in s for s in statements)
    assert any('"schedules_alert" a' in s and "LIMIT $" in s for s in statements)
    assert any('"schedules_monitoringevent" e' in s for s in statements)
    assert len(statements) == len(set(statements))  # each once, for all its requests
    # Unprepared (DATABASE_PREPARED_STATEMENTS=0): Django's own cursors, the same answers.
    from django.test import override_settings

    connection.close()
    with override_settings(DATABASE_PREPARED_STATEMENTS=False):
        unprepared = _hot_answers(client, patient)
        assert _prepared_statements() == []
    assert prepared == unprepared
