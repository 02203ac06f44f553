"""Shared fixtures: a small named cast (two clinics, their staff, patients), the real services.

With DATABASE_URL/REDIS_URL set (CI) the suite runs on PostgreSQL and Redis and starts real
Celery workers; MTXMONITOR_REQUIRE_SERVICES=1 makes their absence a failure instead of a skip.
"""

from __future__ import annotations

import os
import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("MTXMONITOR_REQUIRE_SERVICES") == "1"


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    vendor = db["ENGINE"].rsplit(".", 1)[-1]
    where = (
        f"{db.get('HOST') or 'local'}:{db.get('PORT') or '-'}"
        if vendor != "sqlite3"
        else db["NAME"]
    )
    broker = settings.REDIS_URL or "none (embedded filesystem queue; worker tests skipped)"
    return [f"mtxmonitor database: {vendor} ({where})", f"mtxmonitor Celery broker: {broker}"]


def pytest_sessionstart(session):
    if REQUIRE_SERVICES:
        engine = settings.DATABASES["default"]["ENGINE"]
        problems = []
        if "postgresql" not in engine:
            problems.append(f"database is {engine}, not PostgreSQL")
        if not settings.REDIS_URL:
            problems.append("REDIS_URL is not set")
        if problems:
            pytest.exit("MTXMONITOR_REQUIRE_SERVICES=1 but " + "; ".join(problems), returncode=3)


def require_redis() -> None:
    if not settings.REDIS_URL:
        if REQUIRE_SERVICES:
            pytest.fail("REDIS_URL is required (MTXMONITOR_REQUIRE_SERVICES=1)")
        pytest.skip("needs Redis: set REDIS_URL (CI does)")


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker in a thread, consuming through Redis on a queue of its own.

    Uses transactional_db because the worker's thread has its own database connection and must
    see committed rows (Django's TestCase transaction would hide them).
    """
    require_redis()
    from celery.contrib.testing.worker import start_worker

    from mtxmonitor.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    old_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False
    try:
        with start_worker(
            app, pool="solo", queues=[queue], perform_ping_check=False, shutdown_timeout=30
        ) as worker:
            yield worker
    finally:
        app.conf.task_default_queue = old_queue


# --- The cast ----------------------------------------------------------------------------
@pytest.fixture
def clinic(db):
    from patients.models import Clinic

    return Clinic.objects.create(
        name="Northside Dermatology", time_zone="Europe/London", contact_email="derm@example.org"
    )


@pytest.fixture
def other_clinic(db):
    from patients.models import Clinic

    return Clinic.objects.create(
        name="Eastside Rheumatology",
        time_zone="America/New_York",
        contact_email="rheum@example.org",
    )


def make_member(clinic, username: str, role: str, *, staff: bool = True):
    from django.contrib.auth import get_user_model

    from patients.models import StaffMembership

    user = get_user_model().objects.create_user(
        username=username,
        password="pw-for-tests-only",
        email=f"{username}@example.org",
        is_staff=staff,
        first_name=username.capitalize(),
    )
    StaffMembership.objects.create(user=user, clinic=clinic, role=role)
    return user


@pytest.fixture
def alice(clinic):
    """Alice, a clinician at Northside."""
    return make_member(clinic, "alice", "clinician")


@pytest.fixture
def nina(clinic):
    """Nina, a nurse at Northside."""
    return make_member(clinic, "nina", "nurse")


@pytest.fixture
def bob(other_clinic):
    """Bob, a clinician at Eastside (another clinic)."""
    return make_member(other_clinic, "bob", "clinician")


@pytest.fixture
def patient(clinic, nina):
    """Pat, an adult with dermatomyositis at Northside, Nina's patient."""
    from patients.models import Patient

    return Patient.objects.create(
        clinic=clinic,
        mrn="N-0001",
        given_name="Pat",
        family_name="Example",
        birth_date=date(1970, 5, 17),
        sex="female",
        diagnosis="dermatomyositis",
        risk_factors=[],
        responsible_nurse=nina.membership,
    )


@pytest.fixture
def toddler(clinic, nina):
    """Toby, 2 years old with atopic dermatitis at Northside."""
    from patients.models import Measurement, Patient

    p = Patient.objects.create(
        clinic=clinic,
        mrn="N-0002",
        given_name="Toby",
        family_name="Sample",
        birth_date=date.today().replace(year=date.today().year - 2, day=1),
        sex="male",
        diagnosis="atopic_dermatitis",
        risk_factors=[],
        responsible_nurse=nina.membership,
    )
    Measurement.objects.create(
        patient=p, measured_on=date.today(), weight_kg=Decimal("12.5"), height_cm=Decimal("88")
    )
    return p


@pytest.fixture
def other_patient(other_clinic):
    from patients.models import Patient

    return Patient.objects.create(
        clinic=other_clinic,
        mrn="E-0001",
        given_name="Olga",
        family_name="Other",
        birth_date=date(1980, 1, 2),
        sex="female",
        diagnosis="rheumatoid_arthritis",
    )
