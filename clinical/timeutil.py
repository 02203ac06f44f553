"""Local dates and times for the clinical core (public API, stable).

The planner and the lab rules work on *local calendar dates*: "blood taken on 2026-03-02" means
the date on the clinic's wall calendar, not the UTC date. A result collected at 23:30 in London
in summer is already the next day in UTC; using the UTC date would move a draw by a day and can
turn an on-time draw into a late one. So every datetime is converted here, once, with an explicit
IANA time-zone name, and naive datetimes are refused rather than guessed.

Public functions (called by the Django layer):

- ``local_date(dt, tz_name) -> date``: the local calendar date of an aware datetime.
- ``local_today(now_utc, tz_name) -> date``: "today" for a clinic, from an aware ``now``.
- ``local_datetime(d, hour, tz_name, minute=0) -> datetime``: an aware datetime at a local wall
  time on a date (e.g. reminders at 08:00 local).

Daylight-saving rule for ``local_datetime`` (deterministic, documented):

- a wall time that does not exist (spring forward, e.g. 01:30 in London on the last Sunday of
  March) is moved *forward by the length of the gap* (01:30 becomes 02:30 BST). This is the
  ``fold=0`` reading of PEP 495 normalised through UTC, so the result is a real wall time and is
  never earlier than asked;
- a wall time that happens twice (fall back, e.g. 01:30 on the last Sunday of October) is the
  *first* occurrence (the earlier instant, still on summer time; PEP 495 ``fold=0``).

The returned datetime carries the ``ZoneInfo``. Note PEP 495: an *ambiguous* local datetime
compares unequal (``==``) to every datetime in another zone, even at the same instant; compare
``dt.astimezone(UTC)`` values (Django stores UTC, so saving is unaffected).

Sources: Python ``zoneinfo`` (PEP 615) and PEP 495 (``fold``); the IANA tz database (system
tzdata). No clinical source: this module only fixes what "a date" means for the rest of the core
(REF §1–3 intervals are counted in local calendar days).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clinical.types import ClinicalInputError

__all__ = ["local_date", "local_datetime", "local_today", "zone"]


def zone(tz_name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name; an unknown or empty name is a ``ClinicalInputError``."""
    if not isinstance(tz_name, str) or not tz_name.strip():
        raise ClinicalInputError("tz_name", "a time-zone name such as 'Europe/London' is required")
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ClinicalInputError("tz_name", f"unknown time zone {tz_name!r}") from exc


def _require_aware(dt: datetime, field: str) -> None:
    if not isinstance(dt, datetime):
        raise ClinicalInputError(field, f"expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ClinicalInputError(
            field,
            "naive datetime refused: give an aware datetime (with a time zone), "
            "the local date cannot be guessed",
        )


def local_date(dt: datetime, tz_name: str) -> date:
    """The calendar date of the aware datetime ``dt`` in the time zone ``tz_name``.

    >>> from datetime import datetime, timezone
    >>> local_date(datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc), "Europe/London")
    datetime.date(2026, 7, 1)
    """
    _require_aware(dt, "dt")
    return dt.astimezone(zone(tz_name)).date()


def local_today(now_utc: datetime, tz_name: str) -> date:
    """Today's date for a clinic in ``tz_name``, given the current aware instant ``now_utc``.

    ``now_utc`` need not be in UTC, only aware; the name says what callers normally pass.
    """
    _require_aware(now_utc, "now_utc")
    return now_utc.astimezone(zone(tz_name)).date()


def local_datetime(d: date, hour: int, tz_name: str, minute: int = 0) -> datetime:
    """The aware datetime at ``hour:minute`` local wall time on ``d`` in ``tz_name``.

    Nonexistent wall times (spring-forward gap) move forward by the gap; ambiguous ones
    (fall-back overlap) take the first, earlier occurrence (see the module docstring).
    The returned datetime carries the ``ZoneInfo`` and a real wall time.
    """
    if isinstance(d, datetime) or not isinstance(d, date):
        raise ClinicalInputError("d", "expected a date (not a datetime)")
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ClinicalInputError("hour", f"hour must be an integer 0–23, got {hour!r}")
    if isinstance(minute, bool) or not isinstance(minute, int) or not 0 <= minute <= 59:
        raise ClinicalInputError("minute", f"minute must be an integer 0–59, got {minute!r}")
    tz = zone(tz_name)
    wall = datetime.combine(d, time(hour, minute), tzinfo=tz)  # fold=0
    # Round-trip through UTC: a time in a gap comes back as the real wall time after the gap;
    # an ambiguous time keeps fold=0, the first occurrence.
    return wall.astimezone(UTC).astimezone(tz)
