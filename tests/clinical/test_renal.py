"""Renal function for prescribing (clinical.renal, issue #15 items 6 and 7)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from clinical.codes import Analyte, Sex
from clinical.renal import (
    BEDSIDE_SCHWARTZ,
    CKD_EPI_2021,
    RenalResult,
    bedside_schwartz,
    ckd_epi_2021,
    renal_reading,
)

TODAY = date(2026, 12, 3)
ADULT = date(1970, 5, 17)


@pytest.mark.parametrize(
    ("scr", "age", "sex", "expected"),
    [
        # worked by hand from Inker 2021: 142 × min(Scr/κ,1)^α × max(Scr/κ,1)^-1.2 × 0.9938^age
        ("70.72", 40, Sex.MALE, "114.7"),  # 0.8 mg/dL
        ("80", 50, Sex.FEMALE, "77.4"),
        ("400", 50, Sex.MALE, "15.0"),
        ("53.04", 30, Sex.FEMALE, "123.8"),  # 0.6 mg/dL, below κ
    ],
)
def test_ckd_epi_2021(scr: str, age: int, sex: Sex, expected: str) -> None:
    assert ckd_epi_2021(Decimal(scr), age, sex) == Decimal(expected)


def test_bedside_schwartz() -> None:
    # 0.413 × 77 cm / 0.35 mg/dL = 90.9
    assert bedside_schwartz(Decimal("30.94"), Decimal(77)) == Decimal("90.9")


def r(analyte: Analyte, value: str, days_ago: int, comparator: str | None = None) -> RenalResult:
    return RenalResult(analyte, Decimal(value), TODAY - timedelta(days=days_ago), comparator)


def test_creatinine_400_without_egfr_gives_an_estimated_egfr_below_30() -> None:
    reading = renal_reading(
        [r(Analyte.CREATININE, "400", 2)], birth_date=ADULT, sex=Sex.MALE, today=TODAY
    )
    assert reading is not None and reading.estimated and reading.source is CKD_EPI_2021
    assert reading.value < 30 and reading.current
    assert "estimated from creatinine 400 umol/L" in reading.text and "CKD-EPI 2021" in reading.text


def test_a_newer_creatinine_wins_over_an_older_egfr_and_a_same_day_egfr_over_creatinine() -> None:
    old_normal = r(Analyte.EGFR, "92", 200)
    reading = renal_reading(
        [old_normal, r(Analyte.CREATININE, "400", 1)], birth_date=ADULT, sex=Sex.MALE, today=TODAY
    )
    assert reading is not None and reading.estimated and reading.value < 30
    same_day = renal_reading(
        [r(Analyte.EGFR, "55", 1), r(Analyte.CREATININE, "400", 1)],
        birth_date=ADULT,
        sex=Sex.MALE,
        today=TODAY,
    )
    assert same_day is not None and not same_day.estimated and same_day.value == 55


def test_a_child_uses_bedside_schwartz_with_the_latest_height_before_the_creatinine() -> None:
    infant = TODAY - timedelta(days=430)
    heights = [
        (TODAY - timedelta(days=100), Decimal(74)),
        (TODAY - timedelta(days=20), Decimal(77)),
    ]
    reading = renal_reading(
        [r(Analyte.CREATININE, "30.94", 10)],
        birth_date=infant,
        sex=Sex.FEMALE,
        heights=heights,
        today=TODAY,
    )
    assert reading is not None and reading.source is BEDSIDE_SCHWARTZ
    assert reading.value == Decimal("90.9") and "height 77 cm" in reading.text
    no_height = renal_reading(
        [r(Analyte.CREATININE, "30.94", 10)], birth_date=infant, sex=Sex.FEMALE, today=TODAY
    )
    assert no_height is None  # never guessed


def test_censored_values_keep_their_direction() -> None:
    low = renal_reading(
        [r(Analyte.EGFR, "15", 1, "<")], birth_date=ADULT, sex=Sex.MALE, today=TODAY
    )
    assert low is not None and low.comparator == "<" and low.value == 15
    # creatinine above 400 → eGFR below the estimate at 400
    high_scr = renal_reading(
        [r(Analyte.CREATININE, "400", 1, ">")], birth_date=ADULT, sex=Sex.MALE, today=TODAY
    )
    assert high_scr is not None and high_scr.comparator == "<" and high_scr.value < 30


@pytest.mark.parametrize(
    ("birth", "days_old", "current"),
    [
        (ADULT, 90, True),
        (ADULT, 91, False),
        (TODAY - timedelta(days=400), 30, True),  # under 2: 30 days
        (TODAY - timedelta(days=400), 31, False),
    ],
)
def test_a_renal_result_older_than_the_staleness_window_is_not_current(
    birth: date, days_old: int, current: bool
) -> None:
    reading = renal_reading(
        [r(Analyte.EGFR, "80", days_old)], birth_date=birth, sex=Sex.MALE, today=TODAY
    )
    assert reading is not None and reading.current is current
