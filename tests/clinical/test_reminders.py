"""clinical.reminders: statuses, occurrences, keys, local days, backoff, chunks, digest order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from clinical.reminders import (
    DigestLine,
    EventStatus,
    Occurrence,
    Phase,
    ReminderPolicy,
    critical_key,
    days_overdue,
    digest_groups,
    digest_key,
    escalation_cutoff,
    escalation_occurrence,
    event_status,
    gives_up,
    local_day,
    nurse_occurrence,
    occurrence_key,
    pack_chunks,
    recipient_token,
    retry_delay_seconds,
)

D = date(2025, 3, 10)  # target
L = date(2025, 3, 17)  # latest (window closes)
POLICY = ReminderPolicy(lead_days=7, repeat_days=3, escalate_after_days=14)


def day(offset: int) -> date:
    return D + timedelta(days=offset)


# --- event_status: every boundary -----------------------------------------------------------
@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (day(-30), EventStatus.PLANNED),
        (day(-8), EventStatus.PLANNED),  # the day before the lead time starts
        (day(-7), EventStatus.UPCOMING),  # target - lead_days
        (day(-1), EventStatus.UPCOMING),
        (day(0), EventStatus.DUE),  # the target date
        (L, EventStatus.DUE),  # the last day of the window is still due
        (L + timedelta(days=1), EventStatus.OVERDUE),  # the first day after it
        (L + timedelta(days=400), EventStatus.OVERDUE),
    ],
)
def test_event_status_boundaries(today, expected):
    assert event_status(target=D, latest=L, today=today, lead_days=7) is expected


def test_event_status_without_lead_time_goes_straight_from_planned_to_due():
    assert event_status(target=D, latest=L, today=day(-1), lead_days=0) is EventStatus.PLANNED
    assert event_status(target=D, latest=L, today=D, lead_days=0) is EventStatus.DUE


def test_event_status_when_the_window_closes_before_the_target_says_overdue():
    # Bad data (latest < target) must still end as overdue, never "upcoming" forever.
    assert event_status(target=D, latest=day(-3), today=day(-2), lead_days=7) is EventStatus.OVERDUE


def test_days_overdue_counts_from_the_first_day_after_the_window():
    assert days_overdue(latest=L, today=L) == 0
    assert days_overdue(latest=L, today=L - timedelta(days=5)) == 0
    assert days_overdue(latest=L, today=L + timedelta(days=1)) == 1
    assert days_overdue(latest=L, today=L + timedelta(days=14)) == 14


# --- nurse_occurrence: which reminder applies today ---------------------------------------------
def test_nurse_occurrence_phase_matches_status_on_every_day_of_two_months():
    for offset in range(-40, 40):
        today = day(offset)
        status = event_status(target=D, latest=L, today=today, lead_days=POLICY.lead_days)
        occ = nurse_occurrence(target=D, latest=L, today=today, policy=POLICY)
        if status is EventStatus.PLANNED:
            assert occ is None
        else:
            assert occ is not None and occ.phase.value == status.value
            assert occ.on <= today


def test_upcoming_and_due_have_one_occurrence_each_whatever_the_day():
    upcoming = {
        nurse_occurrence(target=D, latest=L, today=day(o), policy=POLICY) for o in range(-7, 0)
    }
    due = {
        nurse_occurrence(target=D, latest=L, today=d, policy=POLICY)
        for d in (D + timedelta(days=i) for i in range((L - D).days + 1))
    }
    assert upcoming == {Occurrence(Phase.UPCOMING, day(-7), D)}
    assert due == {Occurrence(Phase.DUE, D, D)}


@pytest.mark.parametrize(
    ("days_after_latest", "expected_on_offset"),
    [
        (1, 1),  # first overdue day: occurrence 0
        (2, 1),  # still occurrence 0 (a sweep on day 2 catches up a missed day 1)
        (3, 1),
        (4, 4),  # latest + 1 + 3
        (6, 4),
        (7, 7),  # latest + 1 + 6
        (31, 31),
        (32, 31),
    ],
)
def test_overdue_occurrences_fall_on_day_0_3_6_after_the_window(
    days_after_latest, expected_on_offset
):
    today = L + timedelta(days=days_after_latest)
    occ = nurse_occurrence(target=D, latest=L, today=today, policy=POLICY)
    assert occ == Occurrence(Phase.OVERDUE, L + timedelta(days=expected_on_offset), L)


def test_overdue_occurrence_dates_over_sixty_days_are_exactly_every_repeat_interval():
    for repeat in (1, 2, 3, 7):
        policy = ReminderPolicy(lead_days=7, repeat_days=repeat)
        dates = {
            nurse_occurrence(target=D, latest=L, today=L + timedelta(days=i), policy=policy).on
            for i in range(1, 61)
        }
        expected = {L + timedelta(days=1 + k * repeat) for k in range(0, 60) if k * repeat < 60}
        assert dates == expected


# --- escalation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("after", "today_offset", "expected"),
    [
        (14, 13, None),
        (14, 14, L + timedelta(days=14)),  # overdue 14 days → escalate that day
        (14, 40, L + timedelta(days=14)),  # one occurrence per window, whenever it is found
        (1, 1, L + timedelta(days=1)),
        (0, 1, L + timedelta(days=1)),  # 0 behaves as 1: never while the window is open
        (0, 0, None),
    ],
)
def test_escalation_occurrence(after, today_offset, expected):
    policy = ReminderPolicy(escalate_after_days=after)
    occ = escalation_occurrence(latest=L, today=L + timedelta(days=today_offset), policy=policy)
    if expected is None:
        assert occ is None
    else:
        assert occ == Occurrence(Phase.ESCALATION, expected, L)


def test_escalation_cutoff_agrees_with_escalation_occurrence():
    for after in (0, 1, 3, 14):
        policy = ReminderPolicy(escalate_after_days=after)
        for offset in range(-5, 30):
            today = L + timedelta(days=offset)
            due = escalation_cutoff(today, policy) >= L
            assert due == (escalation_occurrence(latest=L, today=today, policy=policy) is not None)


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError, match="repeat_days"):
        ReminderPolicy(repeat_days=0)
    with pytest.raises(ValueError, match="lead_days"):
        ReminderPolicy(lead_days=-1)
    with pytest.raises(ValueError, match="escalate"):
        ReminderPolicy(escalate_after_days=-1)


# --- keys ----------------------------------------------------------------------------------------
def test_keys_name_what_for_whom_and_which_occurrence():
    nurse = recipient_token(nurse_id=5, clinic_id=2)
    contact = recipient_token(nurse_id=None, clinic_id=2)
    assert (nurse, contact) == ("nurse-5", "clinic-2")
    assert occurrence_key(Occurrence(Phase.UPCOMING, day(-7), D), event_id=9, recipient=nurse) == (
        "upcoming:event=9:target=2025-03-10:to=nurse-5"
    )
    assert occurrence_key(Occurrence(Phase.DUE, D, D), event_id=9, recipient=nurse) == (
        "due:event=9:target=2025-03-10:to=nurse-5"
    )
    assert (
        occurrence_key(
            Occurrence(Phase.OVERDUE, L + timedelta(days=4), L), event_id=9, recipient=nurse
        )
        == "overdue:event=9:latest=2025-03-17:on=2025-03-21:to=nurse-5"
    )
    assert (
        occurrence_key(
            Occurrence(Phase.ESCALATION, L + timedelta(days=14), L), event_id=9, recipient=contact
        )
        == "escalation:event=9:latest=2025-03-17:to=clinic-2"
    )
    assert digest_key(kind="digest", recipient=nurse, on=D) == "digest:to=nurse-5:on=2025-03-10"
    assert critical_key(alert_id=3, recipient=nurse) == "critical:alert=3:to=nurse-5"
    assert (
        critical_key(alert_id=3, recipient=nurse, result_id=8, version=2)
        == "critical:result=8:v=2:to=nurse-5"
    )


def test_every_day_of_an_events_life_yields_distinct_keys_only_per_occurrence():
    keys_by_day = {}
    for offset in range(-10, 18):  # through latest + 10
        today = day(offset)
        occ = nurse_occurrence(target=D, latest=L, today=today, policy=POLICY)
        if occ:
            keys_by_day[today] = occurrence_key(occ, event_id=1, recipient="nurse-1")
    # upcoming (1) + due (1) + overdue on L+1, L+4, L+7, L+10 (4) = 6 distinct reminders
    assert len(set(keys_by_day.values())) == 6


def test_a_re_dated_event_gets_new_keys():
    before = nurse_occurrence(target=D, latest=L, today=D, policy=POLICY)
    after = nurse_occurrence(target=day(3), latest=L, today=day(3), policy=POLICY)
    assert occurrence_key(before, event_id=1, recipient="r") != occurrence_key(
        after, event_id=1, recipient="r"
    )


# --- local day: the clinic's clock across daylight saving ------------------------------------
@pytest.mark.parametrize(
    ("utc", "tz", "hour", "expected_date", "reached"),
    [
        # London, spring forward (2025-03-30 01:00 UTC): 08:00 BST is 07:00 UTC.
        ("2025-03-29T07:30", "Europe/London", 8, date(2025, 3, 29), False),
        ("2025-03-30T07:30", "Europe/London", 8, date(2025, 3, 30), True),
        ("2025-03-30T23:30", "Europe/London", 8, date(2025, 3, 31), False),  # 00:30 BST
        # Reminder hour inside the skipped hour (01:00 local): reached at 02:00 BST, not skipped.
        ("2025-03-30T00:59", "Europe/London", 1, date(2025, 3, 30), False),
        ("2025-03-30T01:00", "Europe/London", 1, date(2025, 3, 30), True),
        # London, fall back (2025-10-26 01:00 UTC): 08:00 GMT is 08:00 UTC.
        ("2025-10-25T07:30", "Europe/London", 8, date(2025, 10, 25), True),  # 08:30 BST
        ("2025-10-26T07:30", "Europe/London", 8, date(2025, 10, 26), False),  # 07:30 GMT
        ("2025-10-25T23:30", "Europe/London", 8, date(2025, 10, 26), False),  # 00:30 BST
        ("2025-10-26T00:30", "Europe/London", 1, date(2025, 10, 26), True),  # 01:30 BST
        ("2025-10-26T01:30", "Europe/London", 1, date(2025, 10, 26), True),  # 01:30 GMT again
        # New York, spring forward (2025-03-09 07:00 UTC): 08:00 EDT is 12:00 UTC.
        ("2025-03-08T12:30", "America/New_York", 8, date(2025, 3, 8), False),  # 07:30 EST
        ("2025-03-09T12:30", "America/New_York", 8, date(2025, 3, 9), True),  # 08:30 EDT
        ("2025-03-09T04:30", "America/New_York", 8, date(2025, 3, 8), True),  # 23:30 EST
        ("2025-03-10T03:30", "America/New_York", 8, date(2025, 3, 9), True),  # 23:30 EDT
        # New York, fall back (2025-11-02 06:00 UTC): 08:00 EST is 13:00 UTC.
        ("2025-11-01T12:30", "America/New_York", 8, date(2025, 11, 1), True),  # 08:30 EDT
        ("2025-11-02T12:30", "America/New_York", 8, date(2025, 11, 2), False),  # 07:30 EST
        ("2025-11-03T04:30", "America/New_York", 8, date(2025, 11, 2), True),  # 23:30 EST
    ],
)
def test_local_day_follows_the_clinic_clock(utc, tz, hour, expected_date, reached):
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    result = local_day(now, tz, hour)
    assert (result.today, result.send_hour_reached) == (expected_date, reached)


def test_every_hour_of_a_dst_week_reaches_the_send_hour_on_each_local_day_exactly_once():
    for tz, start in (
        ("Europe/London", "2025-03-27"),
        ("Europe/London", "2025-10-23"),
        ("America/New_York", "2025-03-06"),
        ("America/New_York", "2025-10-30"),
    ):
        first_reached: dict[date, int] = {}
        waited: set[date] = set()  # days seen before their send hour (skips the partial first)
        now = datetime.fromisoformat(start).replace(tzinfo=UTC)
        for _ in range(24 * 7):
            ld = local_day(now, tz, 8)
            if not ld.send_hour_reached:
                waited.add(ld.today)
            elif ld.today in waited and ld.today not in first_reached:
                first_reached[ld.today] = ld.local_time.hour
            now += timedelta(hours=1)
        assert len(first_reached) >= 6
        assert set(first_reached.values()) == {8}, (tz, first_reached)


def test_local_day_refuses_naive_instants_and_bad_hours():
    with pytest.raises(ValueError, match="aware"):
        local_day(datetime(2025, 1, 1, 8), "Europe/London", 8)
    with pytest.raises(ValueError, match="0–23"):
        local_day(datetime(2025, 1, 1, 8, tzinfo=UTC), "Europe/London", 24)


# --- delivery -------------------------------------------------------------------------------------
def test_retry_delay_doubles_from_the_base_up_to_the_cap():
    delays = [retry_delay_seconds(n, base=60, cap=3600) for n in range(1, 10)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert retry_delay_seconds(1000, base=60, cap=3600) == 3600
    with pytest.raises(ValueError):
        retry_delay_seconds(0, base=60, cap=3600)


def test_gives_up_on_the_last_allowed_attempt():
    assert [gives_up(n, max_attempts=3) for n in (1, 2, 3, 4)] == [False, False, True, True]


# --- chunks ---------------------------------------------------------------------------------------
def test_pack_chunks_keeps_groups_whole_and_near_the_size():
    groups = [("a", 3), ("b", 3), ("c", 5), ("d", 1), ("e", 12), ("f", 2)]
    assert pack_chunks(groups, 6) == [["a", "b"], ["c", "d"], ["e"], ["f"]]
    assert pack_chunks(groups, 100) == [["a", "b", "c", "d", "e", "f"]]
    assert pack_chunks(groups, 1) == [["a"], ["b"], ["c"], ["d"], ["e"], ["f"]]
    assert pack_chunks([], 10) == []
    with pytest.raises(ValueError):
        pack_chunks(groups, 0)


def test_pack_chunks_loses_and_repeats_no_group():
    groups = [(i, (i * 7) % 13 + 1) for i in range(200)]
    for size in (1, 5, 13, 50, 1000):
        chunks = pack_chunks(groups, size)
        assert [g for c in chunks for g in c] == [g for g, _ in groups]
        for c in chunks:
            total = sum(dict(groups)[g] for g in c)
            assert total <= size or len(c) == 1


# --- digest order -----------------------------------------------------------------------------------
def test_digest_groups_by_patient_soonest_first_one_line_per_event():
    lines = [
        DigestLine(patient_id=1, event_id=10, phase=Phase.UPCOMING, target=day(7), on=day(0)),
        DigestLine(patient_id=2, event_id=20, phase=Phase.DUE, target=day(0), on=day(0)),
        DigestLine(patient_id=1, event_id=11, phase=Phase.OVERDUE, target=day(-20), on=day(-3)),
        # a catch-up: two overdue occurrences of one event collapse to the latest
        DigestLine(patient_id=1, event_id=11, phase=Phase.OVERDUE, target=day(-20), on=day(0)),
        DigestLine(patient_id=3, event_id=30, phase=Phase.UPCOMING, target=day(2), on=day(0)),
    ]
    groups = digest_groups(lines)
    assert [g.patient_id for g in groups] == [1, 2, 3]
    assert [(ln.event_id, ln.on) for ln in groups[0].lines] == [(11, day(0)), (10, day(0))]
    assert [len(g.lines) for g in groups] == [2, 1, 1]
