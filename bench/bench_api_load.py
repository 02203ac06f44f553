"""Benchmark: the plan and alert-list endpoints under 50 concurrent connections (gunicorn + wrk).

    apt-get install -y wrk                 # Debian's wrk (once)
    .venv/bin/python bench/bench_api_load.py
    .venv/bin/python bench/bench_api_load.py --connections 50 --duration 30 --web-workers 4

Needs PostgreSQL and Redis on this machine. Uses a database of its own (dropped and re-created:
default `mtxmonitor_bench_api`) and Redis database /13 (throttle counters), seeds one clinic with
`--patients` patients on methotrexate (plans synced by the planner, lab results, open alerts
with the results behind them), starts gunicorn, and runs wrk (closed loop: each connection sends
its next request when the previous answer arrives) against:

- GET /api/v1/patients/{id}/plan/ — rotating over every patient;
- GET /api/v1/alerts/?status=open — the clinic's open alerts, 50 a page, with their results.

Every request is authenticated with a token and passes through the per-token throttle (its rate
raised so that it counts but never refuses). First, in this process and before any server
starts, the cost of one request of each endpoint: `--inprocess-requests` requests through
Django's WSGI handler (middleware, auth, throttle, query, JSON; no HTTP, no other load), the
median wall time and the median CPU time of this process, and the mean CPU time of the
PostgreSQL backend that served them (from /proc/<pid>/schedstat). Then, under wrk, each
endpoint saturated (each connection sends its next request as soon as the answer arrives) and
paced (`--think-ms` after each answer: busy users), with
requests/s and the latency percentiles. Target (issue #6): p99 <= 50 ms paced.

`--proxy` puts nginx in front of gunicorn, with the server block docker-compose uses
(deploy/nginx/mtxmonitor.conf, via deploy/nginx/run_local.py; Debian: `apt-get install -y nginx`).

The machine's load average is printed before each phase: wrk numbers taken while another job
runs on the same cores (a benchmark, a test run) are not comparable - rerun.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mtxmonitor_bench_api"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"


def environment(args) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY", "bench-only-not-secret"),
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MTXMONITOR_API_RATE": "100000000/min",
            "DJANGO_LOG_LEVEL": "WARNING",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "CELERY_TASK_ALWAYS_EAGER": "1",
        }
    )
    return env


def recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed(n_patients: int) -> tuple[str, list[int]]:
    """A clinic, a nurse's token, patients on methotrexate with plans, results and alerts."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from api.models import ApiToken
    from patients.models import Clinic, LabResult, Patient, Prescription, StaffMembership
    from schedules.models import Alert
    from schedules.services import sync_plan

    clinic = Clinic.objects.create(
        name="Bench Dermatology", time_zone="Europe/London", contact_email="bench@example.org"
    )
    nurse = get_user_model().objects.create_user("bench-nurse")
    StaffMembership.objects.create(user=nurse, clinic=clinic, role="nurse")
    token = ApiToken.issue(nurse)[1]
    patients = Patient.objects.bulk_create(
        [
            Patient(
                clinic=clinic,
                mrn=f"L-{i:06d}",
                given_name="Load",
                family_name=f"Patient {i}",
                birth_date=date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                sex="female" if i % 2 else "male",
                diagnosis="psoriasis",
            )
            for i in range(n_patients)
        ],
        batch_size=2000,
    )
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
                start_date=date.today() - timedelta(days=30 + p.pk % 300),
            )
            for p in patients
        ],
        batch_size=2000,
    )
    when = timezone.now() - timedelta(days=2)
    labs = LabResult.objects.bulk_create(
        [
            LabResult(
                patient=p,
                clinic=clinic,
                analyte=analyte,
                reported_value=value,
                reported_unit=unit,
                value=Decimal(value),
                unit=unit,
                evaluable=True,
                collected_at=when,
                accession=f"L-{p.pk}-{analyte}",
                reference_high=Decimal("40") if analyte == "alt" else None,
                evaluated_version=1,
            )
            for p in patients
            for analyte, value, unit in (
                ("alt", "150" if p.pk % 5 == 0 else "25", "U/L"),
                ("wbc", "6.0", "10*9/L"),
            )
        ],
        batch_size=2000,
    )
    alerts = Alert.objects.bulk_create(
        [
            Alert(
                patient_id=lab.patient_id,
                clinic=clinic,
                lab_result=lab,
                result_version=1,
                rule="LIVER_GT_3X_ULN",
                severity="critical",
                message=f"ALT {lab.reported_value} U/L is above 3 × ULN (40 U/L).",
                action="Withhold methotrexate; repeat ALT and AST within 7 days.",
                source="EULAR/3E 2009, rec 5",
            )
            for lab in labs
            if lab.analyte == "alt" and lab.reported_value == "150"
        ],
        batch_size=2000,
    )
    through = Alert.related_results.through
    through.objects.bulk_create(
        [through(alert_id=a.pk, labresult_id=a.lab_result_id) for a in alerts], batch_size=2000
    )
    for p in patients:
        sync_plan(p.pk)
    return token, [p.pk for p in patients]


LUA = """
%(delay)s
local ids = {%(ids)s}
local i = 0
request = function()
  i = i + 1
  local path = %(path)s
  return wrk.format("GET", path, {["Authorization"] = "Token %(token)s"})
end
"""


def run_wrk(base: str, token: str, path_expr: str, ids: list[int], args) -> dict:
    think = getattr(args, "think_ms", 0)
    script = LUA % {
        "ids": ",".join(map(str, ids)),
        "path": path_expr,
        "token": token,
        # wrk waits this long after each answer before the connection's next request: always
        # `think` ms, or (--random-think) a uniform draw from 0 to twice it (the same mean).
        "delay": (
            f"delay = function() return math.random(0, {2 * think}) end"
            if think and getattr(args, "random_think", False)
            else f"delay = function() return {think} end"
            if think
            else ""
        ),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cmd = [
        "wrk",
        "-t",
        str(args.threads),
        "-c",
        str(args.connections),
        "-d",
        f"{args.duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        f.name,
        base,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": ms("50%"),
        "p90": ms("90%"),
        "p99": ms("99%"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "none",
    }


def _cpu_ns(pid: int) -> int | None:
    """CPU time a process has run, in ns (Linux /proc/<pid>/schedstat; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except OSError:
        return None


def in_process_cost(token: str, ids: list[int], n: int) -> dict[str, tuple[float, ...]]:
    """Per request of each endpoint through Django's WSGI handler here: the median wall and CPU
    ms of this process, and the mean CPU ms of the PostgreSQL backend serving it (nan if /proc
    cannot tell)."""
    from django.db import connection

    from mtxmonitor.wsgi import application

    def get(path: str, query: str = "") -> None:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Token {token}",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        status = []
        body = b"".join(application(environ, lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200") or not body:
            raise SystemExit(f"in-process GET {path}?{query}: {status[0]}")

    endpoints = {
        "GET /patients/{id}/plan/": lambda i: get(f"/api/v1/patients/{ids[i % len(ids)]}/plan/"),
        "GET /alerts/?status=open": lambda i: get("/api/v1/alerts/", "status=open"),
    }
    out = {}
    for label, request in endpoints.items():
        for i in range(min(50, n)):  # warm-up: connections, caches, first-use imports
            request(i)
        wall, cpu = [], []
        backend = connection.connection.info.backend_pid  # the same one throughout (persistent)
        db_before = _cpu_ns(backend)
        for i in range(n):
            w, c = time.perf_counter(), time.process_time()
            request(i)
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        db_after = _cpu_ns(backend)
        db = (
            (db_after - db_before) / n / 1e6
            if db_before is not None
            and db_after is not None
            and connection.connection.info.backend_pid == backend
            else float("nan")
        )
        out[label] = (statistics.median(wall) * 1000, statistics.median(cpu) * 1000, db)
    return out


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def load_nginx_helper():
    """deploy/nginx/run_local.py, which runs docker-compose's nginx server block here."""
    import importlib.util

    path = ROOT / "deploy" / "nginx" / "run_local.py"
    spec = importlib.util.spec_from_file_location("nginx_run_local", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--duration", type=int, default=30, help="seconds per endpoint")
    ap.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes")
    ap.add_argument("--web-threads", type=int, default=1, help="threads per gunicorn worker")
    ap.add_argument("--port", type=int, default=8766)
    ap.add_argument(
        "--proxy",
        action="store_true",
        help="put nginx (deploy/nginx/mtxmonitor.conf, as in docker-compose) on --port in front "
        "of gunicorn (on --port + 1)",
    )
    ap.add_argument(
        "--think-ms",
        type=int,
        default=250,
        help="paced run: each connection waits this long after an answer (0: skip the run)",
    )
    ap.add_argument(
        "--random-think",
        action="store_true",
        help="paced run: each think time drawn uniformly from 0 to twice --think-ms",
    )
    ap.add_argument(
        "--inprocess-requests",
        type=int,
        default=500,
        help="requests per endpoint for the in-process cost (0: skip)",
    )
    ap.add_argument("--database-url", default=os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_DB))
    ap.add_argument("--redis-url", default=os.environ.get("BENCH_API_REDIS_URL", DEFAULT_REDIS))
    args = ap.parse_args()

    env = environment(args)
    print(f"Database {args.database_url} (re-created), throttle cache {args.redis_url}", flush=True)
    recreate_database(args.database_url)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mtxmonitor.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    token, ids = seed(args.patients)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE")  # planner statistics, as autovacuum keeps them in production
    from schedules.models import Alert, MonitoringEvent

    print(
        f"Seeded {len(ids):,} patients, {MonitoringEvent.objects.count():,} monitoring events, "
        f"{Alert.objects.count():,} open alerts in {time.perf_counter() - t0:.0f} s.",
        flush=True,
    )

    if args.inprocess_requests:
        print(
            f"In-process cost, {args.inprocess_requests} requests each through Django's WSGI "
            f"handler ({load_average()}):",
            flush=True,
        )
        print(f"  {'endpoint':30} {'wall ms':>8} {'cpu ms':>8} {'db cpu ms':>10}")
        for label, (wall, cpu, db) in in_process_cost(token, ids, args.inprocess_requests).items():
            print(f"  {label:30} {wall:8.2f} {cpu:8.2f} {db:10.2f}", flush=True)
        print("  (wall and cpu: medians, this process; db cpu: mean, its PostgreSQL backend)")
    connection.close()  # gunicorn's workers open their own

    base = f"http://127.0.0.1:{args.port}"
    web_port = args.port + 1 if args.proxy else args.port
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "mtxmonitor.wsgi",
        "--workers",
        str(args.web_workers),
        "--threads",
        str(args.web_threads),
        "--bind",
        f"127.0.0.1:{web_port}",
        "--log-level",
        "warning",
        "--backlog",
        "2048",
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    proxy = None
    try:
        import requests

        if args.proxy:
            nginx = load_nginx_helper()
            proxy_dir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
            proxy = nginx.start(proxy_dir, args.port, f"127.0.0.1:{web_port}")

        for _ in range(100):
            try:
                r = requests.get(
                    f"{base}/api/v1/alerts/?status=open",
                    headers={"Authorization": f"Token {token}"},
                    timeout=5,
                )
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        else:
            raise SystemExit("gunicorn did not come up")
        print(
            ("nginx (1 worker) in front of " if args.proxy else "")
            + f"gunicorn: {args.web_workers} workers × {args.web_threads} thread(s); wrk: "
            f"{args.connections} connections, {args.threads} threads, {args.duration} s each "
            f"({load_average()})",
            flush=True,
        )
        path_plan = '"/api/v1/patients/" .. ids[(i % #ids) + 1] .. "/plan/"'
        targets = [
            ("GET /patients/{id}/plan/", path_plan),
            ("GET /alerts/?status=open", '"/api/v1/alerts/?status=open"'),
        ]
        worst = worst_saturated = 0.0

        def show(label: str, res: dict) -> None:
            print(
                f"{label:48} {res['rps']:8.0f} {res['p50']:8.1f} {res['p90']:8.1f} "
                f"{res['p99']:8.1f}  {res['non2xx']} (socket errors: {res['socket_errors']})",
                flush=True,
            )

        print(f"{'run':48} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  non-2xx")
        saturated = argparse.Namespace(**{**vars(args), "think_ms": 0})
        for label, path in targets:
            # A short warm-up (connections, caches), then the measured runs.
            run_wrk(
                base, token, path, ids, argparse.Namespace(**{**vars(saturated), "duration": 3})
            )
            res = run_wrk(base, token, path, ids, saturated)
            worst_saturated = max(worst_saturated, res["p99"])
            show(f"{label} saturated", res)
            if args.think_ms:
                res = run_wrk(base, token, path, ids, args)
                worst = max(worst, res["p99"])
                think = f"0-{2 * args.think_ms}" if args.random_think else str(args.think_ms)
                show(f"{label} {think} ms think time", res)
        if args.think_ms:
            print(
                f"target p99 <= 50 ms with {args.connections} connections, {think} ms think "
                f"time: {'MET' if worst <= 50 else 'NOT MET'} (worst p99 {worst:.1f} ms)"
            )
        print(
            f"saturated ({args.connections} connections, no think time): worst p99 "
            f"{worst_saturated:.1f} ms; {load_average()} at the end"
        )
    finally:
        if proxy is not None:
            nginx.stop(proxy)
            shutil.rmtree(proxy_dir, ignore_errors=True)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
