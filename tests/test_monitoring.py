"""The monitoring engine in the database: evaluation, plan sync, amendments, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from patients.models import LabResult
from patients.prescriptions import prescription_change_dose, prescription_start
from patients.services import lab_result_record
from schedules.models import Alert, MonitoringEvent
from schedules.services import alert_acknowledge, alert_resolve, evaluate_result, sync_plan

pytestmark = pytest.mark.django_db


def start_mtx(patient, start, dose="15"):
    prescription_start(
        patient=patient,
        drug="folic_acid",
        dose_mg="5",
        frequency="once_weekly",
        weekday="wednesday",
        formulation="folic_acid_tablet_5mg",
        start_date=start,
    )
    return prescription_start(
        patient=patient,
        drug="methotrexate",
        dose_mg=dose,
        frequency="once_weekly",
        weekday="monday",
        route="oral",
        formulation="tablet_2.5mg",
        start_date=start,
    ).prescription


def draw(patient, day: date, alt="25", tag="", hour=10):
    at = datetime(day.year, day.month, day.day, hour, 0, tzinfo=patient.clinic.tz)
    ids = []
    for analyte, value, unit, high in (
        ("alt", alt, "U/L", "40"),
        ("ast", "22", "U/L", "40"),
        ("wbc", "6.1", "10*9/L", None),
        ("neutrophils", "3.2", "10*9/L", None),
        ("platelets", "250", "10*9/L", None),
        ("creatinine", "70", "umol/L", None),
        ("egfr", "90", "mL/min/{1.73_m2}", None),
        ("albumin", "42", "g/L", None),
        ("lymphocytes", "1.8", "10*9/L", None),
        ("haemoglobin", "135", "g/L", None),
        ("mcv", "90", "fL", None),
    ):
        r = lab_result_record(
            patient=patient,
            analyte=analyte,
            value=value,
            unit=unit,
            reference_high=high,
            collected_at=at,
            accession=f"{patient.mrn}-{analyte}-{day}{tag}",
        ).result
        ids.append(r.pk)
    for rid in ids:
        evaluate_result(rid)
    return ids


def routine(patient):
    return MonitoringEvent.objects.filter(patient=patient, kind="routine").order_by("target")


def test_syncing_the_same_inputs_twice_changes_nothing(patient):
    today = date.today()
    start_mtx(patient, today - timedelta(days=60))
    draw(patient, today - timedelta(days=30))
    sync_plan(patient.pk)
    snapshot = list(MonitoringEvent.objects.values_list("id", "key", "status", "updated_at"))
    counts = sync_plan(patient.pk)
    assert counts["created"] == counts["updated"] == counts["cancelled"] == 0
    assert (
        list(MonitoringEvent.objects.values_list("id", "key", "status", "updated_at")) == snapshot
    )


def test_every_event_explains_itself_with_its_source(patient):
    start_mtx(patient, date.today() - timedelta(days=10))
    sync_plan(patient.pk)
    events = list(MonitoringEvent.objects.filter(patient=patient))
    assert {e.kind for e in events} >= {"baseline", "routine", "response_review"}
    for e in events:
        assert e.explanation and e.source and e.protocol
    assert any("EULAR/3E 2009" in e.explanation for e in events)


def test_the_next_draw_is_planned_from_the_day_blood_was_taken(patient):
    today = date.today()
    start_mtx(patient, today - timedelta(days=70))
    taken = today - timedelta(days=20)
    draw(patient, taken)
    pending = routine(patient).filter(status="planned").get()
    assert f"draw={taken}" in pending.key
    assert pending.earliest > taken


def test_a_dose_increase_restarts_the_early_phase(patient):
    today = date.today()
    rx = start_mtx(patient, today - timedelta(days=200))
    for d in (170, 130, 90, 50):
        draw(patient, today - timedelta(days=d))
    before = routine(patient).filter(status="planned").get()
    prescription_change_dose(
        prescription=rx, dose_mg="20", effective_date=today - timedelta(days=3), reason="Flare"
    )
    sync_plan(patient.pk)
    # issue #15 changed this test: the draw already due (target in 6 days) is earlier than the
    # increase's early-phase draw (in 32 days), so it stays planned instead of being cancelled
    # (an increase never postpones blood tests); the draw after it follows the early phase.
    after = routine(patient).exclude(status__in=["done", "cancelled"]).get()
    before.refresh_from_db()
    assert after.pk == before.pk and before.status != "cancelled"
    draw(patient, today - timedelta(days=1))
    sync_plan(patient.pk)
    nxt = routine(patient).exclude(status__in=["done", "cancelled"]).get()
    assert f"draw={today - timedelta(days=1)}" in nxt.key
    assert nxt.phase == "initiation" and nxt.interval_days <= before.interval_days


def test_alt_above_3x_uln_gives_one_alert_and_a_repeat_within_a_week(patient):
    today = date.today()
    start_mtx(patient, today - timedelta(days=60))
    ids = draw(patient, today - timedelta(days=1), alt="160")
    alt = LabResult.objects.get(pk=ids[0])
    alert = Alert.objects.get(lab_result=alt, rule="LIVER_GT_3X_ULN")
    assert alert.severity == "critical" and alert.details["uln_used"] == "40"
    repeat = MonitoringEvent.objects.get(patient=patient, kind="confirmatory")
    assert repeat.alert_id == alert.pk
    assert repeat.latest <= today - timedelta(days=1) + timedelta(days=7)
    evaluate_result(alt.pk)  # again: nothing new
    assert Alert.objects.filter(lab_result=alt).count() == 2  # 3x ULN and > 100 U/L, once each


def test_exactly_3x_uln_is_not_above_it(patient):
    start_mtx(patient, date.today() - timedelta(days=60))
    ids = draw(patient, date.today() - timedelta(days=1), alt="120")
    assert not Alert.objects.filter(lab_result_id=ids[0], rule="LIVER_GT_3X_ULN").exists()
    assert Alert.objects.filter(lab_result_id=ids[0], rule="LIVER_GT_ABSOLUTE").exists()


def test_an_amended_result_supersedes_its_earlier_finding_and_repeat(patient):
    today = date.today()
    start_mtx(patient, today - timedelta(days=60))
    ids = draw(patient, today - timedelta(days=1), alt="160")
    r = LabResult.objects.get(pk=ids[0])
    out = lab_result_record(
        patient=patient,
        analyte="alt",
        value="16.0",
        unit="U/L",
        reference_high="40",
        collected_at=r.collected_at,
        accession=r.accession,
    )
    assert out.outcome == "amended"
    evaluate_result(r.pk)
    old = Alert.objects.get(lab_result=r, rule="LIVER_GT_3X_ULN")
    assert old.status == "superseded" and old.result_version == 1
    assert not Alert.objects.filter(lab_result=r, result_version=2).exists()
    assert MonitoringEvent.objects.get(patient=patient, kind="confirmatory").status == "cancelled"


def test_a_confirming_second_result_says_stop(patient):
    today = date.today()
    start_mtx(patient, today - timedelta(days=60))
    draw(patient, today - timedelta(days=6), alt="160")
    ids = draw(patient, today - timedelta(days=1), alt="170", tag="b")
    confirmed = Alert.objects.get(lab_result_id=ids[0], rule="LIVER_GT_3X_ULN_CONFIRMED")
    assert "stop" in confirmed.action.lower()
    first = Alert.objects.get(rule="LIVER_GT_3X_ULN")
    assert (first.status, first.superseded_by_id) == ("superseded", confirmed.pk)
    repeat = MonitoringEvent.objects.filter(patient=patient, kind="confirmatory").first()
    # issue #15 changed this test: the repeat was done (it is the confirming result), so it is
    # recorded as done, never "cancelled" because its finding was superseded.
    assert repeat.status == "done" and repeat.completed_on == today - timedelta(days=1)


def test_a_result_not_evaluable_raises_an_alert_for_a_human(patient):
    start_mtx(patient, date.today() - timedelta(days=60))
    r = lab_result_record(
        patient=patient,
        analyte="ALT",
        value="haemolysed",
        unit="U/L",
        collected_at=datetime.now(UTC),
        accession="H-1",
    ).result
    evaluate_result(r.pk)
    a = Alert.objects.get(lab_result=r)
    assert a.rule == "RESULT_NOT_EVALUABLE" and a.severity == "warning"


def test_acknowledge_needs_a_note_then_resolve(patient, nina):
    from django.core.exceptions import ValidationError

    a = Alert.objects.create(
        patient=patient, rule="X", severity="critical", message="m", action="a", source="s"
    )
    with pytest.raises(ValidationError):
        alert_acknowledge(alert=a, user=nina, note="  ")
    a = alert_acknowledge(alert=a, user=nina, note="Phoned patient; repeat booked.")
    assert (a.status, a.acknowledged_by) == ("acknowledged", nina)
    a = alert_resolve(alert=a, user=nina, note="Repeat normal.")
    assert a.status == "resolved" and a.resolved_at


@pytest.mark.parametrize(
    ("tz", "utc_instant", "local_day"),
    [
        # 00:30 local on the day after the spring change in London is 23:30 UTC the day before.
        ("Europe/London", datetime(2026, 3, 29, 23, 30, tzinfo=UTC), date(2026, 3, 30)),
        ("Europe/London", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), date(2026, 10, 25)),
        # 22:30 in New York on the day of the autumn change is 03:30 UTC the next day.
        ("America/New_York", datetime(2026, 11, 2, 3, 30, tzinfo=UTC), date(2026, 11, 1)),
        ("America/New_York", datetime(2026, 3, 9, 3, 30, tzinfo=UTC), date(2026, 3, 8)),
    ],
)
def test_a_draw_counts_on_the_clinics_local_day_across_dst(patient, tz, utc_instant, local_day):
    patient.clinic.time_zone = tz
    patient.clinic.save()
    start_mtx(patient, local_day - timedelta(days=60))
    for analyte, value, unit in (
        ("alt", "25", "U/L"),
        ("wbc", "6", "10*9/L"),
        ("neutrophils", "3", "10*9/L"),
        ("platelets", "250", "10*9/L"),
        ("creatinine", "70", "umol/L"),
    ):
        lab_result_record(
            patient=patient,
            analyte=analyte,
            value=value,
            unit=unit,
            collected_at=utc_instant,
            accession=f"D-{analyte}",
        )
    sync_plan(patient.pk, today=local_day + timedelta(days=1))
    pending = routine(patient).exclude(status__in=["done", "cancelled"]).get()
    assert f"draw={local_day}" in pending.key


def test_a_draw_inside_the_window_completes_the_event(patient):
    today = date.today()
    start_mtx(patient, today - timedelta(days=100))
    draw(patient, today - timedelta(days=70))
    sync_plan(patient.pk, today=today - timedelta(days=40))
    ev = routine(patient).filter(status="planned").get()
    inside = ev.earliest + timedelta(days=1)
    draw(patient, inside, tag="w")
    sync_plan(patient.pk, today=inside + timedelta(days=1))
    ev.refresh_from_db()
    assert (ev.status, ev.completed_on) == ("done", inside)
