"""Local dates and wall times across DST (clinical.timeutil)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.timeutil import local_date, local_datetime, local_today
from clinical.types import ClinicalInputError

LONDON = "Europe/London"
NEW_YORK = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        # London winter (GMT = UTC): late evening stays on the same date
        (utc(2026, 1, 15, 23, 30), LONDON, date(2026, 1, 15)),
        # London summer (BST = UTC+1): 23:30 UTC is already tomorrow
        (utc(2026, 6, 30, 23, 30), LONDON, date(2026, 7, 1)),
        (utc(2026, 6, 30, 22, 59), LONDON, date(2026, 6, 30)),
        (utc(2026, 6, 30, 23, 0), LONDON, date(2026, 7, 1)),
        # spring forward day in London (01:00 UTC): before and after the change
        (utc(2026, 3, 28, 23, 59), LONDON, date(2026, 3, 28)),
        (utc(2026, 3, 29, 0, 30), LONDON, date(2026, 3, 29)),
        # autumn: 2026-10-25 01:00 UTC is 01:00 GMT; 2026-10-24 23:00 UTC is 00:00 BST next day
        (utc(2026, 10, 24, 22, 59), LONDON, date(2026, 10, 24)),
        (utc(2026, 10, 24, 23, 0), LONDON, date(2026, 10, 25)),
        # New York: UTC early morning is still yesterday evening
        (utc(2026, 3, 9, 3, 30), NEW_YORK, date(2026, 3, 8)),  # EDT (-4): 23:30 on the 8th
        (utc(2026, 3, 8, 4, 30), NEW_YORK, date(2026, 3, 7)),  # EST (-5): 23:30 on the 7th
        (utc(2026, 11, 2, 4, 30), NEW_YORK, date(2026, 11, 1)),  # EST again: 23:30 on 1 Nov
        (utc(2026, 11, 2, 5, 0), NEW_YORK, date(2026, 11, 2)),
        # an aware non-UTC input works too
        (
            datetime(2026, 6, 1, 7, 0, tzinfo=timezone(timedelta(hours=9))),
            LONDON,
            date(2026, 5, 31),
        ),
    ],
)
def test_local_date(instant: datetime, tz: str, expected: date) -> None:
    assert local_date(instant, tz) == expected
    assert local_today(instant, tz) == expected


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ClinicalInputError) as err:
        local_date(datetime(2026, 6, 30, 23, 30), LONDON)
    assert err.value.field == "dt"
    assert "naive" in err.value.reason
    with pytest.raises(ClinicalInputError) as err:
        local_today(datetime(2026, 6, 30, 23, 30), LONDON)
    assert err.value.field == "now_utc"


@pytest.mark.parametrize("tz", ["", "   ", "Europe/Londn", "Not/AZone", "../etc/passwd"])
def test_unknown_time_zones_are_refused(tz: str) -> None:
    with pytest.raises(ClinicalInputError) as err:
        local_date(utc(2026, 1, 1), tz)
    assert err.value.field == "tz_name"


@pytest.mark.parametrize(
    ("day", "hour", "minute", "tz", "expected_utc", "expected_local_hour"),
    [
        # 08:00 on ordinary and on DST-change days
        (date(2026, 1, 15), 8, 0, LONDON, utc(2026, 1, 15, 8, 0), 8),
        (date(2026, 3, 29), 8, 0, LONDON, utc(2026, 3, 29, 7, 0), 8),  # spring forward day
        (date(2026, 10, 25), 8, 0, LONDON, utc(2026, 10, 25, 8, 0), 8),  # fall back day
        (date(2026, 3, 8), 8, 0, NEW_YORK, utc(2026, 3, 8, 12, 0), 8),
        (date(2026, 11, 1), 8, 0, NEW_YORK, utc(2026, 11, 1, 13, 0), 8),
        # nonexistent wall times move forward by the gap (one hour)
        (date(2026, 3, 29), 1, 30, LONDON, utc(2026, 3, 29, 1, 30), 2),
        (date(2026, 3, 8), 2, 30, NEW_YORK, utc(2026, 3, 8, 7, 30), 3),
        # ambiguous wall times take the first (earlier, summer-time) occurrence
        (date(2026, 10, 25), 1, 30, LONDON, utc(2026, 10, 25, 0, 30), 1),
        (date(2026, 11, 1), 1, 30, NEW_YORK, utc(2026, 11, 1, 5, 30), 1),
        # midnight and 23:00
        (date(2026, 7, 1), 0, 0, LONDON, utc(2026, 6, 30, 23, 0), 0),
        (date(2026, 7, 1), 23, 0, NEW_YORK, utc(2026, 7, 2, 3, 0), 23),
    ],
)
def test_local_datetime(
    day: date, hour: int, minute: int, tz: str, expected_utc: datetime, expected_local_hour: int
) -> None:
    result = local_datetime(day, hour, tz, minute=minute)
    assert result.tzinfo is not None
    # compare in UTC: PEP 495 makes an ambiguous local time unequal to other zones
    assert result.astimezone(UTC) == expected_utc
    assert result.hour == expected_local_hour
    assert result.minute == minute
    assert result.date() == day
    assert local_date(result, tz) == day


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"d": date(2026, 1, 1), "hour": 24}, "hour"),
        ({"d": date(2026, 1, 1), "hour": -1}, "hour"),
        ({"d": date(2026, 1, 1), "hour": True}, "hour"),
        ({"d": date(2026, 1, 1), "hour": "8"}, "hour"),
        ({"d": date(2026, 1, 1), "hour": 8, "minute": 60}, "minute"),
        ({"d": datetime(2026, 1, 1, 8, tzinfo=UTC), "hour": 8}, "d"),
        ({"d": "2026-01-01", "hour": 8}, "d"),
    ],
)
def test_local_datetime_refuses_bad_input(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ClinicalInputError) as err:
        local_datetime(tz_name=LONDON, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    hour=st.integers(0, 23),
    tz=st.sampled_from([LONDON, NEW_YORK, "Australia/Sydney", "UTC", "Asia/Kolkata"]),
)
def test_local_datetime_round_trips_to_the_same_local_date(day: date, hour: int, tz: str) -> None:
    result = local_datetime(day, hour, tz)
    assert local_date(result, tz) == day
    # the wall hour is the one asked for, or one later inside a spring-forward gap
    assert result.hour in (hour, hour + 1)
