"""Daylight saving: every status change and reminder on the clinic's right local day.

The sweep runs every hour of twelve days around each change (London and New York, spring and
autumn) with the clock moved by time_machine, through the cron command as production runs it.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from schedules.models import MonitoringEvent, Notification, Reminder
from tests.conftest import make_member
from tests.reminders.conftest import body, make_event, make_patient, sweep

SCENARIOS = {
    # (time zone, the local date of the change)
    "london-spring": ("Europe/London", date(2025, 3, 30)),
    "london-autumn": ("Europe/London", date(2025, 10, 26)),
    "new-york-spring": ("America/New_York", date(2025, 3, 9)),
    "new-york-autumn": ("America/New_York", date(2025, 11, 2)),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_hourly_sweeps_across_a_dst_change_put_every_reminder_on_the_right_local_day(
    scenario, clinic, smtp
):
    tz_name, change = SCENARIOS[scenario]
    tz = zoneinfo.ZoneInfo(tz_name)
    clinic.time_zone = tz_name
    clinic.save()
    nurse = make_member(clinic, "nell", "nurse")
    patient = make_patient(clinic, "DST-1", nurse)

    def d(k: int) -> date:
        return change + timedelta(days=k)

    due = {k: make_event(patient, d(k), latest=d(k + 5)) for k in (-1, 0, 1)}  # due on C-1..C+1
    upcoming = {k: make_event(patient, d(k + 7), latest=d(k + 14)) for k in (-1, 0, 1)}
    overdue = {k: make_event(patient, d(k - 5), latest=d(k - 1)) for k in (-1, 0, 1)}

    first_seen: dict[tuple[int, str], datetime] = {}  # (event, status) → local time first seen
    instant = datetime.combine(d(-9), datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(d(2), datetime.min.time(), tzinfo=UTC)
    with time_machine.travel(instant, tick=False) as clock:
        while instant < end:
            clock.move_to(instant)
            sweep()
            for event_id, status in MonitoringEvent.objects.values_list("id", "status"):
                first_seen.setdefault((event_id, status), instant.astimezone(tz))
            instant += timedelta(hours=1)

    # Status changes happen in the first hourly run of the right local day.
    for k in (-1, 0, 1):
        became_due = first_seen[(due[k].id, "due")]
        became_overdue = first_seen[(overdue[k].id, "overdue")]
        became_upcoming = first_seen[(upcoming[k].id, "upcoming")]
        assert (became_due.date(), became_due.hour) == (d(k), 0), scenario
        assert (became_overdue.date(), became_overdue.hour) == (d(k), 0), scenario
        assert (became_upcoming.date(), became_upcoming.hour) == (d(k), 0), scenario

    # Every reminder fell due on its local day and went out in that day's digest.
    expected_due_on = {}
    for k in (-1, 0, 1):
        expected_due_on[("due", due[k].id)] = d(k)
        expected_due_on[("upcoming", due[k].id)] = d(k - 7)
        expected_due_on[("upcoming", upcoming[k].id)] = d(k)
        expected_due_on[("overdue", overdue[k].id)] = d(k)
        expected_due_on[("due", overdue[k].id)] = d(k - 5)
        expected_due_on[("upcoming", overdue[k].id)] = d(k - 12)
    simulated = (d(-9), d(1))  # whole local days inside the simulated hours
    seen = {}
    for r in Reminder.objects.exclude(phase="escalation").select_related("notification"):
        if not simulated[0] <= r.due_on <= simulated[1]:
            continue  # fell due before the simulation started, or after it ended
        seen[(r.phase, r.event_id)] = r.due_on
        assert r.notification is not None and r.notification.state == "sent", r.key
        assert r.notification.for_date == r.due_on, r.key
    assert seen == {k: v for k, v in expected_due_on.items() if simulated[0] <= v <= simulated[1]}

    # One digest per local day with something to say, sent in the 08:00 hour local time.
    digests = list(Notification.objects.filter(kind="digest").order_by("for_date"))
    assert len({n.for_date for n in digests}) == len(digests) == len(smtp.messages)
    for n in digests:
        if n.for_date < simulated[0]:
            continue  # New York's partial first evening: the backlog goes out at once
        sent = n.sent_at.astimezone(tz)
        assert (sent.date(), sent.hour) == (n.for_date, 8), (scenario, n.for_date, sent)
    change_day = next(n for n in digests if n.for_date == change)
    text = next(body(m) for m in smtp.messages if m["Message-ID"].strip() == change_day.message_id)
    assert f"due today, {change:%a} {change.day} {change:%b %Y}" in text


@pytest.mark.parametrize(
    ("tz_name", "utc", "expected_local_date"),
    [
        # 23:30 UTC on the day BST begins is already 00:30 on the next local day in London.
        ("Europe/London", "2025-03-30T23:30", date(2025, 3, 31)),
        # 23:30 UTC the night before BST ends is 00:30 BST on the change day.
        ("Europe/London", "2025-10-25T23:30", date(2025, 10, 26)),
        # 04:30 UTC on the day EDT begins is still 23:30 EST the evening before in New York.
        ("America/New_York", "2025-03-09T04:30", date(2025, 3, 8)),
        # 04:30 UTC the day after EDT ends is 23:30 EST on the change day.
        ("America/New_York", "2025-11-03T04:30", date(2025, 11, 2)),
    ],
)
def test_a_window_closes_at_local_midnight_not_utc_midnight(
    tz_name, utc, expected_local_date, clinic, patient
):
    clinic.time_zone = tz_name
    clinic.save()
    closing_today = make_event(
        patient, expected_local_date - timedelta(days=3), latest=expected_local_date
    )
    closed_yesterday = make_event(
        patient,
        expected_local_date - timedelta(days=3),
        latest=expected_local_date - timedelta(days=1),
    )
    with time_machine.travel(datetime.fromisoformat(utc).replace(tzinfo=UTC), tick=False):
        sweep()
    closing_today.refresh_from_db()
    closed_yesterday.refresh_from_db()
    assert (closing_today.status, closed_yesterday.status) == ("due", "overdue")
    overdue = Reminder.objects.get(event=closed_yesterday, phase="overdue")
    assert overdue.due_on == expected_local_date
