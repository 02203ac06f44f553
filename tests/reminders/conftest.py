"""Reminder fixtures: a real SMTP server on 127.0.0.1 (aiosmtpd), a tracker that knows when the
real Celery worker has nothing left to do, and small builders for monitoring events."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from datetime import date, datetime, timedelta
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import make_member


# --- SMTP ---------------------------------------------------------------------------------------
class Inbox:
    """aiosmtpd handler: keeps every message it accepted (250), parsed.

    `hold_after(n)`: once n messages are in, the next DATA is held without an answer (the
    message is neither accepted nor refused) until the server is stopped — a server that goes
    away in the middle of a run, at a point the test chooses.
    """

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._changed = threading.Condition()
        self._hold_after: int | None = None
        self.holding = threading.Event()

    def hold_after(self, n: int) -> None:
        self._hold_after = n

    async def handle_DATA(self, server, session, envelope):
        if self._hold_after is not None and len(self.messages) >= self._hold_after:
            self.holding.set()
            while True:  # until stop() cancels this task: the client gets no answer
                await asyncio.sleep(0.05)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return "250 2.0.0 OK"

    def wait_for(self, count: int, timeout: float = 15) -> list[EmailMessage]:
        """Block until at least `count` messages arrived (fails the test after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(
                        f"expected {count} e-mail(s) within {timeout} s, got {len(self.messages)}"
                    )
                self._changed.wait(left)
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["X-Envelope-To"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free 127.0.0.1 port; Django's SMTP backend points at it."""
    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "mtxmonitor <reminders@mtxmonitor.test>"
    settings.MTXMONITOR_BASE_URL = "https://mtx.example.test"
    try:
        yield server
    finally:
        server.stop()


# --- The real worker: wait until it has nothing left to do ---------------------------------------------
class TaskTracker:
    """Counts the tasks published in this process and those the worker finished."""

    def __init__(self) -> None:
        self.published: dict[str, str] = {}
        self.finished: dict[str, tuple[str, object]] = {}
        self._lock = threading.Lock()

    def on_publish(self, sender=None, headers=None, **kwargs):
        with self._lock:
            self.published[headers["id"]] = sender

    def on_postrun(self, task_id=None, task=None, retval=None, **kwargs):
        with self._lock:
            self.finished[task_id] = (task.name, retval)

    def wait_idle(self, timeout: float = 30) -> None:
        """Every published task has finished, and nothing new appeared for a moment."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            with self._lock:
                pending = set(self.published) - set(self.finished)
            if pending:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.3:
                return
            time.sleep(0.05)
        pytest.fail(f"worker still busy after {timeout} s: {pending}")

    def results(self, name: str) -> list[object]:
        return [r for n, r in self.finished.values() if n == name]


@pytest.fixture
def tasks(celery_worker):
    from celery.signals import after_task_publish, task_postrun

    tracker = TaskTracker()
    after_task_publish.connect(tracker.on_publish, weak=False)
    task_postrun.connect(tracker.on_postrun, weak=False)
    try:
        yield tracker
    finally:
        after_task_publish.disconnect(tracker.on_publish)
        task_postrun.disconnect(tracker.on_postrun)


# --- Builders ---------------------------------------------------------------------------------------
_counter = iter(range(1, 1_000_000))


def make_event(
    patient,
    target: date,
    *,
    latest: date | None = None,
    earliest: date | None = None,
    status: str = "planned",
    tests=("alt", "creatinine", "wbc"),
    kind: str = "routine",
):
    from schedules.models import MonitoringEvent

    return MonitoringEvent.objects.create(
        patient=patient,
        drug="methotrexate",
        key=f"test:{target}:{next(_counter)}",
        kind=kind,
        tests=list(tests),
        earliest=earliest or target - timedelta(days=3),
        target=target,
        latest=latest or target + timedelta(days=7),
        status=status,
        explanation="Routine methotrexate monitoring (test fixture).",
    )


def make_patient(clinic, mrn: str, nurse_user=None, **extra):
    from patients.models import Patient

    fields = {
        "given_name": "Harriet",
        "family_name": "Quimby",
        "birth_date": date(1961, 4, 2),
        "sex": "female",
        "diagnosis": "psoriasis",
    } | extra
    return Patient.objects.create(
        clinic=clinic,
        mrn=mrn,
        responsible_nurse=nurse_user.membership if nurse_user else None,
        **fields,
    )


@pytest.fixture
def nadia(clinic):
    """Nadia, a second nurse at Northside."""
    return make_member(clinic, "nadia", "nurse")


def london(y, m, d, hh=9, mm=0) -> datetime:
    """An aware instant given as London wall-clock time."""
    import zoneinfo

    return datetime(y, m, d, hh, mm, tzinfo=zoneinfo.ZoneInfo("Europe/London"))


def sweep(now: datetime | None = None, **options) -> str:
    """`manage.py sweep_reminders` inline (chunks, then sending), as cron runs it."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    args = ["--now", now.isoformat()] if now else []
    call_command("sweep_reminders", *args, stdout=out, **options)
    return out.getvalue()


def body(message: EmailMessage, subtype: str = "plain") -> str:
    return message.get_body(preferencelist=(subtype,)).get_content()
