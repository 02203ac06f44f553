"""BSA formulas against REF §5 worked values, monotonicity, and entry-error plausibility."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.bsa import (
    PLAUSIBILITY_BANDS,
    _bsa_raw,
    band_for_age,
    check_plausible,
    completed_years,
    compute_bsa,
    decimal_input,
)
from clinical.codes import BSAFormula
from clinical.types import ClinicalInputError

D = Decimal
M, DB, HC, GG, BY = (
    BSAFormula.MOSTELLER,
    BSAFormula.DUBOIS,
    BSAFormula.HAYCOCK,
    BSAFormula.GEHAN_GEORGE,
    BSAFormula.BOYD,
)

# REF §5 worked values (Mosteller, DuBois, Haycock, Gehan–George, Boyd). Every one is reproduced
# exactly at 3 dp with half-up rounding, so no ±0.001 tolerance is needed.
WORKED = {
    (D(50), D("3.5")): ("0.220", "0.209", "0.224", "0.234", "0.230"),
    (D(88), D("12.5")): ("0.553", "0.540", "0.557", "0.571", "0.573"),
    (D(170), D(70)): ("1.818", "1.810", "1.826", "1.831", "1.835"),
}
WORKED_CASES = [
    (formula, height, weight, D(value))
    for (height, weight), values in WORKED.items()
    for formula, value in zip((M, DB, HC, GG, BY), values, strict=True)
]


@pytest.mark.parametrize(("formula", "height", "weight", "expected"), WORKED_CASES)
def test_it_reproduces_every_ref_worked_value_to_3_dp(formula, height, weight, expected):
    result = compute_bsa(weight, height, formula)
    assert result.value_m2 == expected
    assert result.value_m2.as_tuple().exponent == -3
    assert result.formula is formula


@pytest.mark.parametrize(("formula", "height", "weight", "expected"), WORKED_CASES)
def test_the_decimal_result_agrees_with_the_float_equation(formula, height, weight, expected):
    h, w = float(height), float(weight)
    g = w * 1000
    by_float = {
        M: math.sqrt(h * w / 3600),
        DB: 0.007184 * h**0.725 * w**0.425,
        HC: 0.024265 * h**0.3964 * w**0.5378,
        GG: 0.0235 * h**0.42246 * w**0.51456,
        BY: 0.0003207 * h**0.3 * g ** (0.7285 - 0.0188 * math.log10(g)),
    }[formula]
    assert abs(float(_bsa_raw(weight, height, formula)) - by_float) < 1e-12
    assert abs(float(expected) - by_float) <= 0.0005


def test_mosteller_is_the_default_and_exact_on_a_perfect_square():
    result = compute_bsa(80, 180)  # √(180 × 80 / 3600) = √4
    assert result.value_m2 == D("2.000")
    assert result.formula is M
    assert result.equation == "BSA = √(height_cm × weight_kg / 3600)"
    assert result.source.year == 1987
    assert result.formula_name == "Mosteller"


def test_each_formula_has_its_own_equation_and_dated_source():
    years = {f: compute_bsa(70, 170, f).source.year for f in BSAFormula}
    assert years == {M: 1987, DB: 1916, HC: 1978, GG: 1970, BY: 1935}
    assert "grams" in compute_bsa(70, 170, BY).equation
    assert all("REF §5" in compute_bsa(70, 170, f).source.cite() for f in BSAFormula)


def test_rounding_is_half_up_to_three_places():
    # √(100 × 36.036009 / 3600) = √1.00100025 = 1.0005 exactly: half-up gives 1.001
    # (banker's rounding would give 1.000).
    assert compute_bsa(D("36.036009"), D(100), rounded=False).value_m2 == D("1.0005")
    assert compute_bsa(D("36.036009"), D(100)).value_m2 == D("1.001")


def test_strings_and_floats_are_accepted_as_numbers():
    assert compute_bsa("70", "170").value_m2 == D("1.818")
    assert compute_bsa(70.0, 170.0).value_m2 == D("1.818")
    assert compute_bsa(70, 170, "haycock").value_m2 == D("1.826")


@pytest.mark.parametrize(
    ("weight", "height", "field"),
    [
        (0, 170, "weight_kg"),
        (-70, 170, "weight_kg"),
        (float("nan"), 170, "weight_kg"),
        (float("inf"), 170, "weight_kg"),
        ("seventy", 170, "weight_kg"),
        (True, 170, "weight_kg"),
        (None, 170, "weight_kg"),
        (70, 0, "height_cm"),
        (70, D("NaN"), "height_cm"),
        (70, "-inf", "height_cm"),
    ],
)
def test_compute_bsa_refuses_non_positive_or_non_finite_numbers(weight, height, field):
    with pytest.raises(ClinicalInputError) as exc:
        compute_bsa(weight, height)
    assert exc.value.field == field


def test_an_unknown_formula_is_refused():
    with pytest.raises(ClinicalInputError) as exc:
        compute_bsa(70, 170, "fujimoto")
    assert exc.value.field == "formula"


def test_decimal_input_allows_zero_only_when_asked():
    assert decimal_input(0, "egfr", allow_zero=True) == 0
    with pytest.raises(ClinicalInputError):
        decimal_input(0, "egfr")
    assert decimal_input(0.1, "x") == D("0.1")  # shortest repr, not the binary expansion


# --- monotonicity -----------------------------------------------------------------------------

weights = st.decimals(min_value=D("0.4"), max_value=D(350), places=2)
heights = st.decimals(min_value=D(30), max_value=D(250), places=1)


@settings(max_examples=60, deadline=None)
@given(
    formula=st.sampled_from(list(BSAFormula)),
    w=st.lists(weights, min_size=2, max_size=2, unique=True).map(sorted),
    h=heights,
)
def test_bsa_strictly_increases_with_weight_at_fixed_height(formula, w, h):
    assert _bsa_raw(w[0], h, formula) < _bsa_raw(w[1], h, formula)


@settings(max_examples=60, deadline=None)
@given(
    formula=st.sampled_from(list(BSAFormula)),
    h=st.lists(heights, min_size=2, max_size=2, unique=True).map(sorted),
    w=weights,
)
def test_bsa_strictly_increases_with_height_at_fixed_weight(formula, h, w):
    assert _bsa_raw(w, h[0], formula) < _bsa_raw(w, h[1], formula)


@settings(max_examples=40, deadline=None)
@given(formula=st.sampled_from(list(BSAFormula)), w=weights, h=heights)
def test_the_rounded_value_is_the_unrounded_one_rounded(formula, w, h):
    raw = compute_bsa(w, h, formula, rounded=False).value_m2
    rounded = compute_bsa(w, h, formula).value_m2
    assert abs(raw - rounded) <= D("0.0005")


# --- plausibility -----------------------------------------------------------------------------

ON = date(2025, 6, 15)


def born_years_ago(years: int, *, days_older: int = 0) -> date:
    """A birth date making the patient exactly ``years`` old on ON, shifted ``days_older``
    days earlier (negative: younger, e.g. -1 = the day before that birthday)."""
    birthday = date(ON.year - years, ON.month, ON.day)
    return date.fromordinal(birthday.toordinal() - days_older)


def test_an_infant_of_80_kg_is_an_entry_error():
    with pytest.raises(ClinicalInputError) as exc:
        check_plausible(80, 60, born_years_ago(0, days_older=90), ON)
    assert exc.value.field == "weight_kg"
    assert "under 1 year" in exc.value.reason


def test_an_adult_of_40_cm_is_an_entry_error():
    with pytest.raises(ClinicalInputError) as exc:
        check_plausible(70, 40, born_years_ago(40), ON)
    assert exc.value.field == "height_cm"


def test_a_birth_date_after_the_measurement_is_an_error():
    with pytest.raises(ClinicalInputError) as exc:
        check_plausible(3, 50, date(2025, 6, 16), ON)
    assert exc.value.field == "birth_date"


def test_a_birth_on_the_day_itself_is_allowed():
    check_plausible(D("3.5"), 50, ON, ON)


@pytest.mark.parametrize(
    ("weight", "height", "ok", "field"),
    [
        (D(350), D(180), True, None),
        (D("350.01"), D(180), False, "weight_kg"),
        (D(70), D(250), True, None),
        (D(70), D("250.1"), False, "height_cm"),
        (D(70), D("29.9"), False, "height_cm"),
        (D(70), D(-1), False, "height_cm"),
        (D(0), D(170), False, "weight_kg"),
    ],
)
def test_absolute_limits_apply_without_a_birth_date(weight, height, ok, field):
    if ok:
        check_plausible(weight, height, None, ON)
    else:
        with pytest.raises(ClinicalInputError) as exc:
            check_plausible(weight, height, None, ON)
        assert exc.value.field == field


def test_thirty_cm_is_allowed_without_a_birth_date():
    check_plausible(D("0.5"), D(30), None, ON)


@pytest.mark.parametrize(
    ("age", "extra_days", "weight", "height", "field"),
    [
        # under 1 year: 0.4–20 kg, 30–100 cm (the day before the first birthday)
        (1, -1, D("0.4"), D(30), None),
        (1, -1, D(20), D(100), None),
        (1, -1, D("0.39"), D(30), "weight_kg"),
        (1, -1, D("20.1"), D(80), "weight_kg"),
        (1, -1, D(10), D("100.1"), "height_cm"),
        # exactly 1 year: the 1–4 band (3–40 kg, 50–130 cm)
        (1, 0, D(3), D(50), None),
        (1, 0, D("2.9"), D(60), "weight_kg"),
        (1, 0, D(10), D("49.9"), "height_cm"),
        # 12 to under 18 (15–250 kg, 90–220 cm) the day before the 18th birthday
        (18, -1, D(15), D(90), None),
        # exactly 18: adult (20–350 kg, 100–250 cm)
        (18, 0, D(15), D(150), "weight_kg"),
        (18, 0, D(20), D(100), None),
        (18, 0, D(60), D("99.9"), "height_cm"),
    ],
)
def test_age_band_boundaries(age, extra_days, weight, height, field):
    # extra_days = -1: ON is the day before the birthday that makes `age` (still age - 1)
    birth = born_years_ago(age, days_older=extra_days)
    if field is None:
        check_plausible(weight, height, birth, ON)
    else:
        with pytest.raises(ClinicalInputError) as exc:
            check_plausible(weight, height, birth, ON)
        assert exc.value.field == field


def test_a_missing_height_is_not_checked_but_the_weight_is():
    check_plausible(D(70), None, born_years_ago(30), ON)
    with pytest.raises(ClinicalInputError):
        check_plausible(D(400), None, born_years_ago(30), ON)


def test_bands_cover_every_age_without_gaps_and_are_consistent():
    assert PLAUSIBILITY_BANDS[0].from_years == 0
    for before, after in pairwise(PLAUSIBILITY_BANDS):
        assert before.to_years == after.from_years
    assert PLAUSIBILITY_BANDS[-1].to_years is None
    for band in PLAUSIBILITY_BANDS:
        assert 0 < band.weight_min_kg < band.weight_max_kg <= 350
        assert 30 <= band.height_min_cm < band.height_max_cm <= 250
    assert band_for_age(0).label == "under 1 year"
    assert band_for_age(120).to_years is None


@pytest.mark.parametrize(
    ("birth", "on", "years"),
    [
        (date(2020, 3, 10), date(2021, 3, 9), 0),
        (date(2020, 3, 10), date(2021, 3, 10), 1),
        (date(2008, 2, 29), date(2026, 2, 28), 17),  # leap-day birthday: 18 on 1 March
        (date(2008, 2, 29), date(2026, 3, 1), 18),
        (date(2008, 2, 29), date(2028, 2, 29), 20),
    ],
)
def test_completed_years(birth, on, years):
    assert completed_years(birth, on) == years
