"""Set-based evaluation (schedules.services.evaluate_results) and the COPY insert (mtxmonitor.bulk).

The lab pipeline evaluates a chunk of results of many patients in one pass, with a fixed number
of queries. These tests hold it to the meaning of evaluating one result at a time: twin patients
get the same results; one twin's are evaluated one by one in the order they were taken, the
other's all together in one call; the alerts (rules, severities, statuses, which one supersedes
which) and the monitoring plans must be the same.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from patients.models import LabResult, Patient
from patients.prescriptions import prescription_hold, prescription_start
from patients.services import lab_result_record
from schedules.models import Alert, MonitoringEvent
from schedules.services import evaluate_result, evaluate_results, sync_plan
from tests.test_monitoring import start_mtx

pytestmark = pytest.mark.django_db

TODAY = date.today()

# Per scenario: the prescriptions and the draws (days ago, {analyte: value}). ALT/AST have a
# lab ULN of 40 U/L.
SCENARIOS = {
    "normal": {"drug": "methotrexate", "draws": [(20, {}), (3, {})]},
    "alt_once": {"drug": "methotrexate", "draws": [(3, {"alt": "160"})]},
    "alt_confirmed": {"drug": "methotrexate", "draws": [(9, {"alt": "160"}), (2, {"alt": "170"})]},
    "cytopenia": {"drug": "methotrexate", "draws": [(4, {"wbc": "2.8", "neutrophils": "1.1"})]},
    "mmf_neutropenia": {"drug": "mycophenolate_mofetil", "draws": [(5, {"neutrophils": "1.2"})]},
    "held": {"drug": "methotrexate", "hold": True, "draws": [(2, {"alt": "130", "ast": "150"})]},
    "unreadable": {"drug": "methotrexate", "draws": [(1, {"creatinine": "haemolysed"})]},
}
PANEL = {
    "alt": ("25", "U/L", "40"),
    "ast": ("22", "U/L", "40"),
    "wbc": ("6.1", "10*9/L", None),
    "neutrophils": ("3.2", "10*9/L", None),
    "platelets": ("250", "10*9/L", None),
    "creatinine": ("70", "umol/L", None),
    "egfr": ("90", "mL/min/{1.73_m2}", None),
    "albumin": ("42", "g/L", None),
}


def _start(patient, drug):
    if drug == "methotrexate":
        return start_mtx(patient, TODAY - timedelta(days=70))
    return prescription_start(
        patient=patient,
        drug="mycophenolate_mofetil",
        dose_mg="1000",
        frequency="twice_daily",
        route="oral",
        formulation="tablet_500mg",
        start_date=TODAY - timedelta(days=70),
    ).prescription


def _twin(clinic, nina, name: str, twin: str) -> Patient:
    spec = SCENARIOS[name]
    patient = Patient.objects.create(
        clinic=clinic,
        mrn=f"{name}-{twin}",
        given_name="Twin",
        family_name=twin,
        birth_date=date(1968, 3, 9),
        sex="female",
        diagnosis="psoriasis",
        risk_factors=[],
        responsible_nurse=nina.membership,
    )
    rx = _start(patient, spec["drug"])
    if spec.get("hold"):
        prescription_hold(
            prescription=rx, effective_date=TODAY - timedelta(days=10), reason="infection"
        )
    sync_plan(patient.pk)
    return patient


def _record(patient) -> list[int]:
    """Store the scenario's draws (nothing evaluated yet); ids in the order blood was taken."""
    spec = SCENARIOS[patient.mrn.rsplit("-", 1)[0]]
    ids = []
    for days_ago, abnormal in spec["draws"]:
        day = TODAY - timedelta(days=days_ago)
        at = datetime(day.year, day.month, day.day, 9, 30, tzinfo=patient.clinic.tz)
        for analyte, (value, unit, uln) in PANEL.items():
            ids.append(
                lab_result_record(
                    patient=patient,
                    analyte=analyte,
                    value=abnormal.get(analyte, value),
                    unit=unit,
                    reference_high=uln,
                    collected_at=at,
                    accession=f"{patient.mrn}-{analyte}-{days_ago}",
                ).result.pk
            )
    return ids


def _alerts(patient) -> list[tuple]:
    """The patient's alerts, comparable across twins (no ids: what raised it, and what
    superseded it, by rule and result)."""

    def result_key(r):
        return (r.analyte, r.collected_at, r.version) if r else None

    out = []
    for a in Alert.objects.filter(patient=patient).select_related(
        "lab_result", "superseded_by__lab_result"
    ):
        sup = a.superseded_by
        out.append(
            (
                a.rule,
                a.severity,
                a.status,
                result_key(a.lab_result),
                a.result_version,
                a.message,
                a.action,
                (sup.rule, result_key(sup.lab_result)) if sup else None,
                a.related_results.count(),
            )
        )
    return sorted(out, key=repr)


def _plan(patient) -> list[tuple]:
    return sorted(
        (
            re.sub(r"finding=\d+", "finding=N", e.key),
            e.kind,
            e.status,
            e.earliest,
            e.target,
            e.latest,
            e.completed_on,
            tuple(e.tests),
            e.alert.rule if e.alert_id else None,
        )
        for e in MonitoringEvent.objects.filter(patient=patient).select_related("alert")
    )


def test_a_chunk_of_many_patients_means_the_same_as_each_patient_alone(clinic, nina):
    """Twins per scenario: one evaluated alone, one in a chunk with every other scenario's
    (in reverse order: the order given must not matter). Same alerts, same plans."""
    alone = {name: _twin(clinic, nina, name, "alone") for name in SCENARIOS}
    chunk = {name: _twin(clinic, nina, name, "chunk") for name in SCENARIOS}
    for patient in alone.values():
        evaluate_results(_record(patient))
    evaluate_results(list(reversed([rid for p in chunk.values() for rid in _record(p)])))
    for name in SCENARIOS:
        alerts = _alerts(alone[name])
        assert alerts == _alerts(chunk[name]), name
        assert _plan(alone[name]) == _plan(chunk[name]), name
        assert bool(alerts) == (name != "normal"), name
    assert not LabResult.objects.filter(evaluated_version__isnull=True).exists()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_alerts_are_those_of_one_result_at_a_time(clinic, nina, name):
    """The findings do not depend on how results are grouped (the plan may: evaluated one at a
    time, each intermediate plan is stored and completed; together, only the final one)."""
    one, together = _twin(clinic, nina, name, "one"), _twin(clinic, nina, name, "together")
    ids_one, ids_together = _record(one), _record(together)
    for rid in ids_one:
        evaluate_result(rid)
    evaluate_results(ids_together)
    assert _alerts(one) == _alerts(together)


def test_a_confirmation_supersedes_the_first_finding_when_both_are_in_one_chunk(clinic, nina):
    patient = _twin(clinic, nina, "alt_confirmed", "x")
    evaluate_results(_record(patient))
    first = Alert.objects.get(patient=patient, rule="LIVER_GT_3X_ULN")
    confirmed = Alert.objects.get(patient=patient, rule="LIVER_GT_3X_ULN_CONFIRMED")
    assert (first.status, first.superseded_by_id) == ("superseded", confirmed.pk)
    assert confirmed.status == "open"
    # Its history records the change (the bulk path writes history rows too).
    assert [h.status for h in first.history.order_by("history_id")] == ["open", "superseded"]


def test_an_amendment_evaluated_in_a_chunk_supersedes_the_earlier_version(clinic, nina):
    patient = _twin(clinic, nina, "alt_once", "x")
    ids = _record(patient)
    evaluate_results(ids)
    alt = LabResult.objects.get(pk=ids[0])
    assert alt.analyte == "alt"
    lab_result_record(
        patient=patient,
        analyte="alt",
        value="30",
        unit="U/L",
        reference_high="40",
        collected_at=alt.collected_at,
        accession=alt.accession,
    )
    evaluate_results(ids)  # the others are evaluated already: only the amendment is
    old = Alert.objects.get(lab_result=alt, rule="LIVER_GT_3X_ULN")
    assert old.status == "superseded" and old.superseded_by_id is None
    assert not Alert.objects.filter(lab_result=alt, result_version=2).exists()
    assert MonitoringEvent.objects.get(patient=patient, kind="confirmatory").status == "cancelled"


def test_evaluating_a_chunk_again_adds_nothing(clinic, nina):
    patient = _twin(clinic, nina, "cytopenia", "x")
    ids = _record(patient)
    first = evaluate_results(ids)
    before = (_alerts(patient), _plan(patient), MonitoringEvent.history.count())
    assert first and evaluate_results(ids) == []
    assert (_alerts(patient), _plan(patient), MonitoringEvent.history.count()) == before


def _queries_to_evaluate(clinic, nina, n: int, tag: str) -> int:
    patients = [_twin(clinic, nina, "alt_once", f"{tag}{i}") for i in range(n)]
    ids = [rid for p in patients for rid in _record(p)]
    with CaptureQueriesContext(connection) as ctx:
        new = evaluate_results(ids)
    assert len(new) >= n  # each raised its alerts
    return len(ctx.captured_queries)


def test_a_chunks_query_count_does_not_grow_with_its_patients(clinic, nina):
    few = _queries_to_evaluate(clinic, nina, 2, "a")
    many = _queries_to_evaluate(clinic, nina, 12, "b")
    assert many == few, f"{few} queries for 2 patients, {many} for 12"
    assert few <= 25


# --- mtxmonitor.bulk.insert_with_history --------------------------------------------------------
def _columns(obj, skip=("id",)) -> dict:
    return {
        f.attname: getattr(obj, f.attname)
        for f in type(obj)._meta.concrete_fields
        if f.attname not in skip and not f.attname.endswith("_at")
    }


def test_insert_with_history_stores_what_bulk_create_with_history_stores(clinic, patient):
    from simple_history.utils import bulk_create_with_history

    from mtxmonitor.bulk import insert_with_history

    def events(prefix):
        return [
            MonitoringEvent(
                patient=patient,
                key=f"{prefix}-{i}",
                kind="routine",
                drug="methotrexate",
                tests=["alt", "wbc"] if i else [],
                earliest=TODAY,
                target=TODAY + timedelta(days=i),
                latest=TODAY + timedelta(days=i + 3),
                interval_days=i or None,
                explanation=f"Why {i} — ünïcode, 'quotes', tabs\tand\nnew lines \\ too",
            )
            for i in range(3)
        ]

    ours, theirs = events("ours"), events("theirs")
    with transaction.atomic():
        insert_with_history(ours, MonitoringEvent)
        bulk_create_with_history(theirs, MonitoringEvent)
    assert all(e.pk for e in ours) and len({e.pk for e in ours + theirs}) == 6
    for a, b in zip(ours, theirs, strict=True):
        stored_a = MonitoringEvent.objects.get(pk=a.pk)
        stored_b = MonitoringEvent.objects.get(pk=b.pk)
        assert {**_columns(stored_a), "key": None} == {**_columns(stored_b), "key": None}
        assert stored_a.created_at is not None and stored_a.updated_at is not None
        (ha,) = stored_a.history.all()
        (hb,) = stored_b.history.all()
        skip = ("id", "history_id", "history_date", "key")
        assert ha.history_type == "+" and _columns(ha, skip) == _columns(hb, skip)
        assert ha.id == a.pk


def test_insert_with_history_refuses_a_duplicate_like_bulk_create(clinic, patient):
    from mtxmonitor.bulk import insert_with_history

    def result():
        return LabResult(
            patient=patient,
            clinic=clinic,
            analyte="alt",
            reported_value="20",
            reported_unit="U/L",
            collected_at=datetime(2026, 1, 5, 9, tzinfo=clinic.tz),
            accession="DUP-1",
        )

    insert_with_history([result()], LabResult)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_with_history([result()], LabResult)
    # The savepoint rolled back cleanly: one row, one history row, the connection still usable.
    assert LabResult.objects.filter(accession="DUP-1").count() == 1
    assert LabResult.history.filter(accession="DUP-1").count() == 1
