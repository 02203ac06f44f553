"""Benchmark: the workspace's patient chart (issue #17) with five years of monthly labs.

    .venv/bin/python bench/bench_chart.py                  # 60 months x 12 analytes = 720 results
    .venv/bin/python bench/bench_chart.py --months 120     # a longer history

Needs PostgreSQL on this machine; uses a database of its own (dropped and re-created: default
`mtxmonitor_bench_chart`). Seeds one clinic, a clinician and two patients on methotrexate with
dose changes and a hold: one with `--months` of monthly labs (the 12 analytes of the monitoring
panel, ~3 % abnormal, evaluated by the lab rules so the chart has alerts and flags), one with 10
results. Then renders /staff/patients/<id>/ for each, in-process through Django's test client
(server time: URL routing, views, queries, templates; no network or browser), `--runs` times
after two warm-up requests, and prints the median and the 90th percentile with the number of
SQL queries per render. Target: <= 300 ms for ~700 results, and a query count that does not grow
with the history (the same for 10 and 700 results).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mtxmonitor_bench_chart"

PANEL = [
    ("alt", "U/L", (10, 38), "160", "40"),
    ("ast", "U/L", (12, 35), "130", "40"),
    ("albumin", "g/L", (36, 48), "24", None),
    ("creatinine", "umol/L", (60, 95), "160", "110"),
    ("egfr", "mL/min/{1.73_m2}", (70, 110), "42", None),
    ("wbc", "10*9/L", (4.5, 9.5), "2.8", "11"),
    ("neutrophils", "10*9/L", (2.2, 6.5), "1.1", "7.5"),
    ("lymphocytes", "10*9/L", (1.2, 3.0), "0.4", "4"),
    ("eosinophils", "10*9/L", (0.1, 0.4), "0.9", "0.5"),
    ("platelets", "10*9/L", (160, 380), "95", "400"),
    ("haemoglobin", "g/L", (120, 155), "91", "160"),
    ("mcv", "fL", (82, 98), "108", "100"),
]


def recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    if "bench" not in name:
        sys.exit(f"refusing to drop {name!r}: the database name must contain 'bench'")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed(months: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from patients.models import (
        Clinic,
        LabResult,
        Measurement,
        Patient,
        Prescription,
        StaffMembership,
    )
    from patients.prescriptions import (
        prescription_change_dose,
        prescription_hold,
        prescription_restart,
    )
    from schedules.services import evaluate_results, sync_plan

    rng = random.Random(17)
    clinic = Clinic.objects.create(name="Bench Dermatology", contact_email="bench@example.org")
    user = get_user_model().objects.create_user("bench.doctor", password=None)
    StaffMembership.objects.create(user=user, clinic=clinic, role="clinician")
    now = timezone.now().replace(hour=9, minute=0, second=0, microsecond=0)
    patients = []
    for mrn, n_months, n_results in (("B-LONG", months, None), ("B-SHORT", 1, 10)):
        p = Patient.objects.create(
            clinic=clinic, mrn=mrn, given_name="Bench", family_name=mrn.title(),
            birth_date="1971-03-02", sex="female", diagnosis="dermatomyositis",
        )  # fmt: skip
        Measurement.objects.create(
            patient=p, measured_on=timezone.localdate() - timedelta(days=20),
            weight_kg=Decimal("72"), height_cm=Decimal("168"),
        )  # fmt: skip
        start = timezone.localdate() - timedelta(days=30 * n_months + 20)
        rx = Prescription.objects.create(
            patient=p, drug="methotrexate", dose_mg=Decimal("10"), frequency="once_weekly",
            weekday="monday", route="oral", formulation="tablet_2.5mg", start_date=start,
        )  # fmt: skip
        if n_months > 12:
            step = n_months * 30 // 5
            rx = prescription_change_dose(
                prescription=rx, dose_mg="15", effective_date=start + timedelta(days=step),
                reason="bench", user=user,
            ).prescription  # fmt: skip
            rx = prescription_hold(
                prescription=rx, effective_date=start + timedelta(days=2 * step),
                reason="bench", user=user,
            ).prescription  # fmt: skip
            prescription_restart(
                prescription=rx, effective_date=start + timedelta(days=2 * step + 21),
                reason="bench", user=user, dose_mg="12.5",
            )  # fmt: skip
        rows = []
        for m in range(n_months):
            at = now - timedelta(days=30 * m + 3)
            for analyte, unit, (lo, hi), abnormal, uln in PANEL:
                value = abnormal if rng.random() < 0.03 else f"{rng.uniform(lo, hi):.1f}"
                r = LabResult(
                    patient=p, clinic=clinic, analyte=analyte, reported_value=value,
                    reported_unit=unit, reference_high=Decimal(uln) if uln else None,
                    collected_at=at, accession=f"{mrn}-{m}-{analyte}", source="bench",
                )  # fmt: skip
                r.normalise()
                rows.append(r)
        if n_results:
            rows = rows[:n_results]
        LabResult.objects.bulk_create(rows, batch_size=1000)
        evaluate_results(
            [r.pk for r in LabResult.objects.filter(patient=p).order_by("collected_at")]
        )
        sync_plan(p.pk)
        patients.append(p)
    return user, patients


def measure(client, url: str, runs: int) -> tuple[list[float], list[float], int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        assert client.get(url).status_code == 200
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return times, cpu, len(ctx.captured_queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_CHART_DATABASE_URL", DEFAULT_DB)
    )
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-secret")
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)  # in-process: no broker needed
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mtxmonitor.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # ALLOWED_HOSTS for the test client; DEBUG stays off
    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    user, patients = seed(args.months)
    print(f"seeded in {time.perf_counter() - t0:.1f} s")
    client = Client()
    client.force_login(user)
    target = 300.0
    counts, medians = [], []
    for p in patients:
        n = p.lab_results.count()
        times, cpu, queries, size = measure(client, f"/staff/patients/{p.pk}/", args.runs)
        counts.append(queries)
        median, p90 = statistics.median(times), statistics.quantiles(times, n=10)[-1]
        print(
            f"{n:5d} results: median {median:6.1f} ms, p90 {p90:6.1f} ms "
            f"(Django process CPU median {statistics.median(cpu):6.1f} ms), "
            f"{queries} queries, {size / 1024:.0f} KiB HTML ({args.runs} runs)"
        )
        medians.append(median)
    print(
        f"target <= {target:.0f} ms at ~700 results: {'MET' if medians[0] <= target else 'NOT MET'}"
    )
    print(
        "query count bounded (same for both): "
        + ("yes" if len(set(counts)) == 1 else f"NO {counts}")
    )


if __name__ == "__main__":
    main()
