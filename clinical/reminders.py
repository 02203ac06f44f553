"""When a nurse hears about a monitoring event: pure rules over clinic-local dates (issue #5).

No Django here. Every date is the clinic's *local* date: `local_day()` turns an aware instant
into the clinic's date and tells whether its daily send hour has come, so "today", "due" and
"overdue" follow the clinic's clock across daylight-saving changes, never the server's.

These are the project's reminder policy (issue #5), not a guideline: the numbers are each
clinic's settings (`Clinic.upcoming_lead_days`, `overdue_repeat_days`, `escalate_after_days`,
`reminder_hour`). An open monitoring event with window [earliest, latest] and target date:

- status on local date ``today``: **overdue** once ``today > latest``; **due** from ``target``
  through ``latest``; **upcoming** from ``target - lead_days``; else **planned**.
- nurse reminders, each sent once (its key names the occurrence): *upcoming* (once per target
  date), *due* (once per target date), *overdue* on the first overdue day (``latest + 1``) and
  every ``repeat_days`` after until done. A day with no sweep is caught up on the next one under
  the same occurrence date, so a missed run delays a reminder but never drops it.
- escalation to the clinic contact once per overdue window, from the day the event has been
  overdue ``escalate_after_days`` days (day 1 = the first overdue day; 0 behaves as 1).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TypeVar


class EventStatus(StrEnum):
    """The status of an *open* event (done and cancelled are the planner's, never ours)."""

    PLANNED = "planned"
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"


class Phase(StrEnum):
    """What a reminder says about its event."""

    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    ESCALATION = "escalation"


DIGEST_PHASES = (Phase.UPCOMING, Phase.DUE, Phase.OVERDUE)


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """A clinic's reminder settings (defaults: the model's defaults)."""

    lead_days: int = 7
    repeat_days: int = 3
    escalate_after_days: int = 14

    def __post_init__(self) -> None:
        if self.lead_days < 0:
            raise ValueError("lead_days must be 0 or more.")
        if self.repeat_days < 1:
            raise ValueError("repeat_days must be at least 1.")
        if self.escalate_after_days < 0:
            raise ValueError("escalate_after_days must be 0 or more.")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One reminder that is due: its phase, the date it fell due and the event date it is about."""

    phase: Phase
    on: date  # the local date this occurrence fell due (a late sweep keeps this date)
    anchor: date  # target (upcoming, due) or latest (overdue, escalation)


@dataclass(frozen=True, slots=True)
class LocalDay:
    today: date
    send_hour_reached: bool
    local_time: datetime


# --- Time --------------------------------------------------------------------------------
def local_day(now: datetime, tz_name: str, reminder_hour: int) -> LocalDay:
    """The clinic's date at the aware instant ``now`` and whether its send hour has come.

    "Reached" compares the local wall-clock hour (>=), so a spring-forward gap or the repeated
    autumn hour neither skips nor doubles a day's digest (the digest key is the local date).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime.")
    if not 0 <= reminder_hour <= 23:
        raise ValueError("reminder_hour must be 0–23.")
    local = now.astimezone(zoneinfo.ZoneInfo(tz_name))
    return LocalDay(
        today=local.date(), send_hour_reached=local.hour >= reminder_hour, local_time=local
    )


# --- Status and occurrences ----------------------------------------------------------------
def event_status(*, target: date, latest: date, today: date, lead_days: int) -> EventStatus:
    """Status of an open event on the clinic's local date (see the module docstring)."""
    if today > latest:
        return EventStatus.OVERDUE
    if today >= target:
        return EventStatus.DUE
    if today >= target - timedelta(days=lead_days):
        return EventStatus.UPCOMING
    return EventStatus.PLANNED


def days_overdue(*, latest: date, today: date) -> int:
    """0 while the window is open; 1 on the first day after ``latest``."""
    return max(0, (today - latest).days)


def nurse_occurrence(
    *, target: date, latest: date, today: date, policy: ReminderPolicy
) -> Occurrence | None:
    """The nurse reminder that applies to an open event today (None while it is only planned)."""
    status = event_status(target=target, latest=latest, today=today, lead_days=policy.lead_days)
    if status is EventStatus.UPCOMING:
        return Occurrence(Phase.UPCOMING, target - timedelta(days=policy.lead_days), target)
    if status is EventStatus.DUE:
        return Occurrence(Phase.DUE, target, target)
    if status is EventStatus.OVERDUE:
        first = latest + timedelta(days=1)
        number = (today - first).days // policy.repeat_days
        return Occurrence(
            Phase.OVERDUE, first + timedelta(days=number * policy.repeat_days), latest
        )
    return None


def escalation_day(*, latest: date, policy: ReminderPolicy) -> date:
    """The local date from which an event still open is escalated to the clinic contact."""
    return latest + timedelta(days=max(1, policy.escalate_after_days))


def escalation_occurrence(
    *, latest: date, today: date, policy: ReminderPolicy
) -> Occurrence | None:
    on = escalation_day(latest=latest, policy=policy)
    if today < on:
        return None
    return Occurrence(Phase.ESCALATION, on, latest)


def escalation_cutoff(today: date, policy: ReminderPolicy) -> date:
    """Events whose ``latest`` is on or before this date are due for escalation today."""
    return today - timedelta(days=max(1, policy.escalate_after_days))


# --- Keys: what, for whom, which occurrence ----------------------------------------------------
def recipient_token(*, nurse_id: int | None, clinic_id: int) -> str:
    """``nurse-<membership id>``, or ``clinic-<id>`` for the clinic contact."""
    return f"nurse-{nurse_id}" if nurse_id is not None else f"clinic-{clinic_id}"


def occurrence_key(occurrence: Occurrence, *, event_id: int, recipient: str) -> str:
    anchor = "target" if occurrence.phase in (Phase.UPCOMING, Phase.DUE) else "latest"
    key = f"{occurrence.phase}:event={event_id}:{anchor}={occurrence.anchor.isoformat()}"
    if occurrence.phase is Phase.OVERDUE:
        key += f":on={occurrence.on.isoformat()}"
    return f"{key}:to={recipient}"


def digest_key(*, kind: str, recipient: str, on: date) -> str:
    """One e-mail of a kind per recipient per local day."""
    return f"{kind}:to={recipient}:on={on.isoformat()}"


def critical_key(
    *, alert_id: int, recipient: str, result_id: int | None = None, version: int | None = None
) -> str:
    """One critical e-mail per lab result version and recipient, listing every critical finding
    of that result (an ALT of 160 U/L is both above 3x ULN and above 100 U/L: one e-mail, not
    two); per alert for a finding without a result."""
    if result_id is not None:
        return f"critical:result={result_id}:v={version or 1}:to={recipient}"
    return f"critical:alert={alert_id}:to={recipient}"


# --- Delivery ----------------------------------------------------------------------------
def retry_delay_seconds(attempts: int, *, base: int, cap: int) -> int:
    """Backoff after the ``attempts``-th failed attempt: base, 2×base, 4×base … capped."""
    if attempts < 1:
        raise ValueError("attempts counts the failed attempt, so it is at least 1.")
    return min(cap, base * 2 ** min(attempts - 1, 30))


def gives_up(attempts: int, *, max_attempts: int) -> bool:
    """True when this failure was the last attempt allowed: the row is marked failed."""
    return attempts >= max_attempts


# --- Fan-out -----------------------------------------------------------------------------
K = TypeVar("K", bound=Hashable)


def pack_chunks(groups: Iterable[tuple[K, int]], chunk_size: int) -> list[list[K]]:
    """Pack (group, size) pairs into chunks of about ``chunk_size``, keeping each group whole.

    A group (one nurse's patients) is never split, because its digest is composed inside one
    chunk; a group larger than ``chunk_size`` gets a chunk of its own. Deterministic.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1.")
    chunks: list[list[K]] = []
    current: list[K] = []
    filled = 0
    for group, size in groups:
        if current and filled + size > chunk_size:
            chunks.append(current)
            current, filled = [], 0
        current.append(group)
        filled += size
    if current:
        chunks.append(current)
    return chunks


# --- Digest content ----------------------------------------------------------------------------
PHASE_ORDER = {Phase.OVERDUE: 0, Phase.DUE: 1, Phase.UPCOMING: 2, Phase.ESCALATION: 3}


@dataclass(frozen=True, slots=True)
class DigestLine:
    patient_id: int
    event_id: int
    phase: Phase
    target: date
    on: date


@dataclass(frozen=True, slots=True)
class PatientGroup:
    patient_id: int
    lines: tuple[DigestLine, ...]


def digest_groups(lines: Sequence[DigestLine]) -> list[PatientGroup]:
    """Group by patient, soonest first (by target date), one line per event.

    Several occurrences of one event in one digest (a catch-up after days without a digest)
    collapse to the latest one; an overdue test's target is in the past, so it sorts first.
    """
    latest_per_event: dict[int, DigestLine] = {}
    for line in lines:
        seen = latest_per_event.get(line.event_id)
        if seen is None or line.on > seen.on:
            latest_per_event[line.event_id] = line
    by_patient: dict[int, list[DigestLine]] = {}
    for line in latest_per_event.values():
        by_patient.setdefault(line.patient_id, []).append(line)

    def line_order(line: DigestLine) -> tuple:
        return (line.target, PHASE_ORDER[line.phase], line.event_id)

    groups = [
        PatientGroup(pid, tuple(sorted(ls, key=line_order))) for pid, ls in by_patient.items()
    ]
    groups.sort(key=lambda g: (line_order(g.lines[0]), g.patient_id))
    return groups
