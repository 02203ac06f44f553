"""Store first, nothing left silent (issue 14): the production processes under injected faults.

A private redis-server (started by the test) is the cache and the broker of a real gunicorn and
a real Celery worker with beat, all on the test database. The test stops or freezes (SIGSTOP)
that Redis while results and prescriptions arrive through the API: every request is answered
(201, never 500), everything is stored, and once Redis is back the worker and the periodic
sweeps evaluate every result and build every plan. The figures printed are the README's
("Reliability").
"""

from __future__ import annotations

import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.utils import timezone

from patients.models import LabResult, Measurement, Patient, Prescription
from schedules.models import Alert, MonitoringEvent
from tests.api.conftest import api_key
from tests.conftest import make_member, require_redis
from tests.faults import PrivateRedis, Stack, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Sweeps every few seconds here (production: every minute; settings, README "Reliability").
FAST_SWEEPS = {
    "MTXMONITOR_RECONCILE_SECONDS": "3",
    "MTXMONITOR_RECONCILE_GRACE_SECONDS": "1",
    "MTXMONITOR_REPLAN_SECONDS": "3",
    "MTXMONITOR_REPLAN_GRACE_SECONDS": "1",
}


@pytest.fixture
def stack(tmp_path):
    require_redis()
    if connection.vendor != "postgresql":
        pytest.skip("the services in other processes need the test database on PostgreSQL")
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    s = Stack(redis, tmp_path, **FAST_SWEEPS)
    try:
        s.start_web()
        s.start_worker()
        yield s
    finally:
        s.stop()
        redis.stop()


@pytest.fixture
def client_of(clinic):
    def make(role: str = "integration") -> requests.Session:
        user = make_member(clinic, f"{role}-faults", role)
        session = requests.Session()
        session.headers.update(
            {"Authorization": f"Token {api_key(user)}", "Content-Type": "application/json"}
        )
        return session

    return make


def on_methotrexate(patient) -> Prescription:
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


def result(patient, accession: str, value=30) -> dict:
    return {
        "patient": patient.pk,
        "analyte": "ALT",
        "value": value,
        "unit": "U/L",
        "reference_high": 40,
        "collected_at": (timezone.now() - timedelta(hours=2)).isoformat(),
        "accession": accession,
    }


def timed_post(session, url: str, body: dict) -> tuple[int, float]:
    t0 = time.monotonic()
    r = session.post(url, json=body, timeout=60)
    return r.status_code, time.monotonic() - t0


def post_during_fault(stack, session, patient, prefix: str) -> tuple[list[int], list[float]]:
    """20 single results (one critical: ALT 200 U/L, 5× ULN), a batch of 20 (200, with one
    answer per item), and reads."""
    statuses, seconds = [], []
    for i in range(20):
        code, took = timed_post(
            session,
            stack.url + "/api/v1/labs/",
            result(patient, f"{prefix}-{i}", value=200 if i == 7 else 30),
        )
        statuses.append(code)
        seconds.append(took)
    t0 = time.monotonic()
    r = session.post(
        stack.url + "/api/v1/labs/batch/",
        json={"results": [result(patient, f"{prefix}-B{i}") for i in range(20)]},
        timeout=60,
    )
    seconds.append(time.monotonic() - t0)
    statuses.append(r.status_code)
    assert [x["outcome"] for x in r.json()["results"]] == ["created"] * 20
    for path in ("/api/v1/labs/", f"/api/v1/patients/{patient.pk}/"):
        t0 = time.monotonic()
        statuses.append(session.get(stack.url + path, timeout=60).status_code)
        seconds.append(time.monotonic() - t0)
    return statuses, seconds


def all_evaluated(prefix: str, count: int) -> bool:
    rows = LabResult.objects.filter(accession__startswith=f"{prefix}-")
    return rows.count() == count and not rows.filter(evaluated_version__isnull=True).exists()


def report(label: str, seconds: list[float]) -> str:
    return (
        f"{label}: {len(seconds)} requests, median {statistics.median(seconds) * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms"
    )


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_results_posted_while_redis_is_down_are_all_stored_and_evaluated_when_it_returns(
    stack, client_of, patient, fault
):
    on_methotrexate(patient)
    session = client_of()
    # Redis up: the ordinary path, evaluated at once (and the baseline latency).
    statuses, seconds = post_during_fault(stack, session, patient, f"up{fault}")
    assert statuses == [201] * 20 + [200, 200, 200], statuses
    wait_until(lambda: all_evaluated(f"up{fault}", 40), 60, "the worker evaluating, Redis up")
    print(report("Redis up", seconds))

    if fault == "stopped":
        stack.redis.stop()
    else:
        stack.redis.freeze()
    statuses, seconds = post_during_fault(stack, session, patient, fault)
    # Every result 201 (the batch and the reads 200): never a 500, and every result stored.
    assert statuses == [201] * 20 + [200, 200, 200], statuses
    stored = LabResult.objects.filter(accession__startswith=f"{fault}-")
    assert stored.count() == 40
    assert stored.filter(evaluated_version__isnull=True).count() == 40  # nothing evaluated yet
    print(report(f"Redis {fault}", seconds))

    back = time.monotonic()
    if fault == "stopped":
        stack.redis.start()
    else:
        stack.redis.thaw()
    wait_until(lambda: all_evaluated(fault, 40), 120, "every result evaluated after Redis returned")
    print(
        f"Redis {fault}: all 40 results evaluated {time.monotonic() - back:.1f} s after it returned"
    )
    critical = LabResult.objects.get(accession=f"{fault}-7")
    assert Alert.objects.filter(lab_result=critical, rule="LIVER_GT_3X_ULN").count() == 1
    assert "Traceback" not in stack.log("web")


def test_a_prescription_started_while_redis_is_down_gets_its_plan_from_the_periodic_replan(
    stack, client_of, clinic, nina
):
    """The issue's finding: methotrexate started with Redis down had no monitoring events 25
    minutes later. Now the periodic re-plan builds the plan once Redis is back."""
    patient = Patient.objects.create(
        clinic=clinic,
        mrn="F-0001",
        given_name="Fay",
        family_name="Ultson",
        birth_date=date(1975, 3, 3),
        sex="female",
        diagnosis="rheumatoid_arthritis",
        responsible_nurse=nina.membership,
    )
    Measurement.objects.create(
        patient=patient, measured_on=date.today(), weight_kg=70, height_cm=170
    )
    session = client_of("clinician")
    for _ in range(4):  # warm both gunicorn workers: the figure printed is the fault's cost
        assert session.get(stack.url + "/api/v1/patients/", timeout=60).status_code == 200
    stack.redis.stop()
    code, took = timed_post(
        session,
        stack.url + "/api/v1/prescriptions/",
        {
            "patient": patient.pk,
            "drug": "methotrexate",
            "dose_mg": "15",
            "frequency": "once_weekly",
            "weekday": "monday",
            "route": "oral",
            "formulation": "tablet_2.5mg",
            "start_date": date.today().isoformat(),
            "reason": "Rheumatoid arthritis",
        },
    )
    assert code == 201
    rx = Prescription.objects.get(patient=patient)
    patient.refresh_from_db()
    assert patient.plan_stale_since is not None  # marked in the prescription's transaction
    time.sleep(2)
    assert not MonitoringEvent.objects.filter(patient=patient).exists()  # the re-plan was lost

    back = time.monotonic()
    stack.redis.start()
    wait_until(
        lambda: MonitoringEvent.objects.filter(patient=patient, drug="methotrexate").count() >= 3,
        120,
        "the periodic re-plan building the plan",
    )
    print(
        f"Broker down at a start: plan built {time.monotonic() - back:.1f} s after Redis "
        f"returned (request took {took * 1000:.0f} ms)"
    )
    events = MonitoringEvent.objects.filter(patient=patient)
    assert events.filter(kind="baseline").exists()
    assert all(e.prescription_id == rx.pk for e in events)
    patient.refresh_from_db()
    assert patient.plan_stale_since is None and patient.plan_synced_at is not None


# --- Critical e-mails after a crash (defect 5), with the production intervals --------------------
@pytest.fixture
def smtp_server():
    from tests.reminders.conftest import SmtpServer

    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def production_stack(tmp_path, smtp_server):
    """The stack with the production defaults for every sweep (settings.py), e-mailing to a
    real SMTP server on loopback."""
    require_redis()
    if connection.vendor != "postgresql":
        pytest.skip("the services in other processes need the test database on PostgreSQL")
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    s = Stack(
        redis,
        tmp_path,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_server.port),
        EMAIL_USE_TLS="0",
        EMAIL_TIMEOUT="5",
    )
    try:
        s.start_web()
        yield s
    finally:
        s.stop()
        redis.stop()


def test_a_critical_result_reaches_the_nurse_within_two_minutes_of_the_workers_return(
    production_stack, smtp_server, client_of, patient
):
    """Two crashes: (1) the evaluation task dies with the worker (the queue is lost: only the
    reconcile can find the result); (2) the worker is killed in the middle of the SMTP send
    (the row is left "sending"). Each time the e-mail reaches the nurse within 2 minutes of
    the worker's return, with the production intervals."""
    import subprocess

    stack = production_stack
    on_methotrexate(patient)
    session = client_of()

    # (1) Stored while no worker runs, and its task lost (as with a worker killed mid-task).
    code, _ = timed_post(session, stack.url + "/api/v1/labs/", result(patient, "CR-1", value=200))
    assert code == 201
    subprocess.run(
        ["redis-cli", "-p", str(stack.redis.port), "FLUSHALL"], check=True, capture_output=True
    )
    back = time.monotonic()
    stack.start_worker()
    smtp_server.inbox.wait_for(1, timeout=120)
    first = time.monotonic() - back
    assert "CRITICAL" in smtp_server.messages[0]["Subject"]
    assert "nina@example.org" in smtp_server.messages[0]["X-Envelope-To"]

    # (2) The worker is killed while the SMTP server holds the message without answering.
    smtp_server.inbox.hold_after(1)
    code, _ = timed_post(session, stack.url + "/api/v1/labs/", result(patient, "CR-2", value=300))
    assert code == 201
    assert smtp_server.inbox.holding.wait(60), "the worker never reached the SMTP DATA step"
    stack.procs["worker"].kill()  # SIGKILL: no except, no finally
    stack.procs.pop("worker").wait()
    smtp_server.stop()
    smtp_server.inbox.hold_after(None)
    smtp_server.start()
    back = time.monotonic()
    stack.start_worker()
    smtp_server.inbox.wait_for(2, timeout=120)
    second = time.monotonic() - back
    from schedules.models import Notification

    # The worker records "sent" a moment after the server accepted the message.
    stuck = wait_until(
        lambda: Notification.objects.filter(
            patient=patient, alert__lab_result__accession="CR-2", state="sent"
        ).first(),
        30,
        "the re-sent e-mail recorded as sent",
    )
    assert stuck.attempts == 2
    print(
        f"Critical e-mail after the worker's return: task lost {first:.0f} s, "
        f"killed mid-send {second:.0f} s"
    )
    assert first < 120 and second < 120
