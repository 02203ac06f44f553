"""Protocols as data (clinical.protocols, REF §1–3)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from clinical.codes import Analyte, Drug, RiskFactor, Sex
from clinical.protocols import (
    ALL_TEST_CODES,
    BSR_2017,
    DEFAULT_THRESHOLDS,
    EULAR_3E_2009,
    LOCAL_STRICT,
    MMF_LABEL,
    PROTOCOLS,
    AfterIncrease,
    BaselineCondition,
    BaselineItem,
    NonLabTest,
    Phase,
    PhaseEnd,
    PrescriptionChange,
    Protocol,
    default_protocol_for,
    default_uln,
    get_protocol,
    protocol_with_thresholds,
)
from clinical.types import ClinicalInputError, Source


def test_registry() -> None:
    assert set(PROTOCOLS) == {"eular_3e_2009", "bsr_2017", "mmf_label", "local_strict_example"}
    for code, protocol in PROTOCOLS.items():
        assert protocol.code == code
        assert get_protocol(code) is protocol
    with pytest.raises(ClinicalInputError) as err:
        get_protocol("acr_2008")
    assert err.value.field == "protocol"


@pytest.mark.parametrize(
    ("drug", "code"),
    [(Drug.METHOTREXATE, "eular_3e_2009"), (Drug.MYCOPHENOLATE_MOFETIL, "bsr_2017")],
)
def test_default_protocols(drug: Drug, code: str) -> None:
    assert default_protocol_for(drug).code == code
    assert drug in default_protocol_for(drug).drugs


def test_no_protocol_for_folic_acid() -> None:
    with pytest.raises(ClinicalInputError) as err:
        default_protocol_for(Drug.FOLIC_ACID)
    assert err.value.field == "drug"


# (protocol, phase name, min, default, max, tolerance, ends, duration)
PHASES = [
    (EULAR_3E_2009, "initiation", 28, 35, 42, 7, PhaseEnd.DOSE_STABLE, None),
    (EULAR_3E_2009, "maintenance", 28, 56, 84, 7, PhaseEnd.NEVER, None),
    (BSR_2017, "initiation", 14, 14, 14, 3, PhaseEnd.DOSE_STABLE, None),
    (BSR_2017, "consolidation", 28, 28, 28, 7, PhaseEnd.AFTER_DAYS, 84),
    (BSR_2017, "maintenance", 84, 84, 84, 7, PhaseEnd.NEVER, None),
    (MMF_LABEL, "month 1", 7, 7, 7, 1, PhaseEnd.AFTER_DAYS, 28),
    (MMF_LABEL, "months 2–3", 14, 14, 14, 3, PhaseEnd.AFTER_DAYS, 56),
    (MMF_LABEL, "months 4–12", 28, 28, 28, 7, PhaseEnd.AFTER_DAYS, 281),
    (MMF_LABEL, "after year 1", 84, 84, 84, 7, PhaseEnd.NEVER, None),
]


@pytest.mark.parametrize(
    ("protocol", "name", "lo", "default", "hi", "tol", "ends", "duration"), PHASES
)
def test_phase_data(
    protocol: Protocol,
    name: str,
    lo: int,
    default: int,
    hi: int,
    tol: int,
    ends: PhaseEnd,
    duration: int | None,
) -> None:
    phase = next(p for p in protocol.phases if p.name == name)
    assert (phase.min_days, phase.default_days, phase.max_days) == (lo, default, hi)
    assert phase.tolerance_days == tol
    assert phase.ends is ends
    assert phase.duration_days == duration


def test_phase_order() -> None:
    assert [p.name for p in EULAR_3E_2009.phases] == ["initiation", "maintenance"]
    assert [p.name for p in BSR_2017.phases] == ["initiation", "consolidation", "maintenance"]
    assert [p.name for p in MMF_LABEL.phases] == [
        "month 1",
        "months 2–3",
        "months 4–12",
        "after year 1",
    ]
    # the MMF label schedule reaches "after year 1" exactly 365 days after the start
    assert sum(p.duration_days or 0 for p in MMF_LABEL.phases) == 365


def test_mmf_after_year_one_is_marked_as_a_project_choice() -> None:
    phase = MMF_LABEL.phases[-1]
    assert phase.note is not None and "project choice" in phase.note
    assert phase.source is not None and "project choice" in phase.source.guideline


@pytest.mark.parametrize(
    ("protocol", "restarts", "after_increase"),
    [
        (
            EULAR_3E_2009,
            {"start", "dose_increase", "restart", "route_change"},
            AfterIncrease.RESTART,
        ),
        (BSR_2017, {"start", "dose_increase", "restart", "route_change"}, AfterIncrease.RESUME),
        (MMF_LABEL, {"start", "restart"}, AfterIncrease.RESTART),
    ],
)
def test_early_phase_restarts(
    protocol: Protocol, restarts: set[str], after_increase: AfterIncrease
) -> None:
    assert {c.value for c in protocol.early_phase_restarts_on} == restarts
    assert protocol.after_increase is after_increase
    assert protocol.stable_after_days == 42


def test_range_texts() -> None:
    assert EULAR_3E_2009.phases[0].range_text() == "every 4–6 weeks"
    assert EULAR_3E_2009.phases[1].range_text() == "every 4–12 weeks"
    assert BSR_2017.phases[0].range_text() == "every 2 weeks"
    assert MMF_LABEL.phases[0].range_text() == "every week"
    assert MMF_LABEL.phases[3].range_text() == "every 12 weeks"


def test_shortening_risk_factors_and_ages() -> None:
    for protocol in PROTOCOLS.values():
        assert protocol.shortening_risk_factors == frozenset(RiskFactor)
        assert protocol.shorten_below_age == 4
        assert protocol.shorten_above_age == 70
        assert protocol.abnormal_lookback_days == 365


def test_mtx_baseline_tests() -> None:
    for protocol in (EULAR_3E_2009, BSR_2017):
        items = {i.test: i for i in protocol.baseline_for(Drug.METHOTREXATE)}
        assert set(items) == {
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
            "chest_xray",
            "hepatitis_b",
            "hepatitis_c",
            "hiv",
            "pregnancy_test",
        }
        assert items["chest_xray"].window_days == 365
        assert items["alt"].window_days == 28
        assert items["pregnancy_test"].condition is BaselineCondition.FEMALE_12_55
        assert all(i.condition is None for t, i in items.items() if t != "pregnancy_test")


def test_mmf_baseline_tests() -> None:
    for protocol in (BSR_2017, MMF_LABEL):
        tests = {i.test for i in protocol.baseline_for(Drug.MYCOPHENOLATE_MOFETIL)}
        assert {"wbc", "neutrophils", "platelets", "alt", "ast", "creatinine", "egfr"} <= tests
        assert {"hepatitis_b", "hepatitis_c", "hiv", "pregnancy_test"} <= tests
        assert "chest_xray" not in tests
    assert EULAR_3E_2009.baseline_for(Drug.MYCOPHENOLATE_MOFETIL) == ()


def test_routine_cover_groups_are_test_codes() -> None:
    for protocol in PROTOCOLS.values():
        for group in protocol.routine_cover:
            assert group <= ALL_TEST_CODES
        # every covering test is also ordered
        assert set().union(*protocol.routine_cover) <= set(protocol.routine_tests)


# (field, value) of REF §3, with the sources' strictness
THRESHOLDS = [
    ("liver_uln_multiple", "3"),
    ("liver_absolute", "100"),
    ("wbc_low", "3.5"),
    ("neutrophils_low", "1.6"),
    ("platelets_low", "140"),
    ("eosinophils_high", "0.5"),
    ("mcv_high", "105"),
    ("albumin_low", "30"),
    ("creatinine_rise_fraction", "0.30"),
    ("egfr_low", "60"),
    ("lymphocytes_low", "0.5"),
    ("mmf_neutrophils_low", "1.3"),
]


@pytest.mark.parametrize(("name", "value"), THRESHOLDS)
def test_default_thresholds(name: str, value: str) -> None:
    limit = getattr(DEFAULT_THRESHOLDS, name)
    assert limit.value == Decimal(value)
    for protocol in (EULAR_3E_2009, BSR_2017, MMF_LABEL):
        assert getattr(protocol.thresholds, name) == limit


def test_threshold_sources() -> None:
    t = DEFAULT_THRESHOLDS
    assert "EULAR/3E" in t.liver_uln_multiple.cite() and "rec 5" in t.liver_uln_multiple.cite()
    assert "BSR" in t.wbc_low.cite()  # type: ignore[union-attr]
    assert "CellCept" in t.mmf_neutrophils_low.cite()  # type: ignore[union-attr]
    lymph = t.lymphocytes_low
    assert lymph is not None and not lymph.source.verified
    assert "UNVERIFIED" in lymph.cite()
    assert t.repeat_within_days == 7
    assert t.confirm_window_days == 28
    assert t.creatinine_baseline_days == 365


@pytest.mark.parametrize(
    ("analyte", "sex", "age", "value", "label_has"),
    [
        # issue #15 changed this test: children's ALT ULN by age band (REF §3) instead of the
        # SAFETY 12-17 limits for every under-18.
        (Analyte.ALT, Sex.MALE, 0, "33", "under 1 year"),
        (Analyte.ALT, Sex.FEMALE, 0, "33", "CALIPER"),
        (Analyte.ALT, Sex.MALE, 1, "25", "1 to under 12 years"),
        (Analyte.ALT, Sex.MALE, 10, "25", "CALIPER"),
        (Analyte.ALT, Sex.UNKNOWN, 11, "25", "no sex difference"),
        (Analyte.ALT, Sex.MALE, 12, "25.8", "boys"),
        (Analyte.ALT, Sex.MALE, 17, "25.8", "SAFETY"),
        (Analyte.ALT, Sex.FEMALE, 12, "22.1", "girls"),
        (Analyte.ALT, Sex.FEMALE, 17, "22.1", "girls"),
        (Analyte.ALT, Sex.UNKNOWN, 15, "22.1", "lower"),
        (Analyte.ALT, Sex.OTHER, 15, "22.1", "lower"),
        (Analyte.ALT, Sex.MALE, 18, "40", "configured adult default, not from a guideline"),
        (Analyte.ALT, Sex.FEMALE, 80, "40", "configured adult default, not from a guideline"),
        (Analyte.AST, Sex.MALE, 3, "40", "no published paediatric AST standard"),
        (Analyte.AST, Sex.FEMALE, 30, "40", "configured adult default, not from a guideline"),
    ],
)
def test_default_ulns(analyte: Analyte, sex: Sex, age: int, value: str, label_has: str) -> None:
    item = default_uln(DEFAULT_THRESHOLDS, analyte, sex, age)
    assert item.value == Decimal(value)
    assert label_has in item.label


def test_default_uln_sources() -> None:
    # issue #15 changed this test: a 9-year-old is in the CALIPER band (UNVERIFIED), a
    # 15-year-old in the SAFETY band.
    teen = default_uln(DEFAULT_THRESHOLDS, Analyte.ALT, Sex.MALE, 15)
    assert "Schwimmer" in teen.source.guideline and teen.source.year == 2010
    child = default_uln(DEFAULT_THRESHOLDS, Analyte.ALT, Sex.MALE, 9)
    assert "CALIPER" in child.source.guideline and not child.source.verified
    assert "UNVERIFIED" in child.source.cite() and "UNVERIFIED" in child.label
    adult = default_uln(DEFAULT_THRESHOLDS, Analyte.ALT, Sex.MALE, 40)
    assert "not from a guideline" in adult.source.guideline


def test_no_default_uln_for_other_analytes() -> None:
    with pytest.raises(ClinicalInputError):
        default_uln(DEFAULT_THRESHOLDS, Analyte.WBC, Sex.MALE, 40)


def test_local_strict_example_changes_only_its_thresholds() -> None:
    t = LOCAL_STRICT.thresholds
    assert t.neutrophils_low is not None and t.neutrophils_low.value == Decimal("2.0")
    assert t.platelets_low is not None and t.platelets_low.value == Decimal(150)
    assert t.liver_uln_multiple.value == Decimal(2)
    assert "Local protocol" in t.neutrophils_low.source.guideline
    assert t.wbc_low == DEFAULT_THRESHOLDS.wbc_low
    assert LOCAL_STRICT.phases == EULAR_3E_2009.phases
    assert LOCAL_STRICT.code == "local_strict_example"
    # the base protocol is untouched
    assert EULAR_3E_2009.thresholds == DEFAULT_THRESHOLDS


def test_protocol_with_thresholds_overrides() -> None:
    src = Source("Clinic X protocol", 2026, "local")
    p = protocol_with_thresholds(
        BSR_2017,
        code="clinic_x",
        name="Clinic X",
        source=src,
        neutrophils_low="2.5",
        lymphocytes_low=None,
        repeat_within_days=5,
    )
    assert p.thresholds.neutrophils_low is not None
    assert p.thresholds.neutrophils_low.value == Decimal("2.5")
    assert p.thresholds.neutrophils_low.source == src
    assert p.thresholds.lymphocytes_low is None
    assert p.thresholds.repeat_within_days == 5
    assert p.phases == BSR_2017.phases and p.drugs == BSR_2017.drugs


@pytest.mark.parametrize(
    "overrides", [{"neutrophil_low": 2}, {"liver_uln_multiple": None}, {"nonsense": 1}]
)
def test_protocol_with_thresholds_refuses(overrides: dict[str, object]) -> None:
    with pytest.raises(ClinicalInputError):
        protocol_with_thresholds(
            EULAR_3E_2009,
            code="x",
            name="x",
            source=Source("x", 2026, "x"),
            **overrides,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    "args",
    [
        ("p", 30, 28, 42, 7, PhaseEnd.NEVER),  # min > default
        ("p", 28, 35, 30, 7, PhaseEnd.NEVER),  # default > max
        ("p", 0, 0, 0, 0, PhaseEnd.NEVER),  # zero interval
        ("p", 7, 7, 7, 7, PhaseEnd.NEVER),  # tolerance not below min
        ("p", 7, 7, 7, 1, PhaseEnd.AFTER_DAYS),  # no duration
    ],
)
def test_phase_validation(args: tuple[object, ...]) -> None:
    with pytest.raises(ClinicalInputError):
        Phase(*args, "desc")  # type: ignore[arg-type]


def test_protocol_validation() -> None:
    open_first = dataclasses.replace(EULAR_3E_2009.phases[1])
    with pytest.raises(ClinicalInputError):
        dataclasses.replace(EULAR_3E_2009, phases=(open_first, EULAR_3E_2009.phases[0]))
    with pytest.raises(ClinicalInputError):
        dataclasses.replace(EULAR_3E_2009, phases=())
    with pytest.raises(ClinicalInputError):
        dataclasses.replace(
            EULAR_3E_2009, early_phase_restarts_on=frozenset({PrescriptionChange.DOSE_INCREASE})
        )
    with pytest.raises(ClinicalInputError):
        dataclasses.replace(EULAR_3E_2009, routine_cover=(frozenset({"bilirubin"}),))
    with pytest.raises(ClinicalInputError):
        BaselineItem("bilirubin", 28, "labs")
    with pytest.raises(ClinicalInputError):
        BaselineItem(NonLabTest.HIV, 0, "serology")


def test_sources_are_cited() -> None:
    for protocol in PROTOCOLS.values():
        assert protocol.source.cite()
        for drug in protocol.drugs:
            for item in protocol.baseline_for(drug):
                assert item.source is not None
    assert "Visser" in EULAR_3E_2009.source.guideline
    assert EULAR_3E_2009.source.section == "rec 4"
    assert "Ledingham" in BSR_2017.source.guideline
    assert "§5.4" in MMF_LABEL.source.section
