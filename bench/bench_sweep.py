"""Benchmark: one full reminder sweep over 100,000 patients with a year of monitoring events.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mtxmonitor_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 DJANGO_SECRET_KEY=bench \\
        .venv/bin/python bench/bench_sweep.py [--patients 100000] [--reseed] [--mode worker|inline]

Not a CI test (issue #5: speed targets live here). It needs PostgreSQL and, for the default
`--mode worker`, Redis; it refuses a database whose name does not contain "bench", because it
empties the reminder tables and rewrites event statuses.

1. Seed (only when the patient count differs, or with --reseed), with COPY: 20 clinics in five
   time zones, 10 nurses each, the patients (1 % without a nurse), and for each patient a year of
   events every 6 weeks (a 2-week window): past ones done except for 5 % of patients, whose last
   one was missed; current and future ones "planned", as the planner writes them.
2. Reset: no reminders or notifications, every open event back to "planned".
3. In a fresh process (so the peak memory is the sweep's, not the seeding's): a loopback SMTP
   sink, ONE Celery worker (solo pool, consuming from Redis), then `sweep_reminders` is queued
   and timed until the last chunk and the last e-mail are done. Printed: wall time, queries
   (every statement the process sent, worker included), peak RSS, what the sweep did. Then a
   second sweep (steady state: nothing new) is timed the same way.

Targets: full sweep ≤ 30 s, peak memory ≤ 300 MB, on the 2-core machine with one worker.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mtxmonitor.settings")

CLINICS = 20
NURSES_PER_CLINIC = 10
ZONES = [
    "Europe/London",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "America/Los_Angeles",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--mode", choices=["worker", "inline"], default="worker")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or "bench" not in url.rsplit("/", 1)[-1]:
        sys.exit("DATABASE_URL must point at a PostgreSQL database whose name contains 'bench'.")
    if args.mode == "worker" and not os.environ.get("REDIS_URL"):
        sys.exit("--mode worker needs REDIS_URL (or use --mode inline).")
    if args.run:
        run(args)
        return
    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seed(args.patients, force=args.reseed)
    reset()
    child = [
        sys.executable,
        __file__,
        "--run",
        "--mode",
        args.mode,
        "--patients",
        str(args.patients),
    ]
    if args.chunk_size:
        child += ["--chunk-size", str(args.chunk_size)]
    subprocess.run(child, check=True)


# --- Database ---------------------------------------------------------------------------------
def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def seed(patients: int, *, force: bool) -> None:
    from datetime import date, timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from patients.models import Clinic, Patient, StaffMembership

    if not force and Patient.objects.count() == patients:
        print(f"seed: {patients:,} patients already there (--reseed to rebuild)")
        return
    t0 = time.monotonic()
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE schedules_notification_events, schedules_reminder, schedules_notification, "
            "schedules_monitoringevent, patients_patient, patients_staffmembership, "
            "patients_clinic, auth_user CASCADE"
        )
    User = get_user_model()
    with transaction.atomic():
        clinics = Clinic.objects.bulk_create(
            [
                Clinic(
                    name=f"Bench clinic {i:02d}",
                    time_zone=ZONES[i % len(ZONES)],
                    contact_email=f"clinic{i:02d}@bench.test",
                    reminder_hour=0,
                )
                for i in range(CLINICS)
            ]
        )
        users = User.objects.bulk_create(
            [
                User(
                    username=f"nurse{c:02d}-{n}",
                    email=f"nurse{c:02d}-{n}@bench.test",
                    first_name="Nurse",
                    last_name=f"{c:02d}-{n}",
                )
                for c in range(CLINICS)
                for n in range(NURSES_PER_CLINIC)
            ]
        )
        memberships = StaffMembership.objects.bulk_create(
            [
                StaffMembership(user=u, clinic=clinics[i // NURSES_PER_CLINIC], role="nurse")
                for i, u in enumerate(users)
            ]
        )
    today = date.today()
    raw = connection.connection  # psycopg 3, for COPY
    with raw.cursor() as cur:
        with cur.copy(
            "COPY patients_patient (clinic_id, mrn, given_name, family_name, birth_date, sex, "
            "diagnosis, risk_factors, responsible_nurse_id, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(patients):
                c = i % CLINICS
                nurse = (
                    None
                    if i % 100 == 99
                    else memberships[c * NURSES_PER_CLINIC + (i // CLINICS) % NURSES_PER_CLINIC].id
                )
                copy.write_row(
                    (
                        clinics[c].id,
                        f"B{i:07d}",
                        "Bench",
                        f"Patient{i}",
                        date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                        "female",
                        "psoriasis",
                        "[]",
                        nurse,
                        "now",
                        "now",
                    )
                )
        raw.commit()
        cur.execute("SELECT id FROM patients_patient ORDER BY id")
        ids = [r[0] for r in cur.fetchall()]
        events = 0
        with cur.copy(
            "COPY schedules_monitoringevent (patient_id, drug, key, kind, tests, earliest, "
            "target, latest, status, completed_on, phase, interval_days, explanation, protocol, "
            "source, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n, pid in enumerate(ids):
                start = today - timedelta(days=182 - n % 42)
                missed = (n // CLINICS) % 20 == 0  # this patient's last past draw was missed
                targets = [start + timedelta(days=42 * k) for k in range(9)]
                past = [t for t in targets if t + timedelta(days=7) < today]
                for t in targets:
                    done = t + timedelta(days=7) < today and not (missed and t == past[-1])
                    copy.write_row(
                        (
                            pid,
                            "methotrexate",
                            f"bench:{t.isoformat()}",
                            "routine",
                            '["alt", "creatinine", "wbc"]',
                            t - timedelta(days=7),
                            t,
                            t + timedelta(days=7),
                            "done" if done else "planned",
                            t if done else None,
                            "maintenance",
                            42,
                            "Routine methotrexate monitoring every 6 weeks (bench data).",
                            "",
                            "",
                            "now",
                            "now",
                        )
                    )
                    events += 1
        raw.commit()
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(
        f"seed: {CLINICS} clinics, {len(users)} nurses, {patients:,} patients, "
        f"{events:,} events in {time.monotonic() - t0:.1f} s"
    )


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE schedules_notification_events, schedules_reminder, schedules_notification"
        )
        cur.execute(
            "UPDATE schedules_monitoringevent SET status = 'planned' "
            "WHERE status IN ('upcoming', 'due', 'overdue')"
        )
        cur.execute("VACUUM ANALYZE schedules_monitoringevent")


# --- The timed run (a fresh process) --------------------------------------------------------------
def run(args) -> None:
    import resource
    import socket
    import threading
    import uuid

    import django

    django.setup()
    from aiosmtpd.controller import Controller
    from django.conf import settings
    from django.db import connection
    from django.db.backends.signals import connection_created

    queries = [0]
    lock = threading.Lock()

    def count(execute, sql, params, many, context):
        with lock:
            queries[0] += 1
        return execute(sql, params, many, context)

    def instrument(sender, connection, **kwargs):
        if count not in connection.execute_wrappers:  # the same wrapper object reconnects
            connection.execute_wrappers.append(count)

    connection_created.connect(instrument, weak=False)
    connection.ensure_connection()
    if count not in connection.execute_wrappers:
        connection.execute_wrappers.append(count)

    class Sink:
        received = 0

        async def handle_DATA(self, server, session, envelope):
            Sink.received += 1
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    if args.chunk_size:
        settings.MTXMONITOR_REMINDER_CHUNK_SIZE = args.chunk_size

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.mode == "inline":
        timings = [timed_inline(queries) for _ in range(2)]
    else:
        from celery.contrib.testing.worker import start_worker

        from mtxmonitor.celery import app

        app.conf.task_default_queue = f"bench-{uuid.uuid4().hex[:8]}"
        with start_worker(
            app,
            pool="solo",
            queues=[app.conf.task_default_queue],
            perform_ping_check=False,
            shutdown_timeout=60,
        ):
            timings = [timed_worker(queries) for _ in range(2)]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    smtp.stop()
    report(args, timings, Sink.received, rss_before, peak)


def timed_inline(queries) -> tuple[float, int, int]:
    from io import StringIO

    from django.core.management import call_command

    q0, t0 = queries[0], time.monotonic()
    call_command("sweep_reminders", stdout=StringIO())
    return time.monotonic() - t0, queries[0] - q0, 0


def timed_worker(queries) -> tuple[float, int, int]:
    """Queue the beat task; done when every task it caused has finished (tracked by signals)."""
    import threading

    from celery.signals import after_task_publish, task_postrun

    from schedules.reminder_tasks import sweep_reminders

    published, finished, last = set(), set(), [0.0]
    lock = threading.Lock()

    def on_publish(sender=None, headers=None, **kwargs):
        with lock:
            published.add(headers["id"])

    def on_postrun(task_id=None, **kwargs):
        with lock:
            finished.add(task_id)
            last[0] = time.monotonic()

    after_task_publish.connect(on_publish, weak=False)
    task_postrun.connect(on_postrun, weak=False)
    try:
        q0, t0 = queries[0], time.monotonic()
        sweep_reminders.delay()
        quiet = None
        while True:
            time.sleep(0.05)
            with lock:
                busy = bool(published - finished)
            if busy:
                quiet = None
            elif quiet is None:
                quiet = time.monotonic()
            elif time.monotonic() - quiet > 1.0:
                break
        return last[0] - t0, queries[0] - q0, len(published)
    finally:
        after_task_publish.disconnect(on_publish)
        task_postrun.disconnect(on_postrun)


def report(args, timings, emails, rss_before, peak) -> None:
    from django.db.models import Count

    from patients.models import Patient
    from schedules.models import MonitoringEvent, Notification, Reminder

    statuses = dict(MonitoringEvent.objects.values_list("status").annotate(n=Count("id")))
    phases = dict(Reminder.objects.values_list("phase").annotate(n=Count("id")))
    kinds = dict(Notification.objects.values_list("kind").annotate(n=Count("id")))
    states = dict(Notification.objects.values_list("state").annotate(n=Count("id")))
    (first, q1, tasks1), (second, q2, tasks2) = timings
    print(f"patients {Patient.objects.count():,}; events {sum(statuses.values()):,} {statuses}")
    print(f"reminders {sum(phases.values()):,} {phases}")
    print(f"notifications {kinds} {states}; e-mails received by the SMTP sink: {emails}")
    print(
        f"mode: {args.mode}"
        + (
            " (one Celery worker, solo pool, Redis)"
            if args.mode == "worker"
            else " (manage.py sweep_reminders, no worker)"
        )
    )
    print(f"first sweep:  {first:6.2f} s, {q1:,} queries" + (f", {tasks1} tasks" if tasks1 else ""))
    print(
        f"second sweep: {second:6.2f} s, {q2:,} queries (steady state: nothing new)"
        + (f", {tasks2} tasks" if tasks2 else "")
    )
    print(f"peak RSS: {peak:.0f} MB (Django + worker + SMTP sink; {rss_before:.0f} MB before)")


if __name__ == "__main__":
    main()
