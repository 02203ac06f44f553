"""Benchmark: lab results posted in batches, stored AND evaluated by the lab rules, end to end.

    .venv/bin/python bench/bench_ingest.py                      # 100,000 results, 10,000 patients
    .venv/bin/python bench/bench_ingest.py --results 20000 --patients 2000   # a quicker look

Needs PostgreSQL and Redis on this machine (DATABASE_URL / REDIS_URL, defaults below). It uses a
database of its own (dropped and re-created: default `mtxmonitor_bench_ingest`) and a Redis database of
its own (default /12), so it cannot disturb the demo or the tests.

What it measures, on the same generated rows (10 analytes per patient, ~3 % abnormal):
1. raw: `LabResult.objects.bulk_create` of the rows (no validation, normalisation, history or
   rules) — the floor the database sets;
2. end to end: the rows POSTed to /api/v1/labs/batch/ (1,000 a request, `--clients` at once) to
   gunicorn, stored by patients.lab_batch, queued to Celery on Redis, and evaluated by the lab
   rules in `--workers` worker processes (alerts raised, plans re-synced) — timed from the first
   request until no result is left unevaluated.
It prints both rates and their ratio. Target (issue #6): >= 2,000 results/s end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from queue import Queue
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mtxmonitor_bench_ingest"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"

# analyte, unit, normal value range, abnormal value
PANEL = [
    ("ALT", "U/L", (10, 38), "160"),
    ("AST", "U/L", (12, 35), "130"),
    ("albumin", "g/L", (36, 48), "24"),
    ("creatinine", "umol/L", (60, 95), "160"),
    ("eGFR", "mL/min/{1.73_m2}", (70, 110), "42"),
    ("WBC", "10^9/L", (4.5, 9.5), "2.8"),
    ("neutrophils", "10*9/L", (2.2, 6.5), "1.1"),
    ("lymphocytes", "x10E9/L", (1.2, 3.0), "0.4"),
    ("platelets", "10*9/L", (160, 380), "95"),
    ("haemoglobin", "g/dL", (12.0, 15.5), "9.1"),
]


def environment(args) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY", "bench-only-not-secret"),
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MTXMONITOR_API_RATE": "1000000/min",
            "DJANGO_LOG_LEVEL": "WARNING",
            # Critical alerts are e-mailed at once: not to a real server from a benchmark.
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
    )
    return env


def recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mtxmonitor.settings")
    import django

    django.setup()


def seed(n_patients: int):
    from django.contrib.auth import get_user_model

    from api.models import ApiToken
    from patients.models import Clinic, Patient, Prescription, StaffMembership

    clinic = Clinic.objects.create(
        name="Bench Dermatology", time_zone="Europe/London", contact_email="bench@example.org"
    )
    user = get_user_model().objects.create_user("bench-lis")
    StaffMembership.objects.create(user=user, clinic=clinic, role="integration")
    token = ApiToken.issue(user)[1]
    rng = random.Random(6)
    patients = Patient.objects.bulk_create(
        [
            Patient(
                clinic=clinic,
                mrn=f"B-{i:06d}",
                given_name="Bench",
                family_name=f"Patient {i}",
                birth_date=date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                sex=rng.choice(["female", "male"]),
                diagnosis=rng.choice(["psoriasis", "atopic_dermatitis", "rheumatoid_arthritis"]),
            )
            for i in range(n_patients)
        ],
        batch_size=2000,
    )
    start = date.today() - timedelta(days=120)
    Prescription.objects.bulk_create(
        [
            Prescription(
                patient=p,
                drug="methotrexate",
                dose_mg=Decimal("15"),
                frequency="once_weekly",
                weekday="monday",
                route="oral",
                formulation="tablet_2.5mg",
                start_date=start,
            )
            for p in patients
        ],
        batch_size=2000,
    )
    return clinic, token, [p.pk for p in patients]


def plan_all(patient_ids: list[int]) -> None:
    """Give every patient the monitoring plan a clinic's patients have (baseline work-up and
    routine draws from the prescription), as prescribing through the service would: the timed
    run then measures what a day's results do to existing plans."""
    from django.db import transaction

    from patients.models import Patient
    from schedules.services import sync_plans

    for start in range(0, len(patient_ids), 500):
        with transaction.atomic():
            patients = list(
                Patient.objects.select_related("clinic").filter(
                    pk__in=patient_ids[start : start + 500]
                )
            )
            sync_plans(patients)


def rows(patient_ids: list[int], n_results: int, clinic_tz: str) -> list[dict]:
    rng = random.Random(42)
    # Yesterday's morning draws: always in the past (the API refuses a collection time in the
    # future, which today's 08:00 is when the bench runs before it).
    morning = datetime.combine(
        date.today() - timedelta(days=1), datetime.min.time(), ZoneInfo(clinic_tz)
    ).replace(hour=8)
    out = []
    per_patient = max(1, n_results // len(patient_ids))
    for n, pid in enumerate(patient_ids):
        for k in range(per_patient):
            analyte, unit, (lo, hi), abnormal = PANEL[k % len(PANEL)]
            value = abnormal if rng.random() < 0.03 else f"{rng.uniform(lo, hi):.1f}"
            out.append(
                {
                    "patient": pid,
                    "analyte": analyte,
                    "value": value,
                    "unit": unit,
                    "collected_at": (morning + timedelta(minutes=k)).isoformat(),
                    "accession": f"BENCH-{n:06d}-{k:02d}",
                    **({"reference_high": 40} if analyte in ("ALT", "AST") else {}),
                }
            )
            if len(out) == n_results:
                return out
    return out


def raw_bulk_create(clinic_id: int, items: list[dict]) -> float:
    from django.db import connection, transaction
    from django.utils.dateparse import parse_datetime

    from clinical.units import resolve_analyte
    from patients.models import LabResult

    t0 = time.perf_counter()
    objs = [
        LabResult(
            patient_id=i["patient"],
            clinic_id=clinic_id,
            analyte=resolve_analyte(i["analyte"], None).value,
            reported_value=i["value"],
            reported_unit=i["unit"],
            collected_at=parse_datetime(i["collected_at"]),
            accession=i["accession"],
            reference_high=i.get("reference_high"),
            source="bench-raw",
        )
        for i in items
    ]
    with transaction.atomic():
        LabResult.objects.bulk_create(objs, batch_size=1000)
    elapsed = time.perf_counter() - t0
    with connection.cursor() as cur:
        cur.execute("TRUNCATE patients_labresult, patients_historicallabresult CASCADE")
    return elapsed


def wait_http(url: str, token: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(url, headers={"Authorization": f"Token {token}"}, timeout=2)
            if r.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not come up")


def post_batches(base: str, token: str, items: list[dict], batch: int, clients: int) -> dict:
    import requests

    queue: Queue = Queue()
    for start in range(0, len(items), batch):
        queue.put(items[start : start + batch])
    summary = {"created": 0, "replayed": 0, "amended": 0, "rejected": 0}
    lock = threading.Lock()
    errors: list[str] = []
    rejected: list[dict] = []

    def client() -> None:
        s = requests.Session()
        s.headers.update({"Authorization": f"Token {token}", "Content-Type": "application/json"})
        while True:
            try:
                chunk = queue.get_nowait()
            except Exception:
                return
            r = s.post(f"{base}/api/v1/labs/batch/", data=json.dumps({"results": chunk}))
            if r.status_code != 200:
                errors.append(f"{r.status_code}: {r.text[:300]}")
                continue
            body = r.json()
            with lock:
                for k, v in body["summary"].items():
                    summary[k] += v
                rejected.extend(x for x in body["results"] if x["outcome"] == "rejected")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} batch request(s) failed, e.g. {errors[0]}")
    if rejected:  # every generated result is valid: a rejection is a broken run, not a rate
        raise SystemExit(f"{len(rejected):,} result(s) rejected, e.g. {rejected[0]}")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--results", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=2, help="concurrent batch uploads")
    ap.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument(
        "--no-plans",
        action="store_true",
        help="do not plan the patients' monitoring before the run (every plan is then created "
        "by the evaluation, as for patients whose prescriptions were imported without plans)",
    )
    ap.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    ap.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    args = ap.parse_args()
    if "postgres" not in args.database_url:
        raise SystemExit("The benchmark runs on PostgreSQL (--database-url postgres://...).")

    env = environment(args)
    print(f"Database {args.database_url} (re-created), broker {args.redis_url}", flush=True)
    recreate_database(args.database_url)
    setup_django(env)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()

    clinic, token, patient_ids = seed(args.patients)
    if not args.no_plans:
        t = time.perf_counter()
        plan_all(patient_ids)
        print(f"planned the patients' monitoring (untimed): {time.perf_counter() - t:.1f} s")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")  # planner statistics, as autovacuum keeps them in production
    items = rows(patient_ids, args.results, clinic.time_zone)
    n = len(items)
    print(f"{len(patient_ids):,} patients on methotrexate, {n:,} results to ingest.", flush=True)

    raw_s = raw_bulk_create(clinic.pk, items)
    raw_rate = n / raw_s
    print(f"raw bulk_create:       {raw_s:8.2f} s  {raw_rate:10,.0f} results/s", flush=True)

    procs = []
    base = f"http://127.0.0.1:{args.port}"
    try:
        bin_dir = Path(sys.executable).parent
        worker_env, celery_app = dict(env), "mtxmonitor"
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "celery"),
                    "-A",
                    celery_app,
                    "worker",
                    "--concurrency",
                    str(args.workers),
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=worker_env,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "gunicorn"),
                    "mtxmonitor.wsgi",
                    "--workers",
                    str(args.web_workers),
                    "--bind",
                    f"127.0.0.1:{args.port}",
                    "--log-level",
                    "warning",
                    "--timeout",
                    "120",
                ],
                cwd=ROOT,
                env=env,
            )
        )
        wait_http(f"{base}/api/v1/patients/?page_size=1", token)
        time.sleep(3)  # let the Celery worker connect

        from patients.models import LabResult

        t0 = time.perf_counter()
        summary = post_batches(base, token, items, args.batch, args.clients)
        stored_s = time.perf_counter() - t0
        print(
            f"stored (HTTP + lab_batch): {stored_s:6.2f} s  {n / stored_s:10,.0f} results/s"
            f"  {summary}",
            flush=True,
        )
        pending = n
        while pending:
            pending = LabResult.objects.filter(evaluated_version__isnull=True).count()
            if pending:
                time.sleep(0.5)
            if time.perf_counter() - t0 > 3600:
                raise SystemExit(f"gave up: {pending:,} results still unevaluated after an hour")
        e2e_s = time.perf_counter() - t0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    e2e_rate = n / e2e_s
    from schedules.models import Alert, MonitoringEvent

    print(f"end to end (evaluated): {e2e_s:7.2f} s  {e2e_rate:10,.0f} results/s", flush=True)
    print(
        f"ratio end to end / raw bulk_create: 1 : {raw_rate / e2e_rate:.1f} "
        f"({e2e_rate / raw_rate:.1%} of the raw insert rate)"
    )
    print(
        f"alerts raised: {Alert.objects.count():,}; monitoring events: "
        f"{MonitoringEvent.objects.count():,}"
    )
    print(f"target >= 2,000 results/s end to end: {'MET' if e2e_rate >= 2000 else 'NOT MET'}")
    connection.close()


if __name__ == "__main__":
    main()
