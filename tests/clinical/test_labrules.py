"""Lab rules (clinical.labrules, REF §1, §3, §6): exact boundaries, drugs, ULN sources."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.codes import AlertSeverity, Analyte, Drug, PrescriptionStatus, Sex
from clinical.labrules import RULES, DrugStatus, LabContext, LabResult, age_in_years, evaluate
from clinical.protocols import DEFAULT_THRESHOLDS, LOCAL_STRICT, Thresholds
from clinical.types import ClinicalInputError, LabFinding
from clinical.units import CANONICAL_UNIT, normalise

DAY = date(2026, 3, 2)
ADULT = date(1980, 5, 1)
CHILD = date(2016, 5, 1)  # 9 years old on DAY
TEEN = date(2011, 1, 10)  # 15 years old on DAY
INFANT = date(2025, 9, 1)  # 6 months old on DAY

MTX = (DrugStatus(Drug.METHOTREXATE, PrescriptionStatus.ACTIVE),)
MTX_HELD = (DrugStatus(Drug.METHOTREXATE, PrescriptionStatus.HELD),)
MTX_STOPPED = (DrugStatus(Drug.METHOTREXATE, PrescriptionStatus.STOPPED),)
MMF = (DrugStatus(Drug.MYCOPHENOLATE_MOFETIL, PrescriptionStatus.ACTIVE),)
NONE: tuple[DrugStatus, ...] = ()


def res(
    analyte: Analyte,
    value: str,
    unit: str | None = None,
    on: date = DAY,
    high: str | None = None,
) -> LabResult:
    return LabResult(
        analyte=analyte,
        result=normalise(analyte, value, unit if unit is not None else CANONICAL_UNIT[analyte]),
        collected_on=on,
        reference_high=Decimal(high) if high is not None else None,
    )


def run(
    result: LabResult,
    history: tuple[LabResult, ...] = (),
    drugs: tuple[DrugStatus, ...] = MTX,
    birth: date = ADULT,
    sex: Sex = Sex.FEMALE,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> list[LabFinding]:
    return evaluate(
        LabContext(
            result=result,
            birth_date=birth,
            sex=sex,
            history=history,
            prescriptions=drugs,
            thresholds=thresholds,
        )
    )


def rules(findings: list[LabFinding]) -> list[str]:
    return [f.rule for f in findings]


def one(findings: list[LabFinding], rule: str) -> LabFinding:
    found = [f for f in findings if f.rule == rule]
    assert len(found) == 1, rules(findings)
    return found[0]


# --- liver: > 3× ULN ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "high", "birth", "sex", "fires"),
    [
        # lab ULN 40 → limit 120: exactly 3× is NOT above
        ("119.9", "40", ADULT, Sex.FEMALE, False),
        ("120", "40", ADULT, Sex.FEMALE, False),
        ("120.0", "40", ADULT, Sex.FEMALE, False),
        ("120.01", "40", ADULT, Sex.FEMALE, True),
        ("121", "40", ADULT, Sex.FEMALE, True),
        # lab ULN 33 → 99
        ("99", "33", ADULT, Sex.MALE, False),
        ("99.1", "33", ADULT, Sex.MALE, True),
        # no lab range (issue #15 changed this test: by age band, REF §3): 12-17 boy 25.8 →
        # 77.4, girl 22.1 → 66.3 (SAFETY); 1-11 years 25 → 75 and under 1 year 33 → 99
        # (CALIPER); adult 40 → 120
        ("77.4", None, TEEN, Sex.MALE, False),
        ("77.5", None, TEEN, Sex.MALE, True),
        ("66.3", None, TEEN, Sex.FEMALE, False),
        ("66.4", None, TEEN, Sex.FEMALE, True),
        ("66.4", None, TEEN, Sex.UNKNOWN, True),
        ("75", None, CHILD, Sex.MALE, False),
        ("75.1", None, CHILD, Sex.MALE, True),
        ("75.1", None, CHILD, Sex.FEMALE, True),
        ("99", None, INFANT, Sex.FEMALE, False),
        ("99.1", None, INFANT, Sex.MALE, True),
        ("120", None, ADULT, Sex.MALE, False),
        ("120.1", None, ADULT, Sex.MALE, True),
    ],
)
def test_alt_above_three_times_uln(
    value: str, high: str | None, birth: date, sex: Sex, fires: bool
) -> None:
    findings = run(res(Analyte.ALT, value, high=high), birth=birth, sex=sex)
    assert ("LIVER_GT_3X_ULN" in rules(findings)) is fires
    if fires:
        f = one(findings, "LIVER_GT_3X_ULN")
        assert f.severity is AlertSeverity.CRITICAL
        assert f.withhold is True
        assert f.repeat_within_days == 7
        assert f.tests_to_repeat == ("alt",)
        assert f.drugs == (Drug.METHOTREXATE,)
        assert f.value == Decimal(value)
        assert f.uln_used is not None and f.limit == 3 * f.uln_used
        assert value.rstrip("0").rstrip(".") in f.message
        assert "Withhold methotrexate" in f.action
        assert "rec 5" in f.source.cite()


def test_uln_source_is_stated_in_the_message() -> None:
    lab = one(run(res(Analyte.ALT, "130", high="40")), "LIVER_GT_3X_ULN")
    assert "laboratory's reference range" in lab.message
    assert "3 × 40 = 120 U/L" in lab.message
    assert lab.uln_source is not None and "laboratory" in lab.uln_source

    # issue #15 changed this test: the 12-17 band is the SAFETY study's; a 9-year-old gets
    # CALIPER's 25 U/L, and the alert names the band and its (unverified) source.
    boy = one(run(res(Analyte.ALT, "80"), birth=TEEN, sex=Sex.MALE), "LIVER_GT_3X_ULN")
    assert "25.8" in boy.message and "SAFETY" in boy.message and "boys" in boy.message
    assert "age 12 to 17 years" in boy.message
    assert "no laboratory reference range" in boy.message
    assert boy.uln_used == Decimal("25.8")
    child = one(run(res(Analyte.ALT, "80"), birth=CHILD, sex=Sex.MALE), "LIVER_GT_3X_ULN")
    assert child.uln_used == Decimal(25) and child.limit == Decimal(75)
    assert "age 1 to under 12 years" in child.message and "CALIPER" in child.message
    assert "UNVERIFIED" in child.message
    infant = one(run(res(Analyte.ALT, "100"), birth=INFANT), "LIVER_GT_3X_ULN")
    assert infant.uln_used == Decimal(33) and "under 1 year" in infant.message

    adult = one(run(res(Analyte.AST, "130"), sex=Sex.MALE), "LIVER_GT_3X_ULN")
    assert "configured adult default, not from a guideline" in adult.message

    child_ast = one(run(res(Analyte.AST, "130"), birth=CHILD), "LIVER_GT_3X_ULN")
    assert "no published paediatric AST standard" in child_ast.message


def test_unusable_lab_range_falls_back_to_the_default_and_says_so() -> None:
    f = one(run(res(Analyte.ALT, "130", high="0")), "LIVER_GT_3X_ULN")
    assert f.uln_used == Decimal(40)
    assert "could not be used" in f.message


def test_reference_range_is_converted_with_the_value_unit() -> None:
    # ULN 0.75 µkat/L = 45 U/L → limit 135 U/L; 2.25 µkat/L = 135 (not above), 2.3 = 138
    assert "LIVER_GT_3X_ULN" not in rules(run(res(Analyte.ALT, "2.25", "µkat/L", high="0.75")))
    f = one(run(res(Analyte.ALT, "2.3", "µkat/L", high="0.75")), "LIVER_GT_3X_ULN")
    assert f.uln_used == Decimal(45)
    assert f.value == Decimal("138")
    assert f.limit == Decimal(135)


@pytest.mark.parametrize(
    ("prior_analyte", "days_before", "prior_value", "confirmed"),
    [
        (Analyte.ALT, 7, "130", True),
        (Analyte.AST, 7, "130", True),  # either enzyme confirms (EULAR "ALT/AST")
        (Analyte.ALT, 28, "130", True),  # window boundary is inclusive
        (Analyte.ALT, 29, "130", False),
        (Analyte.ALT, 0, "130", False),  # same-day sample is not a repeat
        (Analyte.ALT, 7, "120", False),  # exactly 3× was not above
        (Analyte.ALT, 7, ">500", True),  # censored, certainly above
        (Analyte.ALT, 7, "haemolysed", False),
    ],
)
def test_second_result_above_three_times_confirms(
    prior_analyte: Analyte, days_before: int, prior_value: str, confirmed: bool
) -> None:
    prior = res(prior_analyte, prior_value, on=DAY - timedelta(days=days_before), high="40")
    findings = run(res(Analyte.ALT, "125", high="40"), history=(prior,))
    if confirmed:
        f = one(findings, "LIVER_GT_3X_ULN_CONFIRMED")
        assert "LIVER_GT_3X_ULN" not in rules(findings)
        assert f.severity is AlertSeverity.CRITICAL
        assert f.supersedes_rule == "LIVER_GT_3X_ULN"
        assert "stop methotrexate" in f.action
        assert "lower dose" in f.action
        assert prior.collected_on.isoformat() in f.message
    else:
        assert "LIVER_GT_3X_ULN_CONFIRMED" not in rules(findings)
        assert "LIVER_GT_3X_ULN" in rules(findings)


@pytest.mark.parametrize(
    ("drugs", "severity", "action_has", "withhold"),
    [
        (MTX, AlertSeverity.CRITICAL, "Withhold methotrexate", True),
        (MTX_HELD, AlertSeverity.CRITICAL, "Keep methotrexate withheld", True),
        (MMF, AlertSeverity.CRITICAL, "Withhold mycophenolate", True),
        (MTX_STOPPED, AlertSeverity.WARNING, "No methotrexate or mycophenolate", False),
        (NONE, AlertSeverity.WARNING, "No methotrexate or mycophenolate", False),
    ],
)
def test_liver_rule_wording_by_drug(
    drugs: tuple[DrugStatus, ...], severity: AlertSeverity, action_has: str, withhold: bool
) -> None:
    f = one(run(res(Analyte.ALT, "130", high="40"), drugs=drugs), "LIVER_GT_3X_ULN")
    assert f.severity is severity
    assert action_has in f.action
    assert f.withhold is withhold
    assert f.repeat_within_days == 7
    if drugs == MMF:
        assert "mycophenolate by the project" in f.action
        assert f.drugs == (Drug.MYCOPHENOLATE_MOFETIL,)


def test_confirmed_on_mmf_only() -> None:
    prior = res(Analyte.ALT, "130", on=DAY - timedelta(days=6), high="40")
    f = one(
        run(res(Analyte.ALT, "130", high="40"), history=(prior,), drugs=MMF),
        "LIVER_GT_3X_ULN_CONFIRMED",
    )
    assert f.severity is AlertSeverity.CRITICAL
    assert "mycophenolate" in f.action


# --- liver: persistent elevation up to 3× ----------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "current", "fires"),
    [
        ("50", "60", True),
        ("40.1", "40.1", True),
        ("40", "60", False),  # previous exactly ULN: not above
        ("50", "40", False),  # current exactly ULN
        ("50", "120", True),  # exactly 3× is still "up to 3×"
        ("50", "120.1", False),  # above 3×: the 3× rule instead
        ("130", "60", True),  # previous above 3×, current persists above ULN
        (None, "60", False),  # no previous result
        ("<30", "60", False),  # previous censored, certainly not above
    ],
)
def test_above_uln_twice_in_a_row(previous: str | None, current: str, fires: bool) -> None:
    history = (
        (res(Analyte.ALT, previous, on=DAY - timedelta(days=35), high="40"),) if previous else ()
    )
    findings = run(res(Analyte.ALT, current, high="40"), history=history)
    assert ("LIVER_ABOVE_ULN_TWICE" in rules(findings)) is fires
    if fires:
        f = one(findings, "LIVER_ABOVE_ULN_TWICE")
        assert f.severity is AlertSeverity.WARNING
        assert "adjust the methotrexate dose" in f.action


def test_above_uln_twice_uses_previous_of_the_same_analyte_and_its_own_uln() -> None:
    # previous AST high does not count for ALT
    other = res(Analyte.AST, "60", on=DAY - timedelta(days=30), high="40")
    assert "LIVER_ABOVE_ULN_TWICE" not in rules(run(res(Analyte.ALT, "60", high="40"), (other,)))
    # previous ALT 45 against its own ULN 50: not above
    prev = res(Analyte.ALT, "45", on=DAY - timedelta(days=30), high="50")
    assert "LIVER_ABOVE_ULN_TWICE" not in rules(run(res(Analyte.ALT, "60", high="40"), (prev,)))
    # the previous is the LATEST earlier one: an older high then a normal one → no
    older = res(Analyte.ALT, "90", on=DAY - timedelta(days=60), high="40")
    normal = res(Analyte.ALT, "30", on=DAY - timedelta(days=30), high="40")
    findings = run(res(Analyte.ALT, "60", high="40"), (normal, older))
    assert "LIVER_ABOVE_ULN_TWICE" not in rules(findings)


# --- liver: back to normal after a hold or stop ----------------------------------------------


@pytest.mark.parametrize(
    ("drugs", "current", "history_extra", "fires"),
    [
        (MTX_HELD, "40", (), True),  # exactly ULN counts as back within
        (MTX_STOPPED, "20", (), True),
        (MTX_HELD, "40.5", (), False),
        (MTX, "20", (), False),  # still active: nothing to restart
        (MTX_HELD, "<10", (), True),  # censored, certainly normal
        # the other enzyme measured since the high result is still above ULN
        (MTX_HELD, "20", (("ast", "60", 3),), False),
        (MTX_HELD, "20", (("ast", "35", 3),), True),
    ],
)
def test_normalised_after_hold_consider_restart(
    drugs: tuple[DrugStatus, ...],
    current: str,
    history_extra: tuple[tuple[str, str, int], ...],
    fires: bool,
) -> None:
    high = res(Analyte.ALT, "150", on=DAY - timedelta(days=14), high="40")
    extra = tuple(
        res(Analyte(a), v, on=DAY - timedelta(days=d), high="40") for a, v, d in history_extra
    )
    findings = run(res(Analyte.ALT, current, high="40"), history=(high, *extra), drugs=drugs)
    assert ("LIVER_NORMALISED_CONSIDER_RESTART" in rules(findings)) is fires
    if fires:
        f = one(findings, "LIVER_NORMALISED_CONSIDER_RESTART")
        assert f.severity is AlertSeverity.INFO
        assert "lower dose" in f.action


def test_normalised_needs_an_earlier_high_result_within_a_year() -> None:
    old = res(Analyte.ALT, "150", on=DAY - timedelta(days=366), high="40")
    assert "LIVER_NORMALISED_CONSIDER_RESTART" not in rules(
        run(res(Analyte.ALT, "20", high="40"), history=(old,), drugs=MTX_HELD)
    )
    assert "LIVER_NORMALISED_CONSIDER_RESTART" not in rules(
        run(res(Analyte.ALT, "20", high="40"), drugs=MTX_HELD)
    )


# --- liver: BSR absolute ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "value", "fires"),
    [
        (Analyte.ALT, "100", False),
        (Analyte.ALT, "100.1", True),
        (Analyte.AST, "100", False),
        (Analyte.AST, "101", True),
    ],
)
def test_liver_absolute_100(analyte: Analyte, value: str, fires: bool) -> None:
    findings = run(res(analyte, value, high="40"))
    assert ("LIVER_GT_ABSOLUTE" in rules(findings)) is fires
    # below 3× ULN (120) the 3× rule stays silent
    assert "LIVER_GT_3X_ULN" not in rules(findings)
    if fires:
        f = one(findings, "LIVER_GT_ABSOLUTE")
        assert f.severity is AlertSeverity.CRITICAL
        assert f.limit == Decimal(100)
        assert "above 100 U/L" in f.message
        assert "BSR" in f.source.cite()


# --- BSR thresholds --------------------------------------------------------------------------

BSR_BOUNDARIES = [
    # analyte, value, rule, fires, severity
    (Analyte.WBC, "3.5", "WBC_LOW", False, None),
    (Analyte.WBC, "3.49", "WBC_LOW", True, AlertSeverity.CRITICAL),
    (Analyte.NEUTROPHILS, "1.6", "NEUTROPHILS_LOW", False, None),
    (Analyte.NEUTROPHILS, "1.59", "NEUTROPHILS_LOW", True, AlertSeverity.CRITICAL),
    (Analyte.PLATELETS, "140", "PLATELETS_LOW", False, None),
    (Analyte.PLATELETS, "139", "PLATELETS_LOW", True, AlertSeverity.CRITICAL),
    (Analyte.EOSINOPHILS, "0.5", "EOSINOPHILS_HIGH", False, None),
    (Analyte.EOSINOPHILS, "0.51", "EOSINOPHILS_HIGH", True, AlertSeverity.WARNING),
    (Analyte.MCV, "105", "MCV_HIGH", False, None),
    (Analyte.MCV, "105.1", "MCV_HIGH", True, AlertSeverity.WARNING),
    (Analyte.ALBUMIN, "30", "ALBUMIN_LOW", False, None),
    (Analyte.ALBUMIN, "29.9", "ALBUMIN_LOW", True, AlertSeverity.WARNING),
    (Analyte.LYMPHOCYTES, "0.5", "LYMPHOCYTES_LOW", False, None),
    (Analyte.LYMPHOCYTES, "0.49", "LYMPHOCYTES_LOW", True, AlertSeverity.WARNING),
    (Analyte.EGFR, "60", "EGFR_LOW", False, None),
    (Analyte.EGFR, "59.9", "EGFR_LOW", True, AlertSeverity.WARNING),
]


@pytest.mark.parametrize(("analyte", "value", "rule", "fires", "severity"), BSR_BOUNDARIES)
def test_bsr_threshold_boundaries(
    analyte: Analyte, value: str, rule: str, fires: bool, severity: AlertSeverity | None
) -> None:
    findings = run(res(analyte, value))
    assert (rule in rules(findings)) is fires
    if not fires:
        assert findings == []
        return
    f = one(findings, rule)
    assert f.severity is severity
    assert f.value == Decimal(value)
    assert f.limit is not None and f"{f.limit.normalize():f}" in f.message
    assert value in f.message


def test_bsr_messages_and_actions() -> None:
    wbc = one(run(res(Analyte.WBC, "3.0")), "WBC_LOW")
    assert wbc.withhold and wbc.action.startswith("Withhold methotrexate")
    assert "3.5" in wbc.message and "10*9/L" in wbc.message
    eos = one(run(res(Analyte.EOSINOPHILS, "0.8")), "EOSINOPHILS_HIGH")
    assert "unexplained" in eos.message and not eos.withhold
    alb = one(run(res(Analyte.ALBUMIN, "28")), "ALBUMIN_LOW")
    assert "unexplained" in alb.message
    mcv = one(run(res(Analyte.MCV, "110")), "MCV_HIGH")
    assert "B12" in mcv.action and "folate" in mcv.action and "TSH" in mcv.action
    lym = one(run(res(Analyte.LYMPHOCYTES, "0.3")), "LYMPHOCYTES_LOW")
    assert "UNVERIFIED" in lym.message and "UNVERIFIED" in lym.source.cite()
    egfr = one(run(res(Analyte.EGFR, "55")), "EGFR_LOW")
    assert egfr.repeat_within_days == 7 and egfr.tests_to_repeat == ("egfr",)


def test_no_drug_on_gives_a_review_warning() -> None:
    f = one(run(res(Analyte.WBC, "3.0"), drugs=NONE), "WBC_LOW")
    assert f.severity is AlertSeverity.WARNING
    assert "before starting or restarting" in f.action
    assert not f.withhold


def test_two_drugs_both_named() -> None:
    f = one(run(res(Analyte.PLATELETS, "100"), drugs=MTX + MMF), "PLATELETS_LOW")
    assert f.drugs == (Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL)
    assert "methotrexate and mycophenolate" in f.action


# --- creatinine and eGFR ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "current", "rule"),
    [
        # lowest within 12 months is 80 → limit 104 (> 30 %)
        ((("90", 200), ("80", 100)), "104", None),
        ((("90", 200), ("80", 100)), "104.1", "CREATININE_RISE"),
        # 80 was 366 days ago: baseline is 90 → limit 117
        ((("80", 366), ("90", 100)), "110", None),
        ((("80", 365), ("90", 100)), "110", "CREATININE_RISE"),
        # no earlier creatinine: no rule
        ((), "300", None),
        # confirmed by a rise within 28 days
        ((("80", 100), ("110", 7)), "112", "CREATININE_RISE_CONFIRMED"),
        ((("80", 100), ("110", 29)), "112", "CREATININE_RISE"),
    ],
)
def test_creatinine_rise(
    history: tuple[tuple[str, int], ...], current: str, rule: str | None
) -> None:
    hist = tuple(res(Analyte.CREATININE, v, on=DAY - timedelta(days=d)) for v, d in history)
    findings = run(res(Analyte.CREATININE, current), history=hist)
    got = [r for r in rules(findings) if r.startswith("CREATININE")]
    assert got == ([rule] if rule else [])
    if rule == "CREATININE_RISE":
        f = one(findings, rule)
        assert f.severity is AlertSeverity.WARNING
        assert f.repeat_within_days == 7 and f.tests_to_repeat == ("creatinine",)
        assert "baseline" in f.message
    if rule == "CREATININE_RISE_CONFIRMED":
        f = one(findings, rule)
        assert f.severity is AlertSeverity.CRITICAL and f.withhold
        assert f.supersedes_rule == "CREATININE_RISE"


def test_creatinine_baseline_in_mg_dl_is_converted() -> None:
    hist = (res(Analyte.CREATININE, "1.0", "mg/dL", on=DAY - timedelta(days=60)),)  # 88.4
    # limit 114.92 µmol/L
    assert "CREATININE_RISE" not in rules(run(res(Analyte.CREATININE, "114.92"), history=hist))
    # 1.3 mg/dL = 114.92 µmol/L exactly: not above; 1.31 mg/dL = 115.804: above
    assert rules(run(res(Analyte.CREATININE, "1.3", "mg/dL"), history=hist)) == []
    assert "CREATININE_RISE" in rules(run(res(Analyte.CREATININE, "1.31", "mg/dL"), history=hist))


def test_egfr_confirmed() -> None:
    prior = res(Analyte.EGFR, "55", on=DAY - timedelta(days=6))
    f = one(run(res(Analyte.EGFR, "52"), history=(prior,)), "EGFR_LOW_CONFIRMED")
    assert f.severity is AlertSeverity.CRITICAL and f.withhold
    normal_before = res(Analyte.EGFR, ">90", "mL/min/1.73m2", on=DAY - timedelta(days=6))
    assert rules(run(res(Analyte.EGFR, "52"), history=(normal_before,))) == ["EGFR_LOW"]


# --- mycophenolate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "drugs", "expected"),
    [
        ("1.3", MMF, ["NEUTROPHILS_LOW"]),
        ("1.29", MMF, ["MMF_NEUTROPHILS_LOW", "NEUTROPHILS_LOW"]),
        ("1.29", MTX, ["NEUTROPHILS_LOW"]),
        ("1.6", MMF, []),
    ],
)
def test_mmf_neutrophils(value: str, drugs: tuple[DrugStatus, ...], expected: list[str]) -> None:
    findings = run(res(Analyte.NEUTROPHILS, value), drugs=drugs)
    assert sorted(rules(findings)) == sorted(expected)
    if "MMF_NEUTROPHILS_LOW" in expected:
        f = one(findings, "MMF_NEUTROPHILS_LOW")
        assert f.severity is AlertSeverity.CRITICAL
        assert "Interrupt or reduce mycophenolate" in f.action
        assert "CellCept" in f.source.cite()


# --- local strict protocol -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "rule"),
    [
        (res(Analyte.NEUTROPHILS, "1.9"), "NEUTROPHILS_LOW"),
        (res(Analyte.NEUTROPHILS, "2.0"), None),
        (res(Analyte.PLATELETS, "149"), "PLATELETS_LOW"),
        (res(Analyte.PLATELETS, "150"), None),
        (res(Analyte.ALT, "81", high="40"), "LIVER_GT_3X_ULN"),
        (res(Analyte.ALT, "80", high="40"), None),
    ],
)
def test_local_strict_thresholds_change_the_outcome(result: LabResult, rule: str | None) -> None:
    default = run(result)
    local = run(result, thresholds=LOCAL_STRICT.thresholds)
    assert default == [] or rules(default) == ["LIVER_ABOVE_ULN_TWICE"]
    if rule is None:
        assert local == []
    else:
        f = one(local, rule)
        assert f.rule not in rules(default)
        if rule == "LIVER_GT_3X_ULN":
            assert "2× the upper limit" in f.message and f.limit == Decimal(80)
        else:
            assert "Local protocol" in f.source.guideline


# --- not evaluable ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (res(Analyte.ALT, "haemolysed"), ["RESULT_NOT_EVALUABLE"]),
        (res(Analyte.ALT, "130", "g/L"), ["RESULT_NOT_EVALUABLE"]),  # wrong unit, never guessed
        (res(Analyte.WBC, "2.0", "G/L"), ["RESULT_NOT_EVALUABLE"]),
        (res(Analyte.ALT, "1,5"), ["RESULT_NOT_EVALUABLE"]),
        (res(Analyte.ALT, "<10", "IU/dL"), ["RESULT_NOT_EVALUABLE"]),  # bound in an unknown unit
        # a bound that leaves a rule undecided goes to a human
        (res(Analyte.ALT, ">=100", high="40"), ["RESULT_NOT_EVALUABLE"]),  # may be exactly 100
        (res(Analyte.ALT, "<60", high="40"), ["RESULT_NOT_EVALUABLE"]),  # above ULN or not?
        (res(Analyte.NEUTROPHILS, "<=1.6"), ["RESULT_NOT_EVALUABLE"]),  # may be exactly 1.6
        (res(Analyte.NEUTROPHILS, "<2.0"), ["RESULT_NOT_EVALUABLE"]),
        (res(Analyte.EGFR, ">45", "mL/min/1.73m2"), ["RESULT_NOT_EVALUABLE"]),  # 50? 90?
    ],
)
def test_not_evaluable_results_go_to_a_human(result: LabResult, expected: list[str]) -> None:
    findings = run(result)
    assert sorted(rules(findings)) == sorted(expected)
    f = one(findings, "RESULT_NOT_EVALUABLE")
    assert f.severity is AlertSeverity.WARNING
    assert result.result.reported_value in f.message
    assert "No rule was applied to a guessed value" in f.message
    assert f.value is None
    for other in findings:
        assert other.value is None  # nothing pretends to know the exact value


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        # issue #15 changed this test: a censored value whose bound decides every rule of its
        # analyte is read as decided, with no "not evaluable" alert (these were all
        # RESULT_NOT_EVALUABLE besides the rules that fired).
        (res(Analyte.ALT, "<10"), []),  # certainly normal
        (res(Analyte.ALT, "<10", high="40"), []),
        (res(Analyte.EGFR, ">90", "mL/min/1.73m2"), []),  # normal renal function
        (res(Analyte.EGFR, "<15", "mL/min/1.73m2"), ["EGFR_LOW"]),
        (res(Analyte.ALT, ">1000", high="40"), ["LIVER_GT_3X_ULN", "LIVER_GT_ABSOLUTE"]),
        (res(Analyte.NEUTROPHILS, "<1.0"), ["NEUTROPHILS_LOW"]),
        (res(Analyte.NEUTROPHILS, "<1.6"), ["NEUTROPHILS_LOW"]),
        (res(Analyte.PLATELETS, ">150"), []),
        (res(Analyte.HAEMOGLOBIN, "<50"), []),  # no rule on haemoglobin: nothing undecided
    ],
)
def test_a_censored_value_decides_when_its_bound_decides(
    result: LabResult, expected: list[str]
) -> None:
    findings = run(result)
    assert sorted(rules(findings)) == sorted(expected)
    for f in findings:
        assert f.value is None  # nothing pretends to know the exact value


def test_a_censored_value_names_the_limit_its_bound_leaves_undecided() -> None:
    (f,) = run(res(Analyte.ALT, ">=100", high="40"))
    assert "does not tell whether it is above 3× ULN (120 U/L) or above 100 U/L" in f.message
    # ">100" decides the absolute limit but not whether it is above 3× ULN (120 U/L)
    found = run(res(Analyte.ALT, ">100", high="40"))
    assert sorted(rules(found)) == ["LIVER_GT_ABSOLUTE", "RESULT_NOT_EVALUABLE"]
    assert "above 3× ULN (120 U/L)." in one(found, "RESULT_NOT_EVALUABLE").message
    # with mycophenolate on, neutrophils "<1.5" is below 1.6 but undecided against 1.3
    mmf = run(res(Analyte.NEUTROPHILS, "<1.5"), drugs=MMF)
    assert "RESULT_NOT_EVALUABLE" in rules(mmf) and "NEUTROPHILS_LOW" in rules(mmf)
    assert "1.3" in one(mmf, "RESULT_NOT_EVALUABLE").message


# --- ordering, validation, properties --------------------------------------------------------


def test_findings_are_ordered_by_severity() -> None:
    findings = run(res(Analyte.ALT, ">1000", high="40"))
    order = {AlertSeverity.CRITICAL: 0, AlertSeverity.WARNING: 1, AlertSeverity.INFO: 2}
    assert [order[f.severity] for f in findings] == sorted(order[f.severity] for f in findings)
    assert set(rules(findings)) <= set(RULES)


def test_evaluate_is_deterministic() -> None:
    history = (
        res(Analyte.ALT, "130", on=DAY - timedelta(days=5), high="40"),
        res(Analyte.AST, "90", on=DAY - timedelta(days=5), high="40"),
    )
    a = run(res(Analyte.ALT, "125", high="40"), history=history)
    b = run(res(Analyte.ALT, "125", high="40"), history=tuple(reversed(history)))
    assert a == b


def test_input_errors() -> None:
    mismatched = LabResult(Analyte.AST, normalise(Analyte.ALT, "10", "U/L"), DAY)
    with pytest.raises(ClinicalInputError):
        run(mismatched)
    with pytest.raises(ClinicalInputError) as err:
        run(res(Analyte.ALT, "10"), birth=DAY + timedelta(days=1))
    assert err.value.field == "birth_date"


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(2020, 3, 2), date(2024, 3, 1), 3),
        (date(2020, 3, 2), date(2024, 3, 2), 4),
        (date(2020, 2, 29), date(2023, 2, 28), 2),
        (date(2020, 2, 29), date(2023, 3, 1), 3),
        (date(2020, 2, 29), date(2024, 2, 29), 4),
    ],
)
def test_age_in_years(birth: date, on: date, age: int) -> None:
    assert age_in_years(birth, on) == age


@settings(max_examples=300, deadline=None)
@given(
    value=st.decimals(min_value=0, max_value=2000, places=2, allow_nan=False),
    uln=st.decimals(min_value=10, max_value=200, places=1, allow_nan=False),
)
def test_three_times_rule_fires_exactly_above_three_times(value: Decimal, uln: Decimal) -> None:
    findings = run(res(Analyte.AST, f"{value:f}", high=f"{uln:f}"))
    fired = {"LIVER_GT_3X_ULN", "LIVER_GT_3X_ULN_CONFIRMED"} & set(rules(findings))
    assert bool(fired) is (value > 3 * uln)
    assert ("LIVER_GT_ABSOLUTE" in rules(findings)) is (value > 100)
