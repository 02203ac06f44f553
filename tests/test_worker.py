"""A real Celery worker, started by the test, consumes tasks through Redis and writes to the
database (PostgreSQL in CI). Skipped without REDIS_URL, a failure with MTXMONITOR_REQUIRE_SERVICES.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from patients.models import LabResult, Prescription
from patients.services import lab_result_record
from schedules.models import Alert, MonitoringEvent

pytestmark = pytest.mark.worker


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def on_methotrexate(patient):
    return Prescription.objects.create(
        patient=patient,
        drug="methotrexate",
        dose_mg=Decimal("15"),
        frequency="once_weekly",
        weekday="monday",
        route="oral",
        formulation="tablet_2.5mg",
        start_date=date.today() - timedelta(days=120),
    )


def test_the_worker_evaluates_a_posted_result_through_redis(celery_worker, patient):
    on_methotrexate(patient)
    r = lab_result_record(
        patient=patient,
        analyte="ALT",
        value="30",
        unit="U/L",
        reference_high="40",
        collected_at=timezone.now() - timedelta(hours=2),
        accession="W-1",
    ).result
    done = wait_for(lambda: LabResult.objects.filter(pk=r.pk, evaluated_version=1).first())
    assert done.evaluated_at is not None
    assert not Alert.objects.filter(lab_result=r).exists()  # a normal ALT raises nothing


def test_alt_4x_uln_gives_one_critical_alert_and_a_confirmatory_repeat(celery_worker, patient):
    on_methotrexate(patient)
    kwargs = {
        "patient": patient,
        "analyte": "ALT",
        "value": "160",
        "unit": "U/L",
        "reference_high": "40",
        "collected_at": timezone.now() - timedelta(hours=1),
        "accession": "W-2",
    }
    t0 = time.monotonic()
    r = lab_result_record(**kwargs).result
    alert = wait_for(
        lambda: Alert.objects.filter(
            lab_result=r, rule="LIVER_GT_3X_ULN", severity="critical"
        ).first()
    )
    repeat = wait_for(
        lambda: (
            MonitoringEvent.objects.filter(patient=patient, kind="confirmatory")
            .exclude(status="cancelled")
            .first()
        )
    )
    elapsed = time.monotonic() - t0
    assert "above 3× the upper limit of normal" in alert.message
    assert "ULN 40 U/L from the laboratory" in alert.message  # says which ULN it used
    assert repeat.latest <= r.collected_at.date() + timedelta(days=7)
    # Posting it again, and replaying the task, still yields one alert.
    assert lab_result_record(**kwargs).outcome == "replayed"
    from schedules.tasks import evaluate_lab_result

    evaluate_lab_result.delay(r.pk)
    LabResult.objects.filter(pk=r.pk).update(evaluated_version=None)  # force a real re-run
    evaluate_lab_result.delay(r.pk)
    wait_for(lambda: LabResult.objects.filter(pk=r.pk, evaluated_version=1).exists())
    time.sleep(0.5)
    assert Alert.objects.filter(lab_result=r, rule=alert.rule).count() == 1
    assert (
        MonitoringEvent.objects.filter(patient=patient, kind="confirmatory")
        .exclude(status="cancelled")
        .count()
        == 1
    )
    print(f"ALT 4x ULN -> critical alert and repeat event in {elapsed:.2f}s")


def test_a_result_stored_while_the_worker_was_down_is_evaluated_by_the_reconcile(
    celery_worker, patient
):
    on_methotrexate(patient)
    # Stored with no dispatch (as if Redis was down when it arrived).
    r = LabResult(
        patient=patient,
        analyte="alt",
        reported_value="170",
        reported_unit="U/L",
        reference_high=Decimal("40"),
        collected_at=timezone.now() - timedelta(hours=3),
        accession="W-3",
        source="test",
    )
    r.save()
    assert r.evaluated_version is None
    from schedules.tasks import reconcile_unevaluated_results

    # A result received in the last MTXMONITOR_RECONCILE_GRACE_SECONDS is left to its dispatch.
    assert reconcile_unevaluated_results(grace_seconds=3600) == 0
    reconcile_unevaluated_results.delay(grace_seconds=0)
    wait_for(lambda: LabResult.objects.filter(pk=r.pk, evaluated_version=1).exists())
    assert Alert.objects.filter(lab_result=r, rule="LIVER_GT_3X_ULN").count() == 1
