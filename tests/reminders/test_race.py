"""Races judged by the database's clock (issue 14, defect 4).

Three `manage.py sweep_reminders` PROCESSES run at once against one database and a real SMTP
server on loopback that takes a moment to accept each message; one of them runs on a clock 15
minutes ahead (time-machine, as on a host whose clock is off by more than the stuck-claim
timeout) and one replays an instant 15 minutes ahead with --now. Each digest is e-mailed
exactly once: a claim's age is judged by the database's clock, so no process can release a
row another is sending.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from schedules.models import Notification
from tests.conftest import make_member
from tests.reminders.conftest import Inbox, SmtpServer, make_event, make_patient

ROOT = Path(__file__).resolve().parents[2]
NURSES = 6

CHILD = """
import os, sys, time, datetime
skew = int(os.environ["SKEW_MINUTES"])
if skew:
    import time_machine
    time_machine.travel(
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=skew)
    ).start()
import django
django.setup()
from django.core.management import call_command
open(os.environ["READY"], "w").close()
while not os.path.exists(os.environ["GO"]):
    time.sleep(0.01)
args = sys.argv[1:]
call_command("sweep_reminders", *args)
"""


class SlowInbox(Inbox):
    """Accepts each message after 0.4 s: sends overlap, as they do with a real relay."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.4)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp():
    server = SmtpServer()
    server.inbox = SlowInbox()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_three_sweeps_at_once_one_on_a_skewed_clock_send_each_digest_once(
    clinic, slow_smtp, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("several processes need the test database on PostgreSQL")
    clinic.reminder_hour = 0  # past the send hour whenever the test runs
    clinic.save()
    today = clinic.today()
    for i in range(NURSES):
        nurse = make_member(clinic, f"nurse{i}", "nurse")
        make_event(make_patient(clinic, f"R-{i}", nurse), today)

    db = connection.settings_dict
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "mtxmonitor.settings",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(slow_smtp.port),
        "EMAIL_USE_TLS": "0",
        "DEFAULT_FROM_EMAIL": "mtxmonitor <reminders@mtxmonitor.test>",
        "MTXMONITOR_NOTIFICATION_SENDING_TIMEOUT_SECONDS": "600",
        "GO": str(tmp_path / "go"),
    }
    ahead = (timezone.now() + timedelta(minutes=15)).isoformat()
    runs = [("plain", 0, []), ("skewed-clock", 15, []), ("replay", 0, ["--now", ahead])]
    procs = []
    for name, skew, args in runs:
        child_env = env | {"SKEW_MINUTES": str(skew), "READY": str(tmp_path / f"ready-{name}")}
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
        procs.append(
            (
                name,
                log,
                subprocess.Popen(
                    [sys.executable, "-c", CHILD, *args],
                    cwd=ROOT,
                    env=child_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
            )
        )
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{name}").exists() for name, _, _ in runs):
        assert time.monotonic() < deadline, "the sweep processes did not start"
        time.sleep(0.05)
    (tmp_path / "go").touch()  # all three at once
    for name, log, proc in procs:
        assert proc.wait(120) == 0, (tmp_path / f"{name}.log").read_text()
        log.close()

    digests = Notification.objects.filter(kind="digest")
    assert digests.count() == NURSES
    assert set(digests.values_list("state", flat=True)) == {"sent"}
    recipients = sorted(m["X-Envelope-To"] for m in slow_smtp.messages)
    assert recipients == sorted(f"nurse{i}@example.org" for i in range(NURSES)), recipients
    assert len({m["Message-ID"] for m in slow_smtp.messages}) == NURSES
