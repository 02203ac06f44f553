"""Mycophenolate titration plans: exact dates and doses."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.titration import ADULT_MMF, PAEDIATRIC_MMF, PROTOCOLS, titration_plan
from clinical.types import ClinicalInputError

D = Decimal
START = date(2025, 1, 6)  # a Monday


def rows(plan):
    return [(s.date, s.mg_per_administration, s.mg_per_day) for s in plan]


def test_adult_plan_is_500_mg_twice_daily_plus_500_a_day_each_week_to_2_g():
    plan = titration_plan(ADULT_MMF, START)
    assert rows(plan) == [
        (date(2025, 1, 6), D(500), D(1000)),
        (date(2025, 1, 13), D(750), D(1500)),
        (date(2025, 1, 20), D(1000), D(2000)),
    ]
    assert all(s.administrations_per_day == 2 for s in plan)
    assert plan[0].reason.startswith("start: 500 mg twice daily")
    assert "target reached" in plan[-1].reason
    assert all("NHS Dumfries & Galloway" in s.reason for s in plan)


def test_adult_plan_to_the_3_g_maximum_crosses_a_month_end():
    plan = titration_plan(ADULT_MMF, date(2025, 1, 20), target_mg_per_day=D(3000))
    assert rows(plan) == [
        (date(2025, 1, 20), D(500), D(1000)),
        (date(2025, 1, 27), D(750), D(1500)),
        (date(2025, 2, 3), D(1000), D(2000)),
        (date(2025, 2, 10), D(1250), D(2500)),
        (date(2025, 2, 17), D(1500), D(3000)),
    ]


def test_a_target_between_steps_is_reached_exactly():
    plan = titration_plan(ADULT_MMF, START, target_mg_per_day=D(2500))
    assert [s.mg_per_day for s in plan] == [D(1000), D(1500), D(2000), D(2500)]
    low = titration_plan(ADULT_MMF, START, target_mg_per_day=D(1000))
    assert rows(low) == [(START, D(500), D(1000))]


def test_a_target_above_the_protocol_maximum_is_refused():
    with pytest.raises(ClinicalInputError) as exc:
        titration_plan(ADULT_MMF, START, target_mg_per_day=D(3001))
    assert exc.value.field == "target_mg_per_day"


@pytest.mark.parametrize(("egfr", "last"), [(D("24.9"), D(2000)), (D(25), D(3000))])
def test_gfr_below_25_caps_at_1_g_twice_daily(egfr, last):
    plan = titration_plan(ADULT_MMF, START, egfr=egfr, target_mg_per_day=D(3000))
    assert plan[-1].mg_per_day == last
    assert max(s.mg_per_administration for s in plan) <= last / 2
    if last == 2000:
        assert "GFR 24.9 < 25" in plan[-1].reason


def test_paediatric_plan_is_600_mg_m2_twice_daily_rounded_down_to_20_mg():
    plan = titration_plan(PAEDIATRIC_MMF, START, bsa_m2=D("0.553"))
    # 600 × 0.553 = 331.8 mg → 320 mg (1.6 mL of 200 mg/mL suspension), never above
    assert rows(plan) == [(START, D(320), D(640))]
    assert "600 mg/m² × 0.553 m² = 331.8 mg" in plan[0].reason


def test_paediatric_plan_is_limited_to_2_g_a_day():
    plan = titration_plan(PAEDIATRIC_MMF, START, bsa_m2=D("1.9"))  # 1140 mg → 1000 mg
    assert rows(plan) == [(START, D(1000), D(2000))]
    assert "limited to 2000 mg/day" in plan[0].reason


def test_paediatric_plan_needs_a_bsa():
    with pytest.raises(ClinicalInputError) as exc:
        titration_plan(PAEDIATRIC_MMF, START)
    assert exc.value.field == "bsa_m2"


def test_a_clinic_defined_per_m2_ramp():
    ramp = dataclasses.replace(
        PAEDIATRIC_MMF,
        code="CLINIC_RAMP",
        start_mg_per_m2_per_administration=D(300),
        step_mg_per_day=D(200),
        interval_days=14,
    )
    plan = titration_plan(ramp, START, bsa_m2=D(1))  # 300 → 600 mg per administration
    assert rows(plan) == [
        (date(2025, 1, 6), D(300), D(600)),
        (date(2025, 1, 20), D(400), D(800)),
        (date(2025, 2, 3), D(500), D(1000)),
        (date(2025, 2, 17), D(600), D(1200)),
    ]


def test_a_step_that_rounding_leaves_unchanged_is_skipped_not_repeated():
    fine = dataclasses.replace(ADULT_MMF, step_mg_per_day=D(250))  # +125 mg per dose
    plan = titration_plan(fine, START)
    # 1000 → 1250 (625 → 500 in 250 mg steps: no change) → 1500 → 1750 → 2000 /day
    assert rows(plan) == [
        (date(2025, 1, 6), D(500), D(1000)),
        (date(2025, 1, 20), D(750), D(1500)),
        (date(2025, 2, 3), D(1000), D(2000)),
    ]


def test_a_target_below_one_capsule_per_dose_is_refused():
    with pytest.raises(ClinicalInputError) as exc:
        titration_plan(ADULT_MMF, START, target_mg_per_day=D(400))  # 200 mg < one 250 mg capsule
    assert exc.value.field == "target_mg_per_day"


def test_protocols_are_registered_with_sources():
    assert set(PROTOCOLS) == {"MMF_ADULT_NHS_DG", "MMF_PAEDIATRIC_LABEL"}
    assert ADULT_MMF.max_mg_per_day == D(3000)
    assert PAEDIATRIC_MMF.max_mg_per_day == D(2000)
    assert "CellCept" in PAEDIATRIC_MMF.source.cite()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bsa_m2": D(0)}, "bsa_m2"),
        ({"egfr": D(-1)}, "egfr"),
        ({"target_mg_per_day": D(0)}, "target_mg_per_day"),
    ],
)
def test_bad_numbers_are_refused(kwargs, field):
    with pytest.raises(ClinicalInputError) as exc:
        titration_plan(PAEDIATRIC_MMF, START, **{"bsa_m2": D(1), **kwargs})
    assert exc.value.field == field


@settings(max_examples=100, deadline=None)
@given(
    target=st.integers(min_value=1, max_value=6).map(lambda n: D(500 * n)),
    egfr=st.one_of(st.none(), st.integers(min_value=0, max_value=120).map(D)),
    day=st.integers(min_value=0, max_value=364),
)
def test_adult_plans_rise_weekly_and_never_exceed_a_limit(target, egfr, day):
    start = date.fromordinal(START.toordinal() + day)
    plan = titration_plan(ADULT_MMF, start, target_mg_per_day=target, egfr=egfr)
    limit = min(target, D(3000), D(2000) if egfr is not None and egfr < 25 else D(3000))
    assert plan[0].date == start
    for before, after in pairwise(plan):
        assert (after.date - before.date).days == 7
        assert after.mg_per_day > before.mg_per_day
        assert after.mg_per_day - before.mg_per_day <= 500
    assert plan[-1].mg_per_day == limit
    assert all(s.mg_per_day <= limit for s in plan)
