"""clinical.calendar_feed: states, sequences, what is shown, UIDs, references, the iCalendar."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest

from clinical.calendar_feed import (
    DEFAULT_RETENTION_DAYS,
    FeedEvent,
    FeedSpec,
    FeedState,
    SequenceState,
    assemble,
    build_calendar,
    event_day,
    event_uid,
    feed_state,
    fingerprint,
    is_shown,
    next_sequence,
    patient_reference,
    summary,
    to_vevent,
    vevent_bytes,
    vevent_key,
)
from clinical.codes import Drug, EventKind

TODAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
SPEC = FeedSpec(name="Northside: monitoring", time_zone="Europe/London", uid_domain="mtx.test")


def ev(**kw) -> FeedEvent:
    fields = {
        "event_id": 7,
        "kind": EventKind.ROUTINE,
        "drug": Drug.METHOTREXATE,
        "tests": ("alt", "ast", "wbc"),
        "earliest": TODAY - timedelta(days=3),
        "target": TODAY,
        "latest": TODAY + timedelta(days=7),
        "status": "due",
        "completed_on": None,
        "changed_at": NOW - timedelta(days=1),
        "patient_ref": "P-ABCDEFGH",
        "chart_url": "https://mtx.test/staff/patients/42/",
    }
    fields.update(kw)
    return FeedEvent(**fields)


def parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def vevents(body: bytes) -> list:
    return list(parse(body).walk("VEVENT"))


# --- feed_state ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["planned", "upcoming", "due", "overdue"])
def test_an_open_event_is_open_through_its_latest_day(status):
    assert feed_state(status, latest=TODAY, today=TODAY) is FeedState.OPEN


@pytest.mark.parametrize("status", ["planned", "upcoming", "due", "overdue"])
def test_an_open_event_is_overdue_the_day_after_its_latest_day(status):
    # From the dates, not the stored status (the sweep may not have run yet today).
    assert feed_state(status, latest=TODAY - timedelta(days=1), today=TODAY) is FeedState.OVERDUE


def test_done_and_cancelled_are_their_own_states_whatever_the_dates():
    past = TODAY - timedelta(days=100)
    assert feed_state("done", latest=past, today=TODAY) is FeedState.DONE
    assert feed_state("cancelled", latest=past, today=TODAY) is FeedState.CANCELLED


def test_an_unknown_status_is_refused_by_name():
    with pytest.raises(ValueError, match="status"):
        feed_state("snoozed", latest=TODAY, today=TODAY)
    with pytest.raises(ValueError, match="status"):
        ev(status="snoozed")


def test_a_naive_changed_at_is_refused():
    with pytest.raises(ValueError, match="changed_at"):
        ev(changed_at=datetime(2026, 3, 1, 9, 0))


# --- event_day and fingerprint ---------------------------------------------------------------
def test_an_open_event_sits_on_its_target_and_a_done_one_on_the_day_it_was_done():
    assert event_day(ev()) == TODAY
    done = ev(status="done", completed_on=TODAY - timedelta(days=2))
    assert event_day(done) == TODAY - timedelta(days=2)
    assert event_day(ev(status="done", completed_on=None)) == TODAY


def test_the_fingerprint_changes_with_the_date_and_the_state_only():
    base = fingerprint(ev(), TODAY)
    assert fingerprint(ev(target=TODAY + timedelta(days=1)), TODAY) != base
    assert fingerprint(ev(status="cancelled"), TODAY) != base
    assert fingerprint(ev(status="done", completed_on=TODAY), TODAY) != base
    assert fingerprint(ev(latest=TODAY - timedelta(days=1)), TODAY) != base  # now overdue
    # planned -> upcoming -> due is time passing, not a change of the event
    assert fingerprint(ev(status="planned"), TODAY) == base
    assert fingerprint(ev(status="upcoming"), TODAY) == base
    assert fingerprint(ev(tests=("alt",), changed_at=NOW), TODAY) == base


# --- next_sequence ---------------------------------------------------------------------------
def test_a_new_event_starts_at_sequence_zero():
    assert next_sequence(None, "a") == SequenceState(0, "a")


def test_the_sequence_is_kept_while_nothing_changes():
    prev = SequenceState(3, "a")
    assert next_sequence(prev, "a") is prev


def test_the_sequence_increases_on_every_change_and_never_repeats():
    state = next_sequence(None, "2026-03-10|open")
    seen = [state.sequence]
    for fp in ["2026-03-12|open", "2026-03-12|overdue", "2026-03-10|open", "2026-03-10|cancelled"]:
        state = next_sequence(state, fp)
        seen.append(state.sequence)
    assert seen == [0, 1, 2, 3, 4]
    # going back to an earlier date is still a change (a client must take it)
    assert next_sequence(state, "2026-03-12|open").sequence == 5


# --- is_shown --------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["planned", "upcoming", "due", "overdue"])
def test_open_events_are_always_shown(status):
    assert is_shown(ev(status=status, target=TODAY - timedelta(days=400)), TODAY, NOW)


def test_a_cancelled_event_is_shown_for_the_retention_days_after_it_was_cancelled():
    edge = NOW - timedelta(days=DEFAULT_RETENTION_DAYS)
    assert is_shown(ev(status="cancelled", changed_at=edge), TODAY, NOW)
    gone = edge - timedelta(seconds=1)
    assert not is_shown(ev(status="cancelled", changed_at=gone), TODAY, NOW)
    assert is_shown(ev(status="cancelled", changed_at=gone), TODAY, NOW, retention_days=31)


def test_a_done_event_is_shown_for_the_retention_days_after_the_day_it_was_done():
    edge = TODAY - timedelta(days=DEFAULT_RETENTION_DAYS)
    assert is_shown(ev(status="done", completed_on=edge), TODAY, NOW)
    assert not is_shown(ev(status="done", completed_on=edge - timedelta(days=1)), TODAY, NOW)


def test_a_negative_retention_is_refused():
    with pytest.raises(ValueError, match="retention_days"):
        is_shown(ev(), TODAY, NOW, retention_days=-1)


# --- references and UIDs ---------------------------------------------------------------------
def test_the_patient_reference_is_stable_opaque_and_differs_between_patients():
    key = b"k" * 32
    ref = patient_reference(key, 42)
    assert ref == patient_reference(key, 42)
    assert ref.startswith("P-") and len(ref) == 10 and "42" not in ref
    assert patient_reference(key, 43) != ref
    assert patient_reference(b"other key", 42) != ref
    with pytest.raises(ValueError, match="key"):
        patient_reference(b"", 42)


def test_the_uid_depends_only_on_the_event_id():
    assert event_uid(7, "mtx.test") == "monitoring-event-7@mtx.test"
    a = vevents(build_calendar(SPEC, [ev()], today=TODAY, now=NOW))[0]
    b = vevents(
        build_calendar(
            SPEC,
            [ev(target=TODAY + timedelta(days=5), status="cancelled", sequence=4)],
            today=TODAY + timedelta(days=1),
            now=NOW + timedelta(days=1),
        )
    )[0]
    assert str(a["UID"]) == str(b["UID"]) == "monitoring-event-7@mtx.test"


# --- summary ---------------------------------------------------------------------------------
def test_the_summary_says_what_for_which_drug_and_the_reference():
    text = summary(ev(), FeedState.OPEN)
    assert text == "Monitoring bloods (methotrexate) – ALT, AST, WBC · P-ABCDEFGH"
    assert summary(ev(), FeedState.OVERDUE).startswith("Overdue: ")
    assert summary(ev(), FeedState.CANCELLED).startswith("Cancelled: ")
    assert summary(ev(), FeedState.DONE).startswith("Done: ")
    review = ev(kind=EventKind.RESPONSE_REVIEW, drug=Drug.MYCOPHENOLATE_MOFETIL)
    assert summary(review, FeedState.OPEN) == "Response review (mycophenolate) · P-ABCDEFGH"
    xray = ev(kind=EventKind.BASELINE, tests=("chest_xray",))
    assert "chest X-ray" in summary(xray, FeedState.OPEN)


# --- the calendar ----------------------------------------------------------------------------
def test_the_calendar_parses_and_has_its_name_time_zone_and_refresh():
    cal = parse(build_calendar(SPEC, [ev()], today=TODAY, now=NOW))
    assert str(cal["X-WR-CALNAME"]) == "Northside: monitoring"
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/London"
    assert str(cal["VERSION"]) == "2.0" and str(cal["METHOD"]) == "PUBLISH"
    assert cal["REFRESH-INTERVAL"].dt == timedelta(hours=1)
    assert b"X-PUBLISHED-TTL:PT1H" in cal.to_ical()


def test_an_event_is_all_day_on_its_target_with_its_status_sequence_and_link():
    (v,) = vevents(build_calendar(SPEC, [ev(sequence=3)], today=TODAY, now=NOW))
    assert v["DTSTART"].dt == TODAY and not isinstance(v["DTSTART"].dt, datetime)
    assert v["DTEND"].dt == TODAY + timedelta(days=1)
    assert v["DTSTAMP"].dt == NOW - timedelta(days=1)  # this version's: changed_at by default
    assert v["LAST-MODIFIED"].dt == NOW - timedelta(days=1)
    assert int(v["SEQUENCE"]) == 3
    assert str(v["STATUS"]) == "CONFIRMED"
    assert str(v["URL"]) == "https://mtx.test/staff/patients/42/"
    assert str(v["TRANSP"]) == "TRANSPARENT"
    desc = str(v["DESCRIPTION"])
    assert "7 Mar 2026 to 17 Mar 2026, target 10 Mar 2026" in desc
    assert "P-ABCDEFGH" in desc and "https://mtx.test/staff/patients/42/" in desc


def test_a_cancelled_event_is_status_cancelled():
    (v,) = vevents(build_calendar(SPEC, [ev(status="cancelled")], today=TODAY, now=NOW))
    assert str(v["STATUS"]) == "CANCELLED"
    assert str(v["SUMMARY"]).startswith("Cancelled: ")


def test_an_overdue_event_stays_on_its_target_day_titled_overdue():
    late = ev(target=TODAY - timedelta(days=10), latest=TODAY - timedelta(days=3))
    (v,) = vevents(build_calendar(SPEC, [late], today=TODAY, now=NOW))
    assert v["DTSTART"].dt == TODAY - timedelta(days=10)
    assert str(v["SUMMARY"]).startswith("Overdue: ") and str(v["STATUS"]) == "CONFIRMED"


def test_events_past_retention_are_left_out_and_the_rest_ordered_by_day():
    old = ev(event_id=1, status="cancelled", changed_at=NOW - timedelta(days=40))
    later = ev(event_id=2, target=TODAY + timedelta(days=20), latest=TODAY + timedelta(days=27))
    sooner = ev(event_id=3)
    body = build_calendar(SPEC, [old, later, sooner], today=TODAY, now=NOW)
    assert [str(v["UID"]).split("@")[0] for v in vevents(body)] == [
        "monitoring-event-3",
        "monitoring-event-2",
    ]


def test_dtstamp_is_the_versions_stamp_when_given():
    stamp = NOW - timedelta(hours=2)
    (v,) = vevents(build_calendar(SPEC, [ev(stamp=stamp)], today=TODAY, now=NOW))
    assert v["DTSTAMP"].dt == stamp and v["LAST-MODIFIED"].dt == NOW - timedelta(days=1)
    with pytest.raises(ValueError, match="stamp"):
        ev(stamp=datetime(2026, 3, 1, 9, 0))


# --- the cache key of an event's bytes -------------------------------------------------------
def test_the_vevent_key_changes_with_everything_the_bytes_depend_on():
    base = vevent_key(ev(), SPEC, TODAY)
    assert vevent_key(ev(), SPEC, TODAY) == base
    assert vevent_key(ev(), SPEC, TODAY + timedelta(days=1)) == base  # same state next day
    for other in (
        ev(sequence=1),
        ev(target=TODAY + timedelta(days=1)),
        ev(status="cancelled"),
        ev(tests=("alt",)),
        ev(patient_ref="P-ZZZZZZZZ"),
        ev(chart_url="https://other.test/staff/patients/42/"),
        ev(changed_at=NOW),
        ev(stamp=NOW),
    ):
        assert vevent_key(other, SPEC, TODAY) != base, other
    assert vevent_key(ev(), replace(SPEC, uid_domain="other.test"), TODAY) != base
    # overdue from the next day on: the title changes, so must the key
    assert vevent_key(ev(), SPEC, TODAY + timedelta(days=8)) != base


def test_the_calendar_name_does_not_change_the_event_bytes():
    renamed = replace(SPEC, name="Another name")
    assert vevent_bytes(ev(), renamed, TODAY) == vevent_bytes(ev(), SPEC, TODAY)
    assert vevent_key(ev(), renamed, TODAY) == vevent_key(ev(), SPEC, TODAY)


def test_assembling_serialised_events_is_what_icalendar_writes_for_the_whole_calendar():
    events = [ev(), ev(event_id=8, status="cancelled")]
    whole = icalendar.Calendar.from_ical(assemble(SPEC, []))
    for e in events:
        whole.add_component(to_vevent(e, SPEC, TODAY))
    assert build_calendar(SPEC, events, today=TODAY, now=NOW) == whole.to_ical()


def test_an_empty_feed_is_a_valid_calendar():
    cal = parse(build_calendar(SPEC, [], today=TODAY, now=NOW))
    assert list(cal.walk("VEVENT")) == []
    assert str(cal["X-WR-CALNAME"]) == "Northside: monitoring"


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="now"):
        build_calendar(SPEC, [ev()], today=TODAY, now=datetime(2026, 3, 10, 9, 30))


def test_text_that_needs_escaping_survives_the_round_trip():
    tricky = replace(SPEC, name="Ward 3; a, b\\c")
    cal = parse(build_calendar(tricky, [ev()], today=TODAY, now=NOW))
    assert str(cal["X-WR-CALNAME"]) == "Ward 3; a, b\\c"
    (v,) = cal.walk("VEVENT")
    assert str(v["DESCRIPTION"]).count("\n") == 1


def test_regenerating_gives_the_same_events_apart_from_the_stamp():
    one = build_calendar(SPEC, [ev(), ev(event_id=8)], today=TODAY, now=NOW)
    two = build_calendar(SPEC, [ev(), ev(event_id=8)], today=TODAY, now=NOW)
    assert one == two
    changed = replace(ev(), sequence=1)
    assert build_calendar(SPEC, [changed, ev(event_id=8)], today=TODAY, now=NOW) != one
