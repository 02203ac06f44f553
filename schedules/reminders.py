"""The reminder sweep (issue #5): statuses by each clinic's local date, reminders, daily digests.

The rules are `clinical.reminders`; this module applies them to the database in set-based
queries and fans the work out in chunks.

How a run goes (`sweep`, from Celery beat every few minutes or `manage.py sweep_reminders`):

1. Coordinator, one transaction: for every clinic, its local date and whether its send hour has
   come. Queues escalation reminders (events overdue `escalate_after_days`) and, past the send
   hour, creates that day's escalation e-mail for the clinic contact. Then splits the patients
   into chunks — whole recipient groups (one nurse's patients, or a clinic's patients without a
   nurse) packed to about `MTXMONITOR_REMINDER_CHUNK_SIZE` patients — from one aggregate query.
2. Each chunk (a Celery task, or inline), one transaction: reads its patients' ids, moves their
   open events to the status their dates give today (one UPDATE), queues the reminder
   occurrences not queued yet (candidates, keys already there, bulk INSERT … ON CONFLICT DO
   NOTHING on the unique key) and, past the send hour, creates each recipient's digest for the
   day (unique key: one per recipient per local day). A recipient's group is never split, so
   its digest is composed after all of its reminders.
3. Sending (`schedules.mail`) claims each e-mail; a digest's first claim attaches the reminders
   still waiting and still true and freezes its content.

Query count: eleven per chunk (two more per further 5,000 reminders), plus a handful in the
coordinator — never one per patient or event. Memory: one chunk's ids and candidate rows.

Idempotence: every write is either a status computed from dates (re-running changes nothing) or
an insert under a unique key that is ignored when the row exists. Two sweeps at once, a
redelivered chunk or a cron run beside beat create nothing twice; see `schedules.mail` for the
delivery semantics.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from clinical import reminders as rules
from patients.models import Clinic, Patient, StaffMembership
from schedules.models import MonitoringEvent, Notification, Reminder

log = logging.getLogger(__name__)

Status = MonitoringEvent.Status
OPEN = list(MonitoringEvent.OPEN_STATUSES)
REVIEW = "response_review"  # clinical.codes.EventKind.RESPONSE_REVIEW
INSERT_BATCH = 5000
CLINIC_FIELDS = (
    "id",
    "time_zone",
    "reminder_hour",
    "upcoming_lead_days",
    "overdue_repeat_days",
    "escalate_after_days",
    "contact_email",
)


def chunk_size_setting() -> int:
    return int(getattr(settings, "MTXMONITOR_REMINDER_CHUNK_SIZE", 2000))


@dataclass(frozen=True)
class ClinicDay:
    """One clinic's settings and its local day at the sweep's instant."""

    clinic_id: int
    contact_email: str
    policy: rules.ReminderPolicy
    day: rules.LocalDay

    @classmethod
    def of(cls, clinic: dict, now: datetime) -> ClinicDay:
        return cls(
            clinic_id=clinic["id"],
            contact_email=clinic["contact_email"],
            policy=rules.ReminderPolicy(
                lead_days=clinic["upcoming_lead_days"],
                repeat_days=max(1, clinic["overdue_repeat_days"]),
                escalate_after_days=clinic["escalate_after_days"],
            ),
            day=rules.local_day(now, clinic["time_zone"], clinic["reminder_hour"]),
        )

    @property
    def today(self):
        return self.day.today


@dataclass(frozen=True)
class Chunk:
    """Whole recipient groups of one clinic: nurse membership ids, plus maybe the unassigned."""

    clinic_id: int
    nurse_ids: tuple[int, ...]
    unassigned: bool

    def as_task_args(self) -> dict:
        return {
            "clinic_id": self.clinic_id,
            "nurse_ids": list(self.nurse_ids),
            "unassigned": self.unassigned,
        }


@dataclass
class SweepReport:
    clinics: int = 0
    chunks: int = 0
    statuses_changed: int = 0
    reminders_queued: int = 0
    notification_ids: list[int] = field(default_factory=list)

    def add(self, other: SweepReport) -> None:
        self.statuses_changed += other.statuses_changed
        self.reminders_queued += other.reminders_queued
        self.notification_ids += other.notification_ids


# --- The run -------------------------------------------------------------------------------
def sweep(
    *, now: datetime | None = None, fan_out: bool = True, chunk_size: int | None = None
) -> SweepReport:
    """One sweep over every clinic (see the module docstring).

    ``fan_out=True`` (Celery beat): chunks are queued as tasks after commit and each chunk queues
    the sending of its digests. ``fan_out=False`` (cron, tests): chunks run here, one after the
    other, and the ids of the e-mails to send are returned for the caller to send.
    ``now`` is for tests and replays; every chunk is then computed at that same instant.
    """
    explicit_now = now is not None
    now = now or timezone.now()
    chunk_size = chunk_size or chunk_size_setting()
    report = SweepReport()
    with transaction.atomic():
        days = clinic_days(now)
        report.clinics = len(days)
        report.reminders_queued += queue_escalations(days)
        report.notification_ids += compose(
            days,
            kind=Notification.Kind.ESCALATION,
            clinic_ids=[cid for cid, d in days.items() if d.day.send_hour_reached],
        )
        chunks = [c for c in plan_chunks(chunk_size) if c.clinic_id in days]
        report.chunks = len(chunks)
        if fan_out:
            from schedules.mail import queue_sending

            queue_sending(report.notification_ids)
            transaction.on_commit(
                lambda: _queue_chunks(chunks, now.isoformat() if explicit_now else None)
            )
    if not fan_out:
        for chunk in chunks:
            report.add(sweep_chunk(chunk, now=now, days=days))
    return report


def clinic_days(now: datetime) -> dict[int, ClinicDay]:
    """Every clinic's local day. A clinic whose settings cannot be used (a time zone the server
    does not know, an hour out of range: the admin refuses both, a raw edit might not) is logged
    as an error and skipped, rather than stopping the reminders of every other clinic."""
    days = {}
    for clinic in Clinic.objects.values(*CLINIC_FIELDS):
        try:
            days[clinic["id"]] = ClinicDay.of(clinic, now)
        except (ValueError, KeyError, zoneinfo.ZoneInfoNotFoundError) as exc:
            log.error(
                "Clinic %s: unusable reminder settings (%s); its reminders are NOT being "
                "sent until this is fixed.",
                clinic["id"],
                exc,
            )
    return days


def _queue_chunks(chunks: list[Chunk], now_iso: str | None) -> None:
    from schedules.reminder_tasks import sweep_reminder_chunk

    for chunk in chunks:
        sweep_reminder_chunk.delay(**chunk.as_task_args(), now=now_iso)


def plan_chunks(chunk_size: int) -> list[Chunk]:
    """Recipient groups packed into chunks, from one aggregate query (no patient rows loaded)."""
    sizes: dict[int, list[tuple[int | None, int]]] = {}
    rows = (
        Patient.objects.values("clinic_id", "responsible_nurse_id")
        .annotate(n=Count("id"))
        .order_by("clinic_id", F("responsible_nurse_id").asc(nulls_last=True))
    )
    for row in rows:
        sizes.setdefault(row["clinic_id"], []).append((row["responsible_nurse_id"], row["n"]))
    chunks = []
    for clinic_id, groups in sizes.items():
        for packed in rules.pack_chunks(groups, chunk_size):
            chunks.append(
                Chunk(clinic_id, tuple(g for g in packed if g is not None), None in packed)
            )
    return chunks


def sweep_chunk(
    chunk: Chunk, *, now: datetime | None = None, days: dict[int, ClinicDay] | None = None
) -> SweepReport:
    """Statuses, reminders and (past the send hour) digests for one chunk, in one transaction."""
    now = now or timezone.now()
    if days is None or chunk.clinic_id not in days:
        clinic = Clinic.objects.filter(id=chunk.clinic_id).values(*CLINIC_FIELDS).first()
        if clinic is None:
            return SweepReport()
        cday = ClinicDay.of(clinic, now)
    else:
        cday = days[chunk.clinic_id]
    groups = Q(responsible_nurse_id__in=chunk.nurse_ids)
    if chunk.unassigned:
        groups |= Q(responsible_nurse__isnull=True)
    report = SweepReport()
    with transaction.atomic():
        # The chunk's patients (about chunk_size ids) as a literal list: the planner then reads
        # their events by the patient index whatever its statistics say.
        patient_nurse = dict(
            Patient.objects.filter(groups, clinic_id=chunk.clinic_id).values_list(
                "id", "responsible_nurse_id"
            )
        )
        if not patient_nurse:
            return report
        events = MonitoringEvent.objects.filter(patient_id__in=list(patient_nurse))
        report.statuses_changed = update_statuses(events, cday)
        report.reminders_queued = queue_nurse_reminders(patient_nurse, cday)
        if cday.day.send_hour_reached:
            recipients = [*chunk.nurse_ids, *([None] if chunk.unassigned else [])]
            report.notification_ids = compose(
                {cday.clinic_id: cday},
                kind=Notification.Kind.DIGEST,
                clinic_ids=[cday.clinic_id],
                recipient_ids=recipients,
            )
    return report


# --- Statuses --------------------------------------------------------------------------------
def status_expression(cday: ClinicDay) -> Case:
    """`clinical.reminders.event_status` as SQL, for one clinic's local date."""
    today = cday.today
    upcoming_from = today + timedelta(days=cday.policy.lead_days)
    return Case(
        When(latest__lt=today, then=Value(Status.OVERDUE)),
        When(target__lte=today, then=Value(Status.DUE)),
        When(target__lte=upcoming_from, then=Value(Status.UPCOMING)),
        default=Value(Status.PLANNED),
    )


def update_statuses(events, cday: ClinicDay) -> int:
    """Move open events to the status their dates give on the clinic's date (one UPDATE).

    Done and cancelled events are the planner's and never touched. Only rows whose status
    changes are written. Status is derived from the dates, so the change is not recorded in
    the event's history table (a bulk UPDATE): the planner's edits to the dates are.
    """
    # issue #15: a response review not recorded is reminded once overdue and escalated once;
    # the day after its escalation went out it is listed as missed and no longer reminded.
    # In the same UPDATE (one query per chunk, not two).
    escalated = Exists(
        Reminder.objects.filter(
            event_id=OuterRef("pk"),
            phase=rules.Phase.ESCALATION.value,
            notification__isnull=False,
        )
    )
    missed = When(
        Q(kind=REVIEW, latest__lt=rules.escalation_cutoff(cday.today, cday.policy)) & escalated,
        then=Value(Status.MISSED),
    )
    dates = status_expression(cday)
    new_status = Case(missed, *dates.cases, default=dates.default)
    return (
        events.filter(status__in=OPEN)
        .exclude(status=new_status)
        .update(status=new_status, updated_at=timezone.now())
    )


# --- Reminders -------------------------------------------------------------------------------
def queue_nurse_reminders(patient_nurse: dict[int, int | None], cday: ClinicDay) -> int:
    """Insert the reminder each open, non-planned event of these patients has today.

    Reads the candidates by patient id and the keys already queued by key (both indexed), and
    inserts the difference: a plan that does not hinge on the planner's statistics, which are
    stale right after a sweep has moved thousands of statuses. The key carries the patient's
    current nurse, so a reassigned patient's new nurse hears the current occurrence too.
    """
    horizon = cday.today + timedelta(days=cday.policy.lead_days)
    candidates = (
        MonitoringEvent.objects.filter(patient_id__in=list(patient_nurse), status__in=OPEN)
        # Dates, not statuses: the statuses were set from these same dates a moment ago.
        .filter(Q(target__lte=horizon) | Q(latest__lt=cday.today))
        .values_list("id", "patient_id", "target", "latest", "kind")
        .order_by()
    )

    def rows() -> Iterator[Reminder]:
        for event_id, patient_id, target, latest, kind in candidates.iterator(INSERT_BATCH):
            occurrence = rules.nurse_occurrence(
                target=target, latest=latest, today=cday.today, policy=cday.policy
            )
            if (
                kind == REVIEW
                and occurrence is not None
                and occurrence.phase is rules.Phase.OVERDUE
            ):
                # issue #15: an overdue review is reminded once (its first overdue day), not
                # every few days: the same key, so nothing new is queued after the first
                occurrence = rules.Occurrence(
                    rules.Phase.OVERDUE, latest + timedelta(days=1), latest
                )
            if occurrence is not None:
                yield _reminder(
                    cday,
                    occurrence,
                    event_id,
                    patient_id,
                    patient_nurse[patient_id],
                    target,
                    latest,
                )

    return _insert_new(rows())


def queue_escalations(days: dict[int, ClinicDay]) -> int:
    """Insert today's escalation reminders for every clinic (by dates, not statuses)."""
    if not days:
        return 0
    due = Q()
    for cday in days.values():
        due |= Q(
            patient__clinic_id=cday.clinic_id,
            latest__lte=rules.escalation_cutoff(cday.today, cday.policy),
        )
    candidates = (
        MonitoringEvent.objects.filter(due, status__in=OPEN)
        .values_list("id", "patient_id", "patient__clinic_id", "target", "latest")
        .order_by()
    )

    def rows() -> Iterator[Reminder]:
        for event_id, patient_id, clinic_id, target, latest in candidates.iterator(INSERT_BATCH):
            cday = days[clinic_id]
            occurrence = rules.escalation_occurrence(
                latest=latest, today=cday.today, policy=cday.policy
            )
            if occurrence is not None:
                yield _reminder(cday, occurrence, event_id, patient_id, None, target, latest)

    return _insert_new(rows())


def _reminder(cday, occurrence, event_id, patient_id, nurse_id, target, latest) -> Reminder:
    token = rules.recipient_token(nurse_id=nurse_id, clinic_id=cday.clinic_id)
    return Reminder(
        key=rules.occurrence_key(occurrence, event_id=event_id, recipient=token),
        clinic_id=cday.clinic_id,
        event_id=event_id,
        patient_id=patient_id,
        phase=occurrence.phase.value,
        recipient_id=nurse_id,
        target=target,
        latest=latest,
        due_on=occurrence.on,
    )


def _insert_new(rows: Iterator[Reminder]) -> int:
    """Insert the reminders whose key is not there yet, in batches; returns how many.

    Per batch: one SELECT of the keys already queued (the unique index), one INSERT … ON
    CONFLICT DO NOTHING of the others — the conflict clause covers a concurrent sweep.
    """
    inserted = 0
    batch: dict[str, Reminder] = {}

    def flush() -> int:
        existing = set(Reminder.objects.filter(key__in=list(batch)).values_list("key", flat=True))
        # In key order, so that two sweeps inserting the same keys wait rather than deadlock.
        new = [batch[key] for key in sorted(batch) if key not in existing]
        if new:
            Reminder.objects.bulk_create(new, ignore_conflicts=True)
        batch.clear()
        return len(new)

    for row in rows:
        batch[row.key] = row
        if len(batch) >= INSERT_BATCH:
            inserted += flush()
    if batch:
        inserted += flush()
    return inserted


# --- Composition: one e-mail per recipient per local day ---------------------------------------
KIND_PHASES = {
    Notification.Kind.DIGEST: [p.value for p in rules.DIGEST_PHASES],
    Notification.Kind.ESCALATION: [rules.Phase.ESCALATION.value],
}


def waiting_reminders(*, clinic_id: int, kind: str, up_to):
    """Reminders of one clinic that still wait for an e-mail of this kind (due on or before)."""
    return Reminder.objects.filter(
        clinic_id=clinic_id,
        notification__isnull=True,
        dropped="",
        due_on__lte=up_to,
        phase__in=KIND_PHASES[kind],
    )


def compose(
    days: dict[int, ClinicDay],
    *,
    kind: str,
    clinic_ids: list[int],
    recipient_ids: list[int | None] | None = None,
) -> list[int]:
    """Create today's e-mail for every recipient with waiting reminders; returns pending ids.

    One row per (kind, recipient, local day) by its unique key: a second sweep the same day
    finds it. Reminders are attached only when the e-mail is first claimed for sending
    (`schedules.mail`), so whatever is still waiting then goes out in it and anything queued
    after that waits for the next day's digest. Escalations all go to the clinic contact.
    """
    if not clinic_ids:
        return []
    waiting = Q()
    for clinic_id in clinic_ids:
        waiting |= Q(clinic_id=clinic_id, due_on__lte=days[clinic_id].today)
    rows = Reminder.objects.filter(
        waiting, notification__isnull=True, dropped="", phase__in=KIND_PHASES[kind]
    )
    if kind == Notification.Kind.ESCALATION:
        pairs = {(cid, None) for cid in rows.values_list("clinic_id", flat=True).distinct()}
    else:
        groups = Q(recipient_id__in=[r for r in recipient_ids or [] if r is not None])
        if recipient_ids is None or None in recipient_ids:
            groups |= Q(recipient__isnull=True)
        pairs = set(rows.filter(groups).values_list("clinic_id", "recipient_id").distinct())
    if not pairs:
        return []
    addresses = nurse_addresses({nurse for _, nurse in pairs if nurse is not None})
    notifications = []
    for clinic_id, nurse_id in sorted(pairs, key=lambda p: (p[0], p[1] or 0)):
        cday = days[clinic_id]
        token = rules.recipient_token(nurse_id=nurse_id, clinic_id=clinic_id)
        notifications.append(
            Notification(
                clinic_id=clinic_id,
                kind=kind,
                recipient_id=nurse_id,
                key=rules.digest_key(kind=kind, recipient=token, on=cday.today),
                to_email=addresses.get(nurse_id) or cday.contact_email,
                for_date=cday.today,
            )
        )
    Notification.objects.bulk_create(notifications, ignore_conflicts=True)
    return list(
        Notification.objects.filter(
            key__in=[n.key for n in notifications], state=Notification.State.PENDING
        ).values_list("id", flat=True)
    )


def nurse_addresses(nurse_ids: set[int]) -> dict[int, str]:
    """The e-mail of each active nurse that has one. A nurse without one (or whose account is
    disabled) is missing here, and the caller sends to the clinic contact instead: a reminder
    with nowhere to go must not vanish."""
    if not nurse_ids:
        return {}
    rows = (
        StaffMembership.objects.filter(id__in=nurse_ids, user__is_active=True)
        .exclude(user__email="")
        .values_list("id", "user__email")
    )
    return dict(rows)
