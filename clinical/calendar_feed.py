"""A nurse's or a clinic's monitoring calendar as iCalendar (RFC 5545): pure functions (issue 17).

No Django here. The Django shell (`schedules/calendar.py`) loads the monitoring events of one
nurse's patients (or of one clinic), turns them into `FeedEvent`s and calls `build_calendar()`.

What the feed holds, and why:

- **one all-day event per open draw or review** (planned, upcoming, due or overdue), on its
  target date, its window (earliest–latest) in the description. An open event past its latest
  date is titled "Overdue" (the rule of `clinical.reminders`: overdue once today > latest, on
  the clinic's local date);
- **a done event** stays for `retention_days` after it was done, on the day it was done and
  titled "Done", so it does not just vanish (which some clients show as a deletion);
- **a cancelled event** (the planner dropped it: a newer draw, a prescription change, a resolved
  finding) stays for `retention_days` after it was cancelled with ``STATUS:CANCELLED``, so a
  subscribed calendar strikes it out instead of keeping a stale copy;
- a **stable UID** per event (the event's database id, never its date or patient), and a
  **SEQUENCE** that increases each time the event's date or state (open/overdue/done/cancelled)
  changes: `fingerprint()` is what is compared and `next_sequence()` the rule;
- **no patient name, birth date or MRN**: the patient appears as an opaque reference
  (`patient_reference()`, an HMAC of the patient's id, the same in every feed) and a link to
  the chart, which needs a staff login. Nor the planner's explanation: it can name the
  patient's risk factors and age ("short end because of alcohol excess, age 72"), and a feed
  is read by a calendar provider; the chart says why;
- the calendar's name (``X-WR-CALNAME``) and the clinic's time zone (``X-WR-TIMEZONE``); the
  dates are the clinic's local dates (all-day events carry no time zone of their own).

This is the project's display policy for staff calendars, not a clinical guideline: the events
and their dates are the planner's (`clinical.planner`, REF §1–2), unchanged here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from icalendar import Calendar, Event
from icalendar.prop import vDuration

from clinical.codes import Drug, EventKind
from clinical.protocols import TEST_LABELS

PRODID = "-//mtxmonitor//monitoring calendar//EN"
DEFAULT_RETENTION_DAYS = 30

OPEN_STATUSES = frozenset({"planned", "upcoming", "due", "overdue"})
KNOWN_STATUSES = OPEN_STATUSES | {"done", "cancelled"}

DRUG_LABELS = {
    Drug.METHOTREXATE: "methotrexate",
    Drug.MYCOPHENOLATE_MOFETIL: "mycophenolate",
    Drug.FOLIC_ACID: "folic acid",
}
KIND_LABELS = {
    EventKind.BASELINE: "Baseline tests",
    EventKind.ROUTINE: "Monitoring bloods",
    EventKind.CONFIRMATORY: "Repeat bloods",
    EventKind.RESPONSE_REVIEW: "Response review",
}


class FeedState(StrEnum):
    """What a calendar shows of an event (coarser than the event's status on purpose: the
    planned → upcoming → due steps are the passing of time, not a change of the event)."""

    OPEN = "open"
    OVERDUE = "overdue"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One monitoring event as the feed sees it (no patient name, birth date or MRN)."""

    event_id: int
    kind: EventKind
    drug: Drug
    tests: tuple[str, ...]
    earliest: date
    target: date
    latest: date
    status: str  # a MonitoringEvent status: planned/upcoming/due/overdue/done/cancelled
    completed_on: date | None
    changed_at: datetime  # aware: when the event was last written (its cancellation, for one)
    patient_ref: str
    chart_url: str
    sequence: int = 0
    stamp: datetime | None = None  # DTSTAMP: when this version was made (default changed_at)

    def __post_init__(self) -> None:
        if self.status not in KNOWN_STATUSES:
            raise ValueError(f"status: unknown event status {self.status!r}.")
        if self.changed_at.tzinfo is None:
            raise ValueError("changed_at: must be timezone-aware.")
        if self.stamp is not None and self.stamp.tzinfo is None:
            raise ValueError("stamp: must be timezone-aware.")
        if self.sequence < 0:
            raise ValueError("sequence: must not be negative.")


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """The calendar itself."""

    name: str  # X-WR-CALNAME, e.g. "Northside Dermatology — Nina Novak's monitoring"
    time_zone: str  # the clinic's IANA zone
    uid_domain: str  # right-hand side of every UID, e.g. "mtx.example.org"
    description: str = ""
    refresh_minutes: int = 60


@dataclass(frozen=True, slots=True)
class SequenceState:
    """What the shell stores per event: its sequence and the fingerprint it was given for."""

    sequence: int
    fingerprint: str


def feed_state(status: str, latest: date, today: date) -> FeedState:
    """The state a calendar shows for an event with this status on the clinic's `today`."""
    if status == "done":
        return FeedState.DONE
    if status == "cancelled":
        return FeedState.CANCELLED
    if status not in OPEN_STATUSES:
        raise ValueError(f"status: unknown event status {status!r}.")
    return FeedState.OVERDUE if today > latest else FeedState.OPEN


def event_day(event: FeedEvent) -> date:
    """The day the all-day event sits on: the day it was done, else its target date."""
    if event.status == "done" and event.completed_on is not None:
        return event.completed_on
    return event.target


def fingerprint(event: FeedEvent, today: date) -> str:
    """What a change of bumps SEQUENCE: the event's day and its state."""
    return f"{event_day(event).isoformat()}|{feed_state(event.status, event.latest, today)}"


def next_sequence(previous: SequenceState | None, current_fingerprint: str) -> SequenceState:
    """0 for an event seen for the first time; +1 whenever its fingerprint differs from the one
    stored; unchanged otherwise. Strictly increasing over changes, never reused."""
    if previous is None:
        return SequenceState(0, current_fingerprint)
    if previous.fingerprint == current_fingerprint:
        return previous
    return SequenceState(previous.sequence + 1, current_fingerprint)


def is_shown(
    event: FeedEvent,
    today: date,
    now: datetime,
    retention_days: int = DEFAULT_RETENTION_DAYS,
) -> bool:
    """Open events always; done ones for `retention_days` after the day they were done;
    cancelled ones for `retention_days` after they were cancelled."""
    if retention_days < 0:
        raise ValueError("retention_days: must not be negative.")
    if event.status in OPEN_STATUSES:
        return True
    if event.status == "done":
        done_on = event.completed_on or event.changed_at.date()
        return done_on >= today - timedelta(days=retention_days)
    return event.changed_at >= now - timedelta(days=retention_days)


def patient_reference(key: bytes, patient_id: int) -> str:
    """An opaque, stable reference for a patient: "P-" and 8 characters of an HMAC-SHA256 of
    the id. It tells a nurse's events apart without the MRN; only the service can map it back."""
    if not key:
        raise ValueError("key: must not be empty.")
    digest = hmac.new(key, f"patient:{patient_id}".encode(), hashlib.sha256).digest()
    return "P-" + base64.b32encode(digest[:5]).decode("ascii")


def event_uid(event_id: int, domain: str) -> str:
    """Stable across regenerations, rotations and re-dating: only the event's id."""
    return f"monitoring-event-{event_id}@{domain}"


def format_day(d: date) -> str:
    """3 Dec 2026 (unambiguous in every locale)."""
    return f"{d.day} {d:%b %Y}"


def tests_text(tests: Iterable[str]) -> str:
    return ", ".join(TEST_LABELS.get(t, t.replace("_", " ")) for t in tests)


def summary(event: FeedEvent, state: FeedState) -> str:
    """E.g. "Overdue: Monitoring bloods (methotrexate) – ALT, AST, WBC · P-ABCD2345"."""
    what = KIND_LABELS.get(event.kind, str(event.kind))
    drug = DRUG_LABELS.get(event.drug, str(event.drug))
    text = f"{what} ({drug})"
    if event.tests and event.kind is not EventKind.RESPONSE_REVIEW:
        text += f" – {tests_text(event.tests)}"
    prefix = {
        FeedState.OPEN: "",
        FeedState.OVERDUE: "Overdue: ",
        FeedState.DONE: "Done: ",
        FeedState.CANCELLED: "Cancelled: ",
    }[state]
    return f"{prefix}{text} · {event.patient_ref}"


def description(event: FeedEvent, state: FeedState) -> str:
    """The window, what happened, and why (the tests are in the summary)."""
    lines = [
        f"{format_day(event.earliest)} to {format_day(event.latest)}, target "
        f"{format_day(event.target)}; overdue after {format_day(event.latest)}.",
    ]
    if state is FeedState.DONE and event.completed_on is not None:
        lines.append(f"Done on {format_day(event.completed_on)}.")
    if state is FeedState.CANCELLED:
        lines.append("Cancelled: no longer in the monitoring plan.")
    lines.append(f"Why, and the whole plan: the chart of {event.patient_ref}, {event.chart_url}")
    return "\n".join(lines)


def to_vevent(event: FeedEvent, spec: FeedSpec, today: date) -> Event:
    """One event. Its bytes depend only on `vevent_key()`'s inputs, so they can be cached."""
    state = feed_state(event.status, event.latest, today)
    day = event_day(event)
    vevent = Event()
    vevent.add("uid", event_uid(event.event_id, spec.uid_domain))
    # When this version of the event was made (it only grows: a change writes the event or
    # bumps its sequence), so clients order versions by it, and the bytes are stable between
    # builds.
    vevent.add("dtstamp", (event.stamp or event.changed_at).astimezone(UTC))
    vevent.add("last-modified", event.changed_at.astimezone(UTC))
    vevent.add("sequence", event.sequence)
    vevent.add("dtstart", day)  # a date: an all-day event (VALUE=DATE)
    vevent.add("dtend", day + timedelta(days=1))
    vevent.add("summary", summary(event, state))
    vevent.add("description", description(event, state))
    vevent.add("url", event.chart_url)
    vevent.add("status", "CANCELLED" if state is FeedState.CANCELLED else "CONFIRMED")
    vevent.add("transp", "TRANSPARENT")  # a reminder of work, not a busy slot
    vevent.add("class", "PRIVATE")
    vevent.add("categories", ["mtxmonitor", KIND_LABELS.get(event.kind, str(event.kind))])
    return vevent


# Bump when what `to_vevent` writes changes: cached event bytes of the old format are unused.
VEVENT_FORMAT = 1


def vevent_key(event: FeedEvent, spec: FeedSpec, today: date) -> str:
    """Everything an event's bytes depend on, hashed: the whole event, its state on `today`
    (overdue or not), the UID's domain and the format version."""
    state = feed_state(event.status, event.latest, today)
    raw = repr((VEVENT_FORMAT, event, str(state), spec.uid_domain))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def vevent_bytes(event: FeedEvent, spec: FeedSpec, today: date) -> bytes:
    return to_vevent(event, spec, today).to_ical()


def shown_events(
    events: Iterable[FeedEvent],
    *,
    today: date,
    now: datetime,
    retention_days: int = DEFAULT_RETENTION_DAYS,
) -> list[FeedEvent]:
    """The events the feed holds, by day then id."""
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware.")
    shown = [e for e in events if is_shown(e, today, now, retention_days)]
    return sorted(shown, key=lambda e: (event_day(e), e.event_id))


def assemble(spec: FeedSpec, vevents: Iterable[bytes]) -> bytes:
    """The calendar (its properties by `icalendar`) around already serialised events."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", spec.name)
    cal.add("x-wr-timezone", spec.time_zone)
    if spec.description:
        cal.add("x-wr-caldesc", spec.description)
    refresh = timedelta(minutes=spec.refresh_minutes)
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))
    head = cal.to_ical()
    end = b"END:VCALENDAR\r\n"
    if not head.endswith(end):  # pragma: no cover - a change in icalendar's output
        raise RuntimeError("icalendar did not end the calendar with END:VCALENDAR.")
    return head[: -len(end)] + b"".join(vevents) + end


def build_calendar(
    spec: FeedSpec,
    events: Iterable[FeedEvent],
    *,
    today: date,
    now: datetime,
    retention_days: int = DEFAULT_RETENTION_DAYS,
) -> bytes:
    """The whole feed as bytes (CRLF lines, folded), events by day then id."""
    shown = shown_events(events, today=today, now=now, retention_days=retention_days)
    return assemble(spec, (vevent_bytes(e, spec, today) for e in shown))
