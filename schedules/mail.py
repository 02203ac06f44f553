"""Sending the notification ledger's e-mails: claim, freeze, send, record (issue #5).

DELIVERY DECISION — at-least-once, with a unique key and a stable Message-ID.
A reminder that a liver test is overdue, or a critical ALT, that silently never arrives is the
harm we guard against; a nurse seeing the same e-mail twice is the lesser one. (Healthchecks
chose at-most-once for its alerts; we choose the other way on purpose.) So:

- Every e-mail is a `Notification` row under a unique key (what, for whom, which occurrence):
  re-runs, a second worker or a redelivered task cannot create a second one.
- A worker *claims* a row by compare-and-set (`pending` → `sending`, attempts + 1, claimed_at)
  and only then talks SMTP: two workers never send the same row at once.
- Success → `sent` with the time. An error → back to `pending` with exponential backoff in
  `next_attempt_at` and the error in `last_error`; after `MTXMONITOR_NOTIFICATION_MAX_ATTEMPTS`
  → `failed`, shown in the admin, where staff can resend it.
- A worker that dies mid-send leaves the row `sending`; `release_stuck` (the retry sweep, every
  30 s) returns it to `pending` after `MTXMONITOR_NOTIFICATION_SENDING_TIMEOUT_SECONDS`
  (`MTXMONITOR_CRITICAL_SENDING_TIMEOUT_SECONDS` for a critical alert's e-mail). If
  the SMTP server had already accepted the message, the nurse gets it twice — that is the one
  duplicate we accept. It carries the same Message-ID (generated at the first claim, stored, and
  reused by every retry), so mail systems that de-duplicate on Message-ID show it once.
- Content is frozen at the first claim (subject, items, Message-ID); retries send exactly that.

Every "when" of a claim is the DATABASE's clock (`Now()`), never the caller's (issue 14): the
claim's time, whether a retry is due, whether a claim is stuck. A sweep replayed with
`--now`, or a host whose clock is off, cannot release a row another worker is sending; the
`now` arguments below are accepted for the callers' convenience and not used for claims.

Nothing is sent inside a database transaction: the claim commits first, then SMTP, then the
outcome is recorded in its own short statement.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.utils import timezone

from clinical import codes
from clinical import reminders as rules
from patients.choices import ANALYTE
from schedules.models import Alert, MonitoringEvent, Notification, Reminder

log = logging.getLogger(__name__)

State = Notification.State
Kind = Notification.Kind
ANALYTE_LABELS = dict(ANALYTE)
EVENT_KIND_LABELS = dict(MonitoringEvent._meta.get_field("kind").choices)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def max_attempts() -> int:
    return _setting("MTXMONITOR_NOTIFICATION_MAX_ATTEMPTS", 8)


def sending_timeout() -> timedelta:
    return timedelta(seconds=_setting("MTXMONITOR_NOTIFICATION_SENDING_TIMEOUT_SECONDS", 600))


def critical_sending_timeout() -> timedelta:
    """Shorter for a critical alert's e-mail (one small message: its worst case is a few SMTP
    timeouts), so that it reaches the nurse within 2 minutes of a worker's return."""
    return min(
        sending_timeout(),
        timedelta(seconds=_setting("MTXMONITOR_CRITICAL_SENDING_TIMEOUT_SECONDS", 60)),
    )


# --- Dispatch --------------------------------------------------------------------------------
SEND_BATCH = 25  # e-mails per task and SMTP connection (a chunk's digests, a retry sweep)


def queue_sending(notification_ids: list[int]) -> None:
    """Ask workers to send these once the current transaction commits.

    One e-mail (a critical alert) is one task; more go in batches that share an SMTP connection.
    If the broker is down the rows stay `pending` and the retry sweep sends them: nothing lost.
    """
    ids = list(notification_ids)
    if not ids:
        return

    def send() -> None:
        from mtxmonitor.dispatch import publish
        from schedules.reminder_tasks import send_notification, send_notifications

        for start in range(0, len(ids), SEND_BATCH):
            batch = ids[start : start + SEND_BATCH]
            # Broker down: logged, and the retry sweep sends them (they stay pending).
            if len(batch) == 1:
                publish(send_notification, batch[0], what=f"notification {batch[0]}")
            else:
                publish(send_notifications, batch, what=f"notifications {batch}")

    transaction.on_commit(send)


# --- Claim, send, record -------------------------------------------------------------------------
def send_notification(notification_id: int, *, now: datetime | None = None, connection=None) -> str:
    """Claim one notification and send it. Returns what happened (for logs and tests):
    "sent", "retry" (will be tried again), "failed" (gave up), "skipped", or "not-claimed"
    (someone else has it, it is not due yet, or it is already done)."""
    now = now or timezone.now()
    try:
        notification = claim(notification_id, now=now)
    except DatabaseError:
        raise  # the database is down or busy: the task retries, the row is untouched
    except Exception as exc:  # a bug in building this one e-mail: count it, do not loop on it
        log.exception("Notification %s could not be prepared.", notification_id)
        return _record_unclaimable(notification_id, exc, now=now)
    if notification is None:
        return "not-claimed"
    if notification.state == State.SKIPPED:
        return "skipped"
    try:
        deliver(notification, connection=connection)
    except Exception as exc:
        return record_failure(notification, exc, now=now)
    sent = Notification.objects.filter(
        id=notification.id,
        claimed_at=notification.claimed_at,
        state__in=[State.SENDING, State.PENDING],  # PENDING: released as stuck meanwhile
    ).update(state=State.SENT, sent_at=timezone.now(), next_attempt_at=None)
    if not sent:
        log.warning("Notification %s was sent but re-claimed meanwhile.", notification.id)
    return "sent"


def claim(notification_id: int, *, now: datetime | None = None) -> Notification | None:
    """Compare-and-set pending → sending (due and claimed by database time); on the first
    claim, freeze the content."""
    with transaction.atomic():
        claimed = (
            Notification.objects.filter(id=notification_id, state=State.PENDING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=Now()))
            .update(state=State.SENDING, claimed_at=Now(), attempts=F("attempts") + 1)
        )
        if not claimed:
            return None
        notification = Notification.objects.select_related("clinic").get(id=notification_id)
        if not notification.message_id and not freeze(notification):
            notification.state = State.SKIPPED
            notification.save(update_fields=["state", "last_error", "subject"])
    return notification


def record_failure(notification: Notification, exc: Exception, *, now: datetime) -> str:
    """After a failed attempt: pending again with backoff, or failed after the last attempt."""
    mine = Notification.objects.filter(
        id=notification.id, state=State.SENDING, claimed_at=notification.claimed_at
    )
    return _record(notification.id, mine, notification.attempts, exc, now=now)


def _record_unclaimable(notification_id: int, exc: Exception, *, now: datetime) -> str:
    """The claim itself failed (rolled back): count the attempt on the pending row anyway."""
    row = Notification.objects.filter(id=notification_id, state=State.PENDING)
    attempts = (row.values_list("attempts", flat=True).first() or 0) + 1
    row.update(attempts=attempts)
    return _record(notification_id, row, attempts, exc, now=now)


def _record(notification_id: int, mine, attempts: int, exc: Exception, *, now: datetime) -> str:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if rules.gives_up(attempts, max_attempts=max_attempts()):
        mine.update(state=State.FAILED, last_error=error, next_attempt_at=None)
        log.error(
            "Notification %s failed for good after %d attempts: %s",
            notification_id,
            attempts,
            error,
        )
        return "failed"
    delay = rules.retry_delay_seconds(
        attempts,
        base=_setting("MTXMONITOR_NOTIFICATION_RETRY_SECONDS", 60),
        cap=_setting("MTXMONITOR_NOTIFICATION_RETRY_MAX_SECONDS", 3600),
    )
    mine.update(
        state=State.PENDING, last_error=error, next_attempt_at=Now() + timedelta(seconds=delay)
    )
    log.warning(
        "Notification %s attempt %d failed (%s); retry in %d s.",
        notification_id,
        attempts,
        error,
        delay,
    )
    return "retry"


# --- The retry sweep -------------------------------------------------------------------------------
def release_stuck(*, now: datetime | None = None) -> int:
    """Rows left `sending` longer than the timeout (their worker died): retry, or give up.

    "Longer" by the database's clock (claimed_at is the database's too), whatever `now` says."""
    failed = retried = 0
    for timeout, kinds in (
        (critical_sending_timeout(), Q(kind=Kind.CRITICAL)),
        (sending_timeout(), ~Q(kind=Kind.CRITICAL)),
    ):
        stuck = Notification.objects.filter(
            kinds, state=State.SENDING, claimed_at__lt=Now() - timeout
        )
        note = (
            f"No outcome within {int(timeout.total_seconds())} s of the claim "
            "(worker stopped mid-send?); may have been delivered."
        )
        failed += stuck.filter(attempts__gte=max_attempts()).update(
            state=State.FAILED, last_error=note, next_attempt_at=None
        )
        retried += stuck.update(state=State.PENDING, last_error=note, next_attempt_at=Now())
    if failed or retried:
        log.warning("Released %d stuck notification(s), %d given up.", retried + failed, failed)
    return failed + retried


def due_notification_ids(*, now: datetime | None = None, limit: int = 10_000) -> list[int]:
    return list(
        Notification.objects.filter(state=State.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=Now()))
        .order_by(F("next_attempt_at").asc(nulls_first=True), "id")
        .values_list("id", flat=True)[:limit]
    )


def send_batch(notification_ids: list[int], *, now: datetime | None = None) -> dict[str, int]:
    """Send several, one after the other, over one SMTP connection; returns outcome counts.

    Each e-mail is claimed and recorded on its own: a failure costs that one a retry, and the
    connection is opened afresh for the next.
    """
    outcomes: dict[str, int] = {}
    connection = get_connection()
    try:
        for notification_id in notification_ids:
            outcome = send_notification(notification_id, now=now, connection=connection)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome in ("retry", "failed"):
                _close_quietly(connection)
    finally:
        _close_quietly(connection)
    return outcomes


def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:  # a server that went away mid-session; the next send opens a new one
        connection.connection = None


def send_due(*, now: datetime | None = None, inline: bool = False) -> dict[str, int]:
    """Release stuck rows and send (inline) or queue every pending row that is due."""
    now = now or timezone.now()
    release_stuck(now=now)
    ids = due_notification_ids(now=now)
    if inline:
        return send_batch(ids, now=now)
    queue_sending(ids)
    return {"queued": len(ids)}


def resend(notification_ids: list[int]) -> int:
    """Staff asked for these failed (or sent) e-mails again: pending now, same content.

    A new Message-ID, so that a mail system which kept the first copy does not discard it.
    """
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update().filter(
                id__in=notification_ids, state__in=[State.FAILED, State.SENT]
            )
        )
        for notification in rows:
            notification.state = State.PENDING
            notification.attempts = 0
            notification.next_attempt_at = None
            notification.sent_at = None
            if notification.message_id:
                notification.message_id = new_message_id(notification)
            notification.save(
                update_fields=["state", "attempts", "next_attempt_at", "sent_at", "message_id"]
            )
        queue_sending([n.id for n in rows])
    return len(rows)


# --- Content -----------------------------------------------------------------------------------
def new_message_id(notification: Notification) -> str:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "mtxmonitor.invalid"
    return make_msgid(idstring=f"mtx{notification.id}", domain=domain)


def patient_link(patient_id: int) -> str:
    return f"{settings.MTXMONITOR_BASE_URL}/admin/patients/patient/{patient_id}/change/"


def initials(given: str, family: str) -> str:
    return f"{given[:1]}{family[:1]}".upper()


def test_labels(tests) -> list[str]:
    return [ANALYTE_LABELS.get(t, str(t).replace("_", " ")) for t in (tests or [])]


def long_date(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def freeze(notification: Notification) -> bool:
    """Fix the content at the first claim; False when there is nothing left to send."""
    if notification.kind == Kind.CRITICAL:
        ok = _freeze_critical(notification)
    else:
        ok = _freeze_digest(notification)
    if not ok:
        return False
    notification.message_id = new_message_id(notification)
    notification.save(update_fields=["items", "subject", "message_id", "last_error"])
    return True


CONTENT_FIELDS = (
    "id",
    "phase",
    "due_on",
    "target",
    "latest",
    "event_id",
    "event__kind",
    "event__tests",
    "event__status",
    "event__target",
    "event__latest",
    "patient_id",
    "patient__mrn",
    "patient__given_name",
    "patient__family_name",
    "patient__responsible_nurse__user__first_name",
    "patient__responsible_nurse__user__last_name",
    "patient__responsible_nurse__user__username",
)


def _freeze_digest(notification: Notification) -> bool:
    """Attach every reminder still waiting and still true; drop those no longer true.

    "Still true": the event is open with the dates it had when the reminder was queued (not
    "in the same status": statuses are the sweep's, and this may run while a chunk is moving
    them on; a reminder left from an earlier day beside a newer one for the same event shows
    once, as the newer — `clinical.reminders.digest_groups`).
    """
    from schedules.reminders import OPEN, waiting_reminders

    waiting = waiting_reminders(
        clinic_id=notification.clinic_id, kind=notification.kind, up_to=notification.for_date
    )
    if notification.kind == Kind.DIGEST:
        waiting = waiting.filter(
            Q(recipient_id=notification.recipient_id)
            if notification.recipient_id
            else Q(recipient__isnull=True)
        )
    rows, stale = [], []
    for r in waiting.values(*CONTENT_FIELDS):
        holds = (
            r["event__status"] in OPEN
            and r["event__target"] == r["target"]
            and r["event__latest"] == r["latest"]
        )
        (rows if holds else stale).append(r)
    unclaimed = Reminder.objects.filter(notification__isnull=True, dropped="")
    if stale:
        unclaimed.filter(id__in=[r["id"] for r in stale]).update(
            dropped="The event was done, cancelled or re-dated before the e-mail went out."
        )
    attached = unclaimed.filter(id__in=[r["id"] for r in rows]).update(notification=notification)
    if attached != len(rows):  # another digest of this recipient took some meanwhile
        mine = set(notification.reminders.values_list("id", flat=True))
        rows = [r for r in rows if r["id"] in mine]
    if not rows:
        notification.last_error = "Nothing left to send: every reminder's event changed first."
        notification.subject = ""
        return False
    by_event = {r["event_id"]: r for r in rows}
    lines = [
        rules.DigestLine(
            r["patient_id"], r["event_id"], rules.Phase(r["phase"]), r["target"], r["due_on"]
        )
        for r in rows
    ]
    day = notification.for_date
    items = []
    counts: dict[str, int] = {}
    for group in rules.digest_groups(lines):
        first = by_event[group.lines[0].event_id]
        nurse = (
            " ".join(
                x
                for x in (
                    first["patient__responsible_nurse__user__first_name"],
                    first["patient__responsible_nurse__user__last_name"],
                )
                if x
            )
            or first["patient__responsible_nurse__user__username"]
            or "no responsible nurse"
        )
        entry = {
            "patient": group.patient_id,
            "mrn": first["patient__mrn"],
            "initials": initials(first["patient__given_name"], first["patient__family_name"]),
            "link": patient_link(group.patient_id),
            "lines": [],
        }
        if notification.kind == Kind.ESCALATION:
            entry["nurse"] = nurse
        for line in group.lines:
            row = by_event[line.event_id]
            counts[line.phase] = counts.get(line.phase, 0) + 1
            what = EVENT_KIND_LABELS.get(row["event__kind"], row["event__kind"])
            tests = test_labels(row["event__tests"])
            entry["lines"].append(
                {
                    "event": line.event_id,
                    "phase": line.phase.value,
                    "label": f"{what}: {', '.join(tests)}" if tests else what,
                    "tests": tests,
                    "target": line.target.isoformat(),
                    "latest": row["latest"].isoformat(),
                    "when": _when(line.phase, line.target, row["latest"], day),
                }
            )
        items.append(entry)
    notification.items = items
    notification.subject = _digest_subject(notification.kind, counts, day)
    notification.events.set(by_event.keys())
    cap_size(notification)
    return True


# --- Size cap (issue 14) -------------------------------------------------------------------------
def max_bytes() -> int:
    return _setting("MTXMONITOR_DIGEST_MAX_BYTES", 1_000_000)


def worklist_link(notification: Notification) -> str:
    """The staff UI's list of this recipient's open monitoring events (the admin worklist)."""
    query = "status__in=upcoming,due,overdue"
    return f"{settings.MTXMONITOR_BASE_URL}/admin/schedules/monitoringevent/?{query}"


def rendered_bytes(notification: Notification) -> int:
    text, html = render(notification)
    return len(text.encode()) + len(html.encode())


def cap_size(notification: Notification) -> bool:
    """Keep a digest's e-mail under MTXMONITOR_DIGEST_MAX_BYTES (text + HTML; the common SMTP
    limit is 10 MB, past which the nurse would get nothing): list as many patients in full as
    fit and summarise the rest, with their counts and a link to the worklist in the staff UI.
    Every reminder stays attached to this e-mail (its record); none is dropped. Returns whether
    it had to cut."""
    entries = [e for e in notification.items if "more" not in e]
    limit = max_bytes()

    def with_first(k: int) -> list[dict]:
        rest = entries[k:]
        if not rest:
            return entries
        phases: dict[str, int] = {}
        for e in rest:
            for line in e["lines"]:
                phases[line["phase"]] = phases.get(line["phase"], 0) + 1
        more = {
            "more": True,
            "patients": len(rest),
            "lines": sum(phases.values()),
            "phases": phases,
            "link": worklist_link(notification),
        }
        return [*entries[:k], more]

    notification.items = entries
    if rendered_bytes(notification) <= limit:
        return False
    low, high = 0, len(entries) - 1  # the largest k whose e-mail fits (k = 0 always kept)
    while low < high:
        mid = (low + high + 1) // 2
        notification.items = with_first(mid)
        if rendered_bytes(notification) <= limit:
            low = mid
        else:
            high = mid - 1
    notification.items = with_first(low)
    log.warning(
        "Notification %s: %d patient(s) listed in full, %d summarised with a link (size cap %d B).",
        notification.id,
        low,
        len(entries) - low,
        limit,
    )
    return True


def _when(phase: rules.Phase, target: date, latest: date, day: date) -> str:
    if phase is rules.Phase.UPCOMING:
        days = (target - day).days
        return f"coming up: due {long_date(target)} (in {days} day{'s' * (days != 1)})"
    if phase is rules.Phase.DUE:
        if target == day:
            return f"due today, {long_date(target)} (window closes {long_date(latest)})"
        return f"due since {long_date(target)} (window closes {long_date(latest)})"
    overdue = rules.days_overdue(latest=latest, today=day)
    return (
        f"overdue {overdue} day{'s' * (overdue != 1)}: was due {long_date(target)}, "
        f"window closed {long_date(latest)}"
    )


def _digest_subject(kind: str, counts: dict[str, int], day: date) -> str:
    if kind == Kind.ESCALATION:
        n = counts.get(rules.Phase.ESCALATION, 0)
        return (
            f"[mtxmonitor] Escalation {long_date(day)}: {n} monitoring test"
            f"{'s' * (n != 1)} long overdue"
        )
    parts = [
        f"{counts[p]} {label}"
        for p, label in (
            (rules.Phase.OVERDUE, "overdue"),
            (rules.Phase.DUE, "due"),
            (rules.Phase.UPCOMING, "coming up"),
        )
        if counts.get(p)
    ]
    return f"[mtxmonitor] Monitoring reminders {long_date(day)}: {', '.join(parts)}"


def _freeze_critical(notification: Notification) -> bool:
    """The e-mail's findings: its alert and every other critical alert of the same result
    version that is still open or acknowledged (superseded or resolved ones are left out; with
    none left, nothing is sent)."""
    alert = (
        Alert.objects.filter(id=notification.alert_id)
        .only("lab_result_id", "result_version")
        .first()
    )
    if alert is None:
        findings = []
    elif alert.lab_result_id is None:
        findings = list(
            Alert.objects.select_related("patient").filter(
                id=alert.id, status__in=Alert.ACTIVE_STATUSES
            )
        )
    else:
        findings = list(
            Alert.objects.select_related("patient", "lab_result")
            .filter(
                lab_result_id=alert.lab_result_id,
                result_version=alert.result_version,
                severity=codes.AlertSeverity.CRITICAL,
                status__in=Alert.ACTIVE_STATUSES,
            )
            .order_by("id")
        )
    if not findings:
        notification.last_error = "Nothing left to send: the alert was superseded or resolved."
        notification.subject = ""
        return False
    patient = findings[0].patient
    tz = notification.clinic.tz
    items = []
    for a in findings:
        if a.lab_result_id is not None:
            test = ANALYTE_LABELS.get(a.lab_result.analyte, a.lab_result.analyte)
            taken = a.lab_result.collected_at.astimezone(tz).date()
        else:
            test, taken = a.rule, a.raised_at.astimezone(tz).date()
        items.append(
            {
                "alert": a.id,
                "patient": patient.id,
                "mrn": patient.mrn,
                "initials": patient.initials,
                "link": patient_link(patient.id),
                "test": test,
                "date": long_date(taken),
                "reason": _one_line(a.message),
                "action": _one_line(a.action),
            }
        )
    notification.items = items
    notification.subject = f"[mtxmonitor] CRITICAL result: MRN {patient.mrn} ({patient.initials})"
    return True


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def render(notification: Notification) -> tuple[str, str]:
    """The plain-text and HTML bodies, from the frozen items only."""
    items = [e for e in notification.items if "more" not in e]
    more = next((e for e in notification.items if "more" in e), None)
    context = {
        "notification": notification,
        "items": items,
        "more": more,
        "day": long_date(notification.for_date) if notification.for_date else "",
        "base_url": settings.MTXMONITOR_BASE_URL,
    }
    name = f"schedules/email/{notification.kind}"
    return render_to_string(f"{name}.txt", context), render_to_string(f"{name}.html", context)


def deliver(notification: Notification, *, connection=None) -> None:
    """One SMTP send with the stored Message-ID (raises on any failure)."""
    text, html = render(notification)
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.to_email],
        headers={
            "Message-ID": notification.message_id,
            "X-Mtxmonitor-Notification": notification.key,
        },
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)
