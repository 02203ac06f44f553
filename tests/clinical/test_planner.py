"""The monitoring planner (clinical.planner): exact dates, phases, restarts, keys."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.codes import Drug, EventKind, PrescriptionStatus, RiskFactor, Route, Sex
from clinical.planner import (
    LabDraw,
    OpenFinding,
    PlanInput,
    PlannedEvent,
    PrescriptionEpisode,
    plan,
)
from clinical.protocols import (
    BSR_2017,
    EULAR_3E_2009,
    MMF_LABEL,
    PrescriptionChange,
    Protocol,
    default_protocol_for,
)
from clinical.types import ClinicalInputError

MTX = Drug.METHOTREXATE
MMF = Drug.MYCOPHENOLATE_MOFETIL
ACTIVE = PrescriptionStatus.ACTIVE
HELD = PrescriptionStatus.HELD
STOPPED = PrescriptionStatus.STOPPED
C = PrescriptionChange

START = date(2026, 1, 5)  # a Monday
ADULT = date(1980, 6, 1)
TODAY = date(2027, 6, 30)
CORE = ("alt", "wbc", "neutrophils", "platelets", "creatinine")
BASELINE_LABS = (
    "alt",
    "ast",
    "albumin",
    "wbc",
    "neutrophils",
    "lymphocytes",
    "eosinophils",
    "platelets",
    "haemoglobin",
    "mcv",
    "creatinine",
    "egfr",
)
EULAR_CITE = "EULAR/3E 2009 (Visser et al., Ann Rheum Dis 2009;68:1086), rec 4"


def d(text: str) -> date:
    return date.fromisoformat(text)


def day(n: int, start: date = START) -> date:
    return start + timedelta(days=n)


def rx(
    sid: str,
    start: date,
    dose: str = "15",
    change: PrescriptionChange = C.START,
    status: PrescriptionStatus = ACTIVE,
    route: Route = Route.ORAL,
    stable: date | None = None,
    end: date | None = None,
    drug: Drug = MTX,
    supersedes: str | None = None,
) -> PrescriptionEpisode:
    return PrescriptionEpisode(
        id=sid,
        drug=drug,
        dose_mg=Decimal(dose),
        route=route,
        status=status,
        start_date=start,
        change=change,
        end_date=end,
        supersedes_id=supersedes,
        stable_marked_on=stable,
    )


def blood(on: date, tests: tuple[str, ...] = CORE, abnormal: bool = False) -> tuple[LabDraw, ...]:
    return tuple(LabDraw(t, on, abnormal) for t in tests)


def draws(*dates: date, tests: tuple[str, ...] = CORE) -> tuple[LabDraw, ...]:
    return tuple(x for on in dates for x in blood(on, tests))


def make(
    prescriptions: tuple[PrescriptionEpisode, ...] = (rx("1", START),),
    labs: tuple[LabDraw, ...] = (),
    protocol: Protocol = EULAR_3E_2009,
    drug: Drug = MTX,
    today: date = TODAY,
    birth: date = ADULT,
    sex: Sex = Sex.MALE,
    risk: frozenset[RiskFactor] = frozenset(),
    findings: tuple[OpenFinding, ...] = (),
) -> list[PlannedEvent]:
    return plan(
        PlanInput(
            protocol=protocol,
            drug=drug,
            today=today,
            birth_date=birth,
            prescriptions=prescriptions,
            labs=labs,
            sex=sex,
            risk_factors=risk,
            open_findings=findings,
        )
    )


def routine(events: list[PlannedEvent]) -> list[PlannedEvent]:
    return [e for e in events if e.kind is EventKind.ROUTINE]


def pending(events: list[PlannedEvent]) -> PlannedEvent:
    found = [e for e in routine(events) if e.completed_on is None]
    assert len(found) == 1, [e.key for e in found]
    return found[0]


def window(e: PlannedEvent) -> tuple[date, date, date]:
    return (e.earliest, e.target, e.latest)


# --- routine draws: the first one, exact dates ------------------------------------------------


def test_first_routine_draw_after_start() -> None:
    e = pending(make())
    assert e.anchor_key == "methotrexate:routine:start=2026-01-05"
    assert e.key == "methotrexate:routine:start=2026-01-05:2026-02-09"
    assert window(e) == (d("2026-02-02"), d("2026-02-09"), d("2026-02-16"))
    assert e.interval_days == 35
    assert e.phase == "initiation"
    assert e.tests == ("alt", "ast", *BASELINE_LABS[3:10], "creatinine", "egfr")
    assert e.protocol_code == "eular_3e_2009"
    assert e.source.section == "rec 4"
    assert e.explanation == (
        "Routine draw (initiation phase, every 4–6 weeks; midpoint of the range) 5 weeks after "
        f"the start of treatment on 2026-01-05 — {EULAR_CITE}."
    )


# draw date → (start event completed on, next window)
NEXT_FROM_ACTUAL = [
    # on the first day of the window: completes; next from that date (initiation, 35 days)
    ("2026-02-02", "2026-02-02", ("2026-03-02", "2026-03-09", "2026-03-16"), "initiation"),
    ("2026-02-09", "2026-02-09", ("2026-03-09", "2026-03-16", "2026-03-23"), "initiation"),
    # day 42 = latest and the dose is stable: maintenance, 28–84 days, target 56
    ("2026-02-16", "2026-02-16", ("2026-03-16", "2026-04-13", "2026-05-11"), "maintenance"),
    # late: still completes, next from the actual late date
    ("2026-02-20", "2026-02-20", ("2026-03-20", "2026-04-17", "2026-05-15"), "maintenance"),
    # before the window opens: does not complete, but re-anchors
    ("2026-02-01", None, ("2026-03-01", "2026-03-08", "2026-03-15"), "initiation"),
]


@pytest.mark.parametrize(("drawn", "completed", "nxt", "phase"), NEXT_FROM_ACTUAL)
def test_next_draw_is_planned_from_the_actual_date(
    drawn: str, completed: str | None, nxt: tuple[str, str, str], phase: str
) -> None:
    events = make(labs=blood(d(drawn)))
    done = [e for e in routine(events) if e.completed_on is not None]
    if completed is None:
        assert done == []
        assert all("start=2026-01-05" not in e.key for e in routine(events))
    else:
        assert [(e.anchor_key, e.completed_on) for e in done] == [
            ("methotrexate:routine:start=2026-01-05", d(completed))
        ]
    nxt_event = pending(events)
    assert nxt_event.anchor_key == f"methotrexate:routine:draw={drawn}"
    assert window(nxt_event) == tuple(d(x) for x in nxt)
    assert nxt_event.phase == phase
    assert f"after the blood taken on {drawn}" in nxt_event.explanation


def test_late_completion_is_visible() -> None:
    e = next(x for x in routine(make(labs=blood(d("2026-02-20")))) if x.completed_on)
    assert e.completed_on is not None and e.completed_on > e.latest


@pytest.mark.parametrize(
    ("tests", "covers"),
    [
        (CORE, True),
        (("ast", "wbc", "neutrophils", "platelets", "egfr"), True),  # AST for ALT, eGFR for creat
        (("alt", "wbc", "neutrophils", "platelets"), False),  # no renal test
        (("alt", "wbc", "platelets", "creatinine"), False),  # no neutrophils
        (("alt",), False),
        (("chest_xray", "hiv"), False),
    ],
)
def test_what_covers_a_routine_draw(tests: tuple[str, ...], covers: bool) -> None:
    e = pending(make(labs=blood(d("2026-02-09"), tests)))
    if covers:
        assert e.anchor_key == "methotrexate:routine:draw=2026-02-09"
    else:
        assert e.anchor_key == "methotrexate:routine:start=2026-01-05"


def test_tests_split_over_two_days_do_not_cover() -> None:
    labs = blood(d("2026-02-09"), ("alt", "creatinine")) + blood(
        d("2026-02-10"), ("wbc", "neutrophils", "platelets")
    )
    assert pending(make(labs=labs)).anchor_key == "methotrexate:routine:start=2026-01-05"


def test_draws_after_today_are_ignored() -> None:
    base = make(today=d("2026-02-08"))
    assert make(labs=blood(d("2026-02-09")), today=d("2026-02-08")) == base


# --- stable dose: the exact 6-week boundary ---------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "offset", "phase", "interval"),
    [
        (EULAR_3E_2009, 41, "initiation", 35),
        (EULAR_3E_2009, 42, "maintenance", 56),
        (EULAR_3E_2009, 43, "maintenance", 56),
        (BSR_2017, 41, "initiation", 14),
        (BSR_2017, 42, "consolidation", 28),
    ],
)
def test_exactly_42_days_unchanged_is_stable(
    protocol: Protocol, offset: int, phase: str, interval: int
) -> None:
    e = pending(make(labs=blood(day(offset)), protocol=protocol))
    assert e.phase == phase
    assert e.interval_days == interval
    assert e.target == day(offset + interval)


@pytest.mark.parametrize(
    ("mark", "phase"),
    [
        (None, "initiation"),
        (d("2026-01-26"), "maintenance"),  # marked stable on day 21
        (d("2026-02-02"), "maintenance"),  # marked on the draw day counts
        (d("2026-02-03"), "initiation"),  # marked after the draw
        (d("2025-12-01"), "initiation"),  # dated before the snapshot: stale, ignored
    ],
)
def test_clinician_marks_the_dose_stable(mark: date | None, phase: str) -> None:
    e = pending(make(prescriptions=(rx("1", START, stable=mark),), labs=blood(d("2026-02-02"))))
    assert e.phase == phase


def test_a_stale_stable_mark_does_not_skip_a_restarted_early_phase() -> None:
    # the mark from before the dose increase was copied forward onto the new snapshot
    mark = d("2026-01-26")
    history = (
        rx("1", START, stable=mark),
        rx("2", d("2026-03-02"), "20", C.DOSE_INCREASE, stable=mark, supersedes="1"),
    )
    e = pending(make(prescriptions=history, labs=blood(d("2026-03-30"))))
    assert e.phase == "initiation"
    # a fresh mark after the increase does count
    history2 = (
        rx("1", START),
        rx("2", d("2026-03-02"), "20", C.DOSE_INCREASE, stable=d("2026-03-10"), supersedes="1"),
    )
    assert pending(make(prescriptions=history2, labs=blood(d("2026-03-30")))).phase == (
        "maintenance"
    )


# --- restarts of the early phase --------------------------------------------------------------

INCREASE = (
    rx("1", START),
    rx("2", d("2026-03-02"), "20", C.DOSE_INCREASE, supersedes="1"),
)


def test_dose_increase_restarts_the_early_phase() -> None:
    events = make(prescriptions=INCREASE, labs=blood(d("2026-02-16")))
    keys = [e.anchor_key for e in routine(events)]
    # the maintenance draw planned from 2026-02-16 is dropped; the increase re-anchors
    assert keys == [
        "methotrexate:routine:start=2026-01-05",
        "methotrexate:routine:dose_increase=2026-03-02",
    ]
    e = pending(events)
    assert window(e) == (d("2026-03-30"), d("2026-04-06"), d("2026-04-13"))
    assert e.phase == "initiation"
    assert "after the dose increase on 2026-03-02" in e.explanation


@pytest.mark.parametrize(
    ("drawn", "phase", "target"),
    [
        ("2026-04-06", "initiation", "2026-05-11"),  # 35 days after the increase: not yet stable
        ("2026-04-13", "maintenance", "2026-06-08"),  # 42 days after the increase: stable
    ],
)
def test_after_an_increase_stability_counts_from_the_increase(
    drawn: str, phase: str, target: str
) -> None:
    e = pending(make(prescriptions=INCREASE, labs=blood(d("2026-02-16")) + blood(d(drawn))))
    assert (e.phase, e.target) == (phase, d(target))


@pytest.mark.parametrize("label", [C.OTHER, C.DOSE_DECREASE])
def test_an_increase_is_derived_from_the_numbers_whatever_the_label(
    label: PrescriptionChange,
) -> None:
    history = (rx("1", START), rx("2", d("2026-03-02"), "20", label, supersedes="1"))
    e = pending(make(prescriptions=history, labs=blood(d("2026-02-16"))))
    assert e.anchor_key == "methotrexate:routine:dose_increase=2026-03-02"


def test_a_dose_decrease_when_stable_does_not_restart() -> None:
    history = (rx("1", START), rx("2", d("2026-03-02"), "10", C.DOSE_DECREASE, supersedes="1"))
    e = pending(make(prescriptions=history, labs=blood(d("2026-02-16"))))
    assert e.anchor_key == "methotrexate:routine:draw=2026-02-16"
    assert e.phase == "maintenance"


def test_a_dose_decrease_during_the_early_phase_restarts_the_six_week_count() -> None:
    history = (rx("1", START), rx("2", d("2026-01-26"), "10", C.DOSE_DECREASE, supersedes="1"))
    # day 42 after the start, but only 21 days after the decrease: not stable yet
    e = pending(make(prescriptions=history, labs=blood(d("2026-02-16"))))
    assert (e.phase, e.target) == ("initiation", d("2026-03-23"))
    # 42 days after the decrease (2026-03-09): stable
    e = pending(make(prescriptions=history, labs=draws(d("2026-02-09"), d("2026-03-09"))))
    assert e.phase == "maintenance"


def test_route_change_restarts_the_early_phase() -> None:
    history = (
        rx("1", START),
        rx("2", d("2026-03-02"), "15", C.OTHER, route=Route.SUBCUTANEOUS, supersedes="1"),
    )
    e = pending(make(prescriptions=history, labs=blood(d("2026-02-16"))))
    assert e.anchor_key == "methotrexate:routine:route_change=2026-03-02"
    assert e.phase == "initiation"


# --- hold, restart, stop ------------------------------------------------------------------------

HOLD_RESTART = (
    rx("1", START),
    rx("2", d("2026-03-02"), change=C.HOLD, status=HELD, supersedes="1"),
    rx("3", d("2026-04-01"), change=C.RESTART, supersedes="2"),
)


def test_monitoring_continues_while_held_and_restart_restarts() -> None:
    labs = blood(d("2026-02-16")) + blood(d("2026-03-16"))
    events = make(prescriptions=HOLD_RESTART[:2], labs=labs)
    e = pending(events)
    assert e.anchor_key == "methotrexate:routine:draw=2026-03-16"
    assert e.phase == "maintenance"
    assert "held since 2026-03-02" in e.explanation
    # the maintenance draw due from 2026-02-16 (earliest 2026-03-16) was completed while held
    done = {x.anchor_key: x.completed_on for x in routine(events) if x.completed_on}
    assert done["methotrexate:routine:draw=2026-02-16"] == d("2026-03-16")

    e = pending(make(prescriptions=HOLD_RESTART, labs=labs))
    assert e.anchor_key == "methotrexate:routine:restart=2026-04-01"
    assert (e.phase, e.target) == ("initiation", d("2026-05-06"))
    assert "held" not in e.explanation


def test_restart_detected_from_status_whatever_the_label() -> None:
    # issue #15 changed this test: with only the 2026-02-16 draw, the draw due from it
    # (target 2026-03-23, overdue at the restart) is earlier than the restart's and now stays
    # the next draw (a restart never postpones blood tests); a draw during the hold lets the
    # restart's earlier early-phase draw show.
    history = (*HOLD_RESTART[:2], rx("3", d("2026-04-01"), change=C.OTHER, supersedes="2"))
    labs = blood(d("2026-02-16")) + blood(d("2026-03-16"))
    e = pending(make(prescriptions=history, labs=labs))
    assert e.anchor_key == "methotrexate:routine:restart=2026-04-01"


STOP = (rx("1", START), rx("2", d("2026-03-02"), change=C.STOP, status=STOPPED, supersedes="1"))


@pytest.mark.parametrize(
    "history",
    [STOP, (rx("1", START, end=d("2026-03-02")),)],  # explicit stop, or end_date on the last
)
def test_no_routine_draws_after_a_stop(history: tuple[PrescriptionEpisode, ...]) -> None:
    labs = blood(d("2026-02-09")) + blood(d("2026-03-16"))  # the second after the stop
    events = make(prescriptions=history, labs=labs)
    assert [(e.anchor_key, e.completed_on) for e in routine(events)] == [
        ("methotrexate:routine:start=2026-01-05", d("2026-02-09"))
    ]
    # the course ended before the 12-week review; its incomplete baseline is not planned
    assert [e for e in events if e.kind is not EventKind.ROUTINE] == []


def test_confirmatory_repeats_are_still_planned_after_a_stop() -> None:
    f = OpenFinding("F9", "LIVER_GT_3X_ULN_CONFIRMED", d("2026-03-01"), 7, ("alt",))
    events = make(prescriptions=STOP, findings=(f,))
    assert [e.kind for e in events if e.kind is EventKind.CONFIRMATORY] == [EventKind.CONFIRMATORY]


def test_a_new_course_after_a_stop_gets_its_own_baseline_and_reviews() -> None:
    history = (*STOP, rx("3", d("2026-06-01"), change=C.START, supersedes="2"))
    events = make(prescriptions=history, labs=blood(d("2026-02-09")))
    assert pending(events).anchor_key == "methotrexate:routine:start=2026-06-01"
    baselines = {e.anchor_key for e in events if e.kind is EventKind.BASELINE}
    assert baselines == {
        "methotrexate:baseline:labs:start=2026-06-01",
        "methotrexate:baseline:chest_xray:start=2026-06-01",
        "methotrexate:baseline:serology:start=2026-06-01",
    }
    reviews = [e.target for e in events if e.kind is EventKind.RESPONSE_REVIEW]
    assert reviews == [d("2026-08-24"), d("2026-11-16")]


def test_a_gap_between_snapshots_is_a_stop() -> None:
    history = (rx("1", START, end=d("2026-03-02")), rx("2", d("2026-05-04"), supersedes="1"))
    events = make(prescriptions=history, labs=blood(d("2026-02-09")))
    assert pending(events).anchor_key == "methotrexate:routine:start=2026-05-04"


# --- risk factors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk", "birth", "labs", "shortened", "reason"),
    [
        (frozenset(), ADULT, (), False, None),
        (frozenset({RiskFactor.DIABETES}), ADULT, (), True, "diabetes"),
        (frozenset({RiskFactor.ALCOHOL_EXCESS}), ADULT, (), True, "alcohol excess"),
        (frozenset({RiskFactor.OBESITY}), ADULT, (), True, "obesity"),
        (frozenset({RiskFactor.RENAL_IMPAIRMENT}), ADULT, (), True, "renal impairment"),
        (
            frozenset({RiskFactor.HEPATOTOXIC_COMEDICATION}),
            ADULT,
            (),
            True,
            "hepatotoxic comedication",
        ),
        # age on the anchor date (2026-01-05), completed years
        (frozenset(), d("2022-01-06"), (), True, "age 3 (under 4)"),
        (frozenset(), d("2022-01-05"), (), False, None),  # 4th birthday: not under 4
        (frozenset(), d("1955-01-05"), (), True, "age 71 (over 70)"),  # 71st birthday
        (frozenset(), d("1955-01-06"), (), False, None),  # still 70
        # a prior abnormal result within 365 days of the anchor
        (frozenset(), ADULT, (LabDraw("alt", d("2025-12-20"), True),), True, "2025-12-20"),
        (frozenset(), ADULT, (LabDraw("alt", d("2025-01-05"), True),), True, "2025-01-05"),
        (frozenset(), ADULT, (LabDraw("alt", d("2025-01-04"), True),), False, None),
        (frozenset(), ADULT, (LabDraw("alt", d("2025-12-20"), False),), False, None),
    ],
)
def test_risk_factors_shorten_to_the_short_end(
    risk: frozenset[RiskFactor],
    birth: date,
    labs: tuple[LabDraw, ...],
    shortened: bool,
    reason: str | None,
) -> None:
    e = pending(make(risk=risk, birth=birth, labs=labs))
    if shortened:
        assert e.interval_days == 28
        assert window(e) == (d("2026-01-26"), d("2026-02-02"), d("2026-02-09"))
        assert reason is not None and reason in e.explanation
        assert "short end because of" in e.explanation
    else:
        assert e.interval_days == 35
        assert window(e) == (d("2026-02-02"), d("2026-02-09"), d("2026-02-16"))
        assert "short end" not in e.explanation


def test_shortened_maintenance_and_the_worked_example() -> None:
    history = (rx("1", START), rx("2", d("2026-02-16"), "20", C.DOSE_INCREASE, supersedes="1"))
    e = pending(
        make(prescriptions=history, labs=blood(d("2026-03-02")), risk=frozenset({"diabetes"}))  # type: ignore[arg-type]
    )
    # issue #15 changed this test: the diabetes reason now names the fibrosis risk (REF §1).
    assert e.explanation == (
        "Routine draw (initiation phase, every 4–6 weeks; short end because of diabetes "
        "(raises the risk of methotrexate liver fibrosis, REF §1)) "
        f"4 weeks after the blood taken on 2026-03-02 — {EULAR_CITE}."
    )
    assert window(e) == (d("2026-03-23"), d("2026-03-30"), d("2026-04-06"))
    m = pending(make(labs=blood(d("2026-02-16")), risk=frozenset({RiskFactor.DIABETES})))
    assert (m.phase, m.interval_days) == ("maintenance", 28)
    assert window(m) == (d("2026-03-09"), d("2026-03-16"), d("2026-03-23"))


def test_single_interval_protocols_are_not_shortened_further() -> None:
    e = pending(make(protocol=BSR_2017, risk=frozenset({RiskFactor.DIABETES})))
    assert e.interval_days == 14
    assert "short end" not in e.explanation


def test_risk_factors_not_listed_by_the_protocol_do_not_shorten() -> None:
    protocol = dataclasses.replace(EULAR_3E_2009, shortening_risk_factors=frozenset())
    e = pending(make(protocol=protocol, risk=frozenset({RiskFactor.DIABETES})))
    assert e.interval_days == 35


# --- BSR 2017 phases --------------------------------------------------------------------------


def test_bsr_every_phase_in_order() -> None:
    drawn = [
        "2026-01-19",
        "2026-02-02",
        "2026-02-16",  # 42 days: stable → monthly for 3 months (84 days, to 2026-05-11)
        "2026-03-16",
        "2026-04-13",
        "2026-05-11",  # consolidation over → every 12 weeks
        "2026-08-03",
    ]
    events = make(protocol=BSR_2017, labs=draws(*(d(x) for x in drawn)))
    got = [
        (e.anchor_key.split(":")[-1], e.phase, e.interval_days, e.target) for e in routine(events)
    ]
    assert got == [
        ("start=2026-01-05", "initiation", 14, d("2026-01-19")),
        ("draw=2026-01-19", "initiation", 14, d("2026-02-02")),
        ("draw=2026-02-02", "initiation", 14, d("2026-02-16")),
        ("draw=2026-02-16", "consolidation", 28, d("2026-03-16")),
        ("draw=2026-03-16", "consolidation", 28, d("2026-04-13")),
        ("draw=2026-04-13", "consolidation", 28, d("2026-05-11")),
        ("draw=2026-05-11", "maintenance", 84, d("2026-08-03")),
        ("draw=2026-08-03", "maintenance", 84, d("2026-10-26")),
    ]
    assert [e.completed_on for e in routine(events)] == [*(d(x) for x in drawn), None]
    bsr = routine(events)[0]
    assert window(bsr) == (d("2026-01-16"), d("2026-01-19"), d("2026-01-22"))
    assert "BSR/BHPR 2017" in bsr.explanation


BSR_DRAWS = draws(
    *(
        d(x)
        for x in (
            "2026-01-19",
            "2026-02-02",
            "2026-02-16",
            "2026-03-16",
            "2026-04-13",
            "2026-05-11",
        )
    )
)


def test_bsr_dose_increase_resumes_the_previous_schedule() -> None:
    history = (rx("1", START), rx("2", d("2026-06-01"), "20", C.DOSE_INCREASE, supersedes="1"))
    labs = BSR_DRAWS + draws(d("2026-06-15"), d("2026-06-29"), d("2026-07-13"))
    events = make(protocol=BSR_2017, prescriptions=history, labs=labs)
    tail = [(e.anchor_key.split(":")[-1], e.phase, e.target) for e in routine(events)][-4:]
    assert tail == [
        ("dose_increase=2026-06-01", "initiation", d("2026-06-15")),
        ("draw=2026-06-15", "initiation", d("2026-06-29")),
        ("draw=2026-06-29", "initiation", d("2026-07-13")),
        # stable again 42 days after the increase: back to every 12 weeks, not monthly
        ("draw=2026-07-13", "maintenance", d("2026-10-05")),
    ]


def test_bsr_restart_after_hold_starts_the_whole_schedule_again() -> None:
    history = (
        rx("1", START),
        rx("2", d("2026-06-01"), change=C.HOLD, status=HELD, supersedes="1"),
        rx("3", d("2026-06-15"), change=C.RESTART, supersedes="2"),
    )
    labs = BSR_DRAWS + draws(d("2026-06-29"), d("2026-07-13"), d("2026-07-27"))
    events = make(protocol=BSR_2017, prescriptions=history, labs=labs)
    e = pending(events)
    assert (e.anchor_key, e.phase, e.target) == (
        "methotrexate:routine:draw=2026-07-27",
        "consolidation",
        d("2026-08-24"),
    )


# --- mycophenolate label ----------------------------------------------------------------------

MMF_CORE = ("wbc", "neutrophils", "platelets")


@pytest.mark.parametrize(
    ("offset", "phase", "interval"),
    [
        (1, "month 1", 7),
        (27, "month 1", 7),
        (28, "months 2–3", 14),
        (83, "months 2–3", 14),
        (84, "months 4–12", 28),
        (364, "months 4–12", 28),
        (365, "after year 1", 84),
    ],
)
def test_mmf_label_phases(offset: int, phase: str, interval: int) -> None:
    e = pending(
        make(
            prescriptions=(rx("1", START, "500", drug=MMF),),
            labs=blood(day(offset), MMF_CORE),
            protocol=MMF_LABEL,
            drug=MMF,
        )
    )
    assert (e.phase, e.interval_days, e.target) == (phase, interval, day(offset + interval))
    if phase == "after year 1":
        assert "project choice" in e.explanation


def test_mmf_label_first_draws_are_weekly_and_increase_does_not_restart() -> None:
    history = (
        rx("1", START, "500", drug=MMF),
        rx("2", day(10), "1000", C.DOSE_INCREASE, drug=MMF, supersedes="1"),
    )
    events = make(
        prescriptions=history,
        labs=blood(day(7), MMF_CORE),
        protocol=MMF_LABEL,
        drug=MMF,
    )
    assert window(routine(events)[0]) == (day(6), day(7), day(8))
    assert pending(events).anchor_key == "mycophenolate_mofetil:routine:draw=2026-01-12"


def test_mmf_default_protocol_is_bsr() -> None:
    protocol = default_protocol_for(MMF)
    e = pending(make(prescriptions=(rx("1", START, "500", drug=MMF),), protocol=protocol, drug=MMF))
    assert (e.phase, e.interval_days, e.protocol_code) == ("initiation", 14, "bsr_2017")


# --- baseline ---------------------------------------------------------------------------------


def baseline(events: list[PlannedEvent], group: str) -> PlannedEvent:
    return next(e for e in events if e.kind is EventKind.BASELINE and f":{group}:" in e.key)


def test_baseline_windows() -> None:
    events = make(sex=Sex.FEMALE, birth=d("1996-01-01"))
    labs = baseline(events, "labs")
    assert labs.key == "methotrexate:baseline:labs:start=2026-01-05:2025-12-29"
    assert window(labs) == (d("2025-12-08"), d("2025-12-29"), START)
    assert labs.tests == BASELINE_LABS
    assert "rec 1" in labs.explanation
    xray = baseline(events, "chest_xray")
    assert window(xray) == (d("2025-01-05"), d("2025-12-29"), START)
    assert xray.tests == ("chest_xray",)
    serology = baseline(events, "serology")
    assert window(serology) == (d("2025-10-07"), d("2025-12-29"), START)
    assert serology.tests == ("hepatitis_b", "hepatitis_c", "hiv")
    preg = baseline(events, "pregnancy")
    assert window(preg) == (d("2025-12-29"), d("2025-12-29"), START)


@pytest.mark.parametrize(
    ("when", "tests", "completed"),
    [
        ("2025-12-08", BASELINE_LABS, "2025-12-08"),  # 28 days before: inside
        ("2025-12-07", BASELINE_LABS, None),  # 29 days before: too early
        ("2026-01-05", BASELINE_LABS, "2026-01-05"),
        ("2026-01-19", BASELINE_LABS, "2026-01-19"),  # 14 days late: still counts
        ("2026-01-20", BASELINE_LABS, None),  # 15 days late: no
        ("2025-12-20", BASELINE_LABS[:-3], None),  # MCV, creatinine, eGFR missing
    ],
)
def test_baseline_lab_completion(when: str, tests: tuple[str, ...], completed: str | None) -> None:
    e = baseline(make(labs=blood(d(when), tests)), "labs")
    assert e.completed_on == (d(completed) if completed else None)


def test_baseline_completion_prefers_results_before_the_start() -> None:
    labs = blood(d("2025-12-20"), BASELINE_LABS) + blood(d("2026-01-10"), BASELINE_LABS)
    assert baseline(make(labs=labs), "labs").completed_on == d("2025-12-20")


@pytest.mark.parametrize(
    ("xray", "completed"),
    [("2025-01-05", True), ("2025-01-04", False), ("2025-07-01", True)],
)
def test_chest_xray_within_a_year(xray: str, completed: bool) -> None:
    e = baseline(make(labs=(LabDraw("chest_xray", d(xray)),)), "chest_xray")
    assert (e.completed_on is not None) is completed


@pytest.mark.parametrize(
    ("sex", "birth", "included"),
    [
        (Sex.FEMALE, d("1996-01-01"), True),  # 30
        (Sex.MALE, d("1996-01-01"), False),
        (Sex.UNKNOWN, d("1996-01-01"), True),  # not recorded: ask for it
        (Sex.OTHER, d("1996-01-01"), True),
        (Sex.FEMALE, d("2014-06-01"), False),  # 11
        (Sex.FEMALE, d("2014-01-05"), True),  # 12 on the start date
        (Sex.FEMALE, d("1970-06-01"), True),  # 55
        (Sex.FEMALE, d("1970-01-05"), False),  # 56 on the start date
    ],
)
def test_pregnancy_test_for_females_12_to_55(sex: Sex, birth: date, included: bool) -> None:
    events = make(sex=sex, birth=birth)
    groups = {e.key.split(":")[2] for e in events if e.kind is EventKind.BASELINE}
    assert ("pregnancy" in groups) is included


def test_mmf_baseline_has_no_chest_xray() -> None:
    events = make(prescriptions=(rx("1", START, "500", drug=MMF),), protocol=MMF_LABEL, drug=MMF)
    groups = {e.key.split(":")[2] for e in events if e.kind is EventKind.BASELINE}
    assert groups == {"labs", "serology"}


# --- confirmatory repeats ---------------------------------------------------------------------

FINDING = OpenFinding("F1", "LIVER_GT_3X_ULN", d("2026-03-02"), 7, ("alt",))


@pytest.mark.parametrize(
    ("labs", "completed"),
    [
        ((), None),
        ((LabDraw("alt", d("2026-03-02")),), None),  # the same day is not a repeat
        ((LabDraw("alt", d("2026-03-05")),), "2026-03-05"),
        ((LabDraw("ast", d("2026-03-05")),), None),  # a different test
        ((LabDraw("alt", d("2026-03-12")),), "2026-03-12"),  # late still counts
    ],
)
def test_confirmatory_repeat(labs: tuple[LabDraw, ...], completed: str | None) -> None:
    events = make(labs=labs, findings=(FINDING,))
    e = next(x for x in events if x.kind is EventKind.CONFIRMATORY)
    assert e.key == "methotrexate:confirmatory:finding=F1:2026-03-03"
    assert e.anchor_key == "methotrexate:confirmatory:finding=F1"
    assert window(e) == (d("2026-03-03"), d("2026-03-03"), d("2026-03-09"))
    assert e.tests == ("alt",)
    assert e.completed_on == (d(completed) if completed else None)
    assert "within 1 week (by 2026-03-09)" in e.explanation


def test_confirmatory_needs_every_test() -> None:
    f = OpenFinding("F2", "EGFR_LOW", d("2026-03-02"), 7, ("creatinine", "egfr"))
    labs = (LabDraw("creatinine", d("2026-03-04")),)
    e = next(x for x in make(labs=labs, findings=(f,)) if x.kind is EventKind.CONFIRMATORY)
    assert e.completed_on is None
    labs += (LabDraw("egfr", d("2026-03-06")),)
    e = next(x for x in make(labs=labs, findings=(f,)) if x.kind is EventKind.CONFIRMATORY)
    assert e.completed_on == d("2026-03-06")


# --- response reviews -------------------------------------------------------------------------


def test_response_reviews_at_12_and_24_weeks() -> None:
    events = [e for e in make() if e.kind is EventKind.RESPONSE_REVIEW]
    assert [(e.key, window(e)) for e in events] == [
        (
            "methotrexate:response_review:week=12:start=2026-01-05:2026-03-30",
            (d("2026-03-23"), d("2026-03-30"), d("2026-04-06")),
        ),
        (
            "methotrexate:response_review:week=24:start=2026-01-05:2026-06-22",
            (d("2026-06-15"), d("2026-06-22"), d("2026-06-29")),
        ),
    ]
    assert all("12 months after improvement" in e.explanation for e in events)
    assert all(e.completed_on is None and e.tests == () for e in events)
    mmf = [
        e
        for e in make(prescriptions=(rx("1", START, "500", drug=MMF),), protocol=BSR_2017, drug=MMF)
        if e.kind is EventKind.RESPONSE_REVIEW
    ]
    assert len(mmf) == 2 and all("12 months" not in e.explanation for e in mmf)


# --- determinism and keys ---------------------------------------------------------------------

HISTORY = (
    rx("1", START),
    rx("2", d("2026-03-02"), "20", C.DOSE_INCREASE, supersedes="1"),
    rx("3", d("2026-05-04"), change=C.HOLD, status=HELD, supersedes="2"),
    rx("4", d("2026-05-18"), change=C.RESTART, supersedes="3"),
)
LABS = (
    *blood(d("2025-12-20"), BASELINE_LABS),
    LabDraw("chest_xray", d("2025-09-01")),
    *draws(d("2026-02-09"), d("2026-04-06"), d("2026-06-22")),
    LabDraw("alt", d("2026-04-06"), abnormal=True),
)


def full(**kwargs: object) -> list[PlannedEvent]:
    args: dict[str, object] = {
        "prescriptions": HISTORY,
        "labs": LABS,
        "findings": (FINDING,),
        "today": d("2026-07-01"),
    }
    args.update(kwargs)
    return make(**args)  # type: ignore[arg-type]


def test_same_input_same_output() -> None:
    assert full() == full()


def test_input_order_does_not_matter() -> None:
    rng = random.Random(4)
    labs = list(LABS)
    rng.shuffle(labs)
    history = list(HISTORY)
    rng.shuffle(history)
    assert full(labs=tuple(labs), prescriptions=tuple(history)) == full()


def test_keys_are_stable_when_unrelated_inputs_change() -> None:
    keys = [e.key for e in full()]
    assert len(keys) == len(set(keys))
    # a later today with no new results
    assert full(today=d("2026-07-20")) == full()
    # a test that does not cover a routine draw
    assert [e.key for e in full(labs=(*LABS, LabDraw("mcv", d("2026-06-25"))))] == keys
    # another drug's prescription
    other = rx("m1", d("2026-02-01"), "500", drug=MMF)
    assert full(prescriptions=(*HISTORY, other)) == full()
    # another open finding: every existing key stays
    more = OpenFinding("F7", "EGFR_LOW", d("2026-06-22"), 7, ("egfr",))
    assert set(keys) < {e.key for e in full(findings=(FINDING, more))}


def test_an_event_that_moves_gets_a_new_key() -> None:
    # (the HISTORY/LABS scenario is already shortened by its abnormal ALT, so use a plain one)
    before = pending(make(labs=blood(d("2026-02-09"))))
    # a risk factor moves the target: new key, same anchor
    moved = pending(make(labs=blood(d("2026-02-09")), risk=frozenset({RiskFactor.DIABETES})))
    assert moved.anchor_key == before.anchor_key
    assert moved.target != before.target and moved.key != before.key
    # new blood: new anchor, new key; the old pending event is now completed under its own key
    after = make(labs=blood(d("2026-02-09")) + blood(d("2026-03-09")))
    assert pending(after).key != before.key
    done = next(e for e in routine(after) if e.key == before.key)
    assert done.completed_on == d("2026-03-09")


def test_every_event_is_one_sentence_with_a_source() -> None:
    for e in full(sex=Sex.FEMALE, birth=d("1990-01-01")):
        assert e.explanation.endswith(".")
        assert ". " not in e.explanation
        assert " — " in e.explanation
        assert e.source.cite() in e.explanation
        assert e.earliest <= e.target <= e.latest


def test_events_are_sorted() -> None:
    events = full()
    assert [e.target for e in events] == sorted(e.target for e in events)


# --- input errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"drug": MMF, "protocol": EULAR_3E_2009}, "drug"),
        ({"birth": d("2027-07-01")}, "birth_date"),
        ({"labs": (LabDraw("bilirubin", START),)}, "labs"),
        ({"labs": (LabDraw("ALT", START),)}, "labs"),  # codes are exact
        ({"risk": frozenset({"smoking"})}, "risk_factors"),
        ({"prescriptions": (rx("1", START), rx("1", d("2026-02-01")))}, "prescriptions"),
        ({"prescriptions": (rx("1", START, end=d("2026-01-01")),)}, "end_date"),
        ({"prescriptions": (rx("1", START, "-5"),)}, "dose_mg"),
        ({"prescriptions": (rx("1", START, "0"),)}, "dose_mg"),
        ({"prescriptions": (rx("1", START, change=C.HOLD),)}, "change"),
        ({"prescriptions": (rx("1", START, change=C.STOP),)}, "change"),
        ({"prescriptions": (rx("1", d("1970-01-01")),)}, "start_date"),
        ({"findings": (OpenFinding("F", "X", START, 0, ("alt",)),)}, "open_findings"),
        ({"findings": (OpenFinding("F", "X", START, 7, ()),)}, "open_findings"),
        ({"findings": (OpenFinding("F", "X", START, 7, ("xray",)),)}, "open_findings"),
    ],
)
def test_input_errors(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ClinicalInputError) as err:
        make(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_supersedes_cycle_is_an_error() -> None:
    history = (
        rx("a", START, supersedes="b"),
        rx("b", START, "20", C.DOSE_INCREASE, supersedes="a"),
    )
    with pytest.raises(ClinicalInputError) as err:
        make(prescriptions=history)
    assert err.value.field == "supersedes_id"


def test_no_prescription_plans_only_confirmatory_repeats() -> None:
    events = make(prescriptions=(), findings=(FINDING,))
    assert [e.kind for e in events] == [EventKind.CONFIRMATORY]


def test_a_future_start_plans_baseline_and_first_draw() -> None:
    events = make(today=d("2025-12-15"))
    assert pending(events).target == d("2026-02-09")
    assert {e.kind for e in events} == {
        EventKind.BASELINE,
        EventKind.ROUTINE,
        EventKind.RESPONSE_REVIEW,
    }


# --- properties -------------------------------------------------------------------------------


def labs_on(labs: tuple[LabDraw, ...]) -> set[date]:
    return {x.collected_on for x in labs}


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.integers(1, 500), max_size=12, unique=True),
    increase=st.one_of(st.none(), st.integers(1, 400)),
    protocol=st.sampled_from([EULAR_3E_2009, BSR_2017]),
    diabetic=st.booleans(),
)
def test_plan_invariants(
    offsets: list[int], increase: int | None, protocol: Protocol, diabetic: bool
) -> None:
    history: tuple[PrescriptionEpisode, ...] = (rx("1", START),)
    if increase is not None:
        history += (rx("2", day(increase), "20", C.DOSE_INCREASE, supersedes="1"),)
    labs = draws(*(day(n) for n in offsets))
    risk = frozenset({RiskFactor.DIABETES}) if diabetic else frozenset()
    events = make(prescriptions=history, labs=labs, protocol=protocol, risk=risk)
    assert events == make(prescriptions=history, labs=labs, protocol=protocol, risk=risk)
    keys = [e.key for e in events]
    assert len(keys) == len(set(keys))
    nxt = pending(events)
    anchors = [day(n) for n in offsets] + ([day(increase)] if increase is not None else [START])
    latest_anchor = max([START, *anchors])
    nxt_anchor = date.fromisoformat(nxt.anchor_key.rsplit("=", 1)[1])
    if (
        increase is not None
        and day(increase) == latest_anchor
        and day(increase) not in labs_on(labs)
    ):
        # issue #15 changed this test: an increase never postpones the draw already pending;
        # the next draw follows the increase or the latest draw before it, whichever is sooner
        before = max([START, *(day(n) for n in offsets if day(n) < day(increase))])
        assert nxt_anchor in (day(increase), before)
        early = protocol.phases[0]
        assert nxt.target <= day(increase) + timedelta(days=early.default_days)
    else:
        assert nxt_anchor == latest_anchor
    for e in routine(events):
        anchor = date.fromisoformat(e.anchor_key.rsplit("=", 1)[1])
        assert e.earliest <= e.target <= e.latest
        assert anchor < e.earliest
        assert e.target == anchor + timedelta(days=e.interval_days or 0)
        if e.completed_on is not None:
            assert e.completed_on >= e.earliest
            assert e.completed_on.isoformat() in {x.collected_on.isoformat() for x in labs}


# --- issue #15 item 9: a dose increase or restart never postpones blood tests ------------------


def test_a_dose_increase_keeps_an_overdue_draw_instead_of_booking_one_five_weeks_out() -> None:
    # stable since 2026-02-16 (day 42); last blood 2026-03-02 → maintenance draw due 2026-04-27,
    # window closes 2026-05-25. Nobody draws; the dose goes up on 2026-06-15 (overdue).
    history = (rx("1", START), rx("2", d("2026-06-15"), "20", C.DOSE_INCREASE, supersedes="1"))
    labs = blood(d("2026-02-16")) + blood(d("2026-03-02"))
    before = pending(make(prescriptions=history[:1], labs=labs, today=d("2026-06-14")))
    after = pending(make(prescriptions=history, labs=labs, today=d("2026-06-15")))
    assert after.key == before.key == "methotrexate:routine:draw=2026-03-02:2026-04-27"
    assert after.latest < d("2026-06-15")  # still overdue: reminders and escalation go on
    # once blood is taken, the next one follows the early phase of the increase
    later = pending(make(prescriptions=history, labs=labs + blood(d("2026-06-16"))))
    assert later.anchor_key == "methotrexate:routine:draw=2026-06-16"
    assert (later.phase, later.interval_days) == ("initiation", 35)


def test_a_dose_increase_brings_a_far_draw_forward() -> None:
    # maintenance draw from 2026-03-02 targets 2026-04-27; an increase on 2026-03-09 gives
    # 2026-04-13 (35 days, early phase): the earlier one is planned
    history = (rx("1", START), rx("2", d("2026-03-09"), "20", C.DOSE_INCREASE, supersedes="1"))
    labs = blood(d("2026-02-16")) + blood(d("2026-03-02"))
    e = pending(make(prescriptions=history, labs=labs, today=d("2026-03-10")))
    assert e.anchor_key == "methotrexate:routine:dose_increase=2026-03-09"
    assert e.target == d("2026-04-13") and e.phase == "initiation"
    assert "dose increase on 2026-03-09" in e.explanation and EULAR_CITE in e.explanation
