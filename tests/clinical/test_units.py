"""Analyte resolution and unit normalisation (clinical.units, REF §6)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.codes import Analyte
from clinical.types import ClinicalInputError
from clinical.units import (
    CANONICAL_UNIT,
    LOINC,
    PRIMARY_LOINC,
    accepted_units,
    conversion_factor,
    normalise,
    resolve_analyte,
)

MICRO = "\u00b5"  # µ MICRO SIGN
MU = "\u03bc"  # μ GREEK SMALL LETTER MU

# Every code of REF §6, written out independently of the module.
REF_LOINC = [
    ("1742-6", Analyte.ALT),
    ("1743-4", Analyte.ALT),
    ("1920-8", Analyte.AST),
    ("30239-8", Analyte.AST),
    ("1751-7", Analyte.ALBUMIN),
    ("2160-0", Analyte.CREATININE),
    ("14682-9", Analyte.CREATININE),
    ("98979-8", Analyte.EGFR),
    ("62238-1", Analyte.EGFR),
    ("33914-3", Analyte.EGFR),
    ("50384-7", Analyte.EGFR),
    ("6690-2", Analyte.WBC),
    ("751-8", Analyte.NEUTROPHILS),
    ("731-0", Analyte.LYMPHOCYTES),
    ("711-2", Analyte.EOSINOPHILS),
    ("777-3", Analyte.PLATELETS),
    ("718-7", Analyte.HAEMOGLOBIN),
    ("787-2", Analyte.MCV),
]


@pytest.mark.parametrize(("code", "analyte"), REF_LOINC)
def test_loinc_codes_of_ref_section_6(code: str, analyte: Analyte) -> None:
    assert LOINC[code] is analyte
    assert resolve_analyte(None, code) is analyte
    assert resolve_analyte(None, f"  {code} ") is analyte


def test_loinc_table_is_exactly_ref_section_6() -> None:
    assert dict(REF_LOINC) == LOINC


def test_primary_loinc_covers_every_analyte_and_round_trips() -> None:
    assert set(PRIMARY_LOINC) == set(Analyte)
    for analyte, code in PRIMARY_LOINC.items():
        assert LOINC[code] is analyte


def test_canonical_units() -> None:
    assert CANONICAL_UNIT == {
        Analyte.ALT: "U/L",
        Analyte.AST: "U/L",
        Analyte.ALBUMIN: "g/L",
        Analyte.CREATININE: "umol/L",
        Analyte.EGFR: "mL/min/{1.73_m2}",
        Analyte.WBC: "10*9/L",
        Analyte.NEUTROPHILS: "10*9/L",
        Analyte.LYMPHOCYTES: "10*9/L",
        Analyte.EOSINOPHILS: "10*9/L",
        Analyte.PLATELETS: "10*9/L",
        Analyte.HAEMOGLOBIN: "g/L",
        Analyte.MCV: "fL",
    }


@pytest.mark.parametrize(
    ("name", "analyte"),
    [
        ("ALT", Analyte.ALT),
        ("alt", Analyte.ALT),
        (" Alt ", Analyte.ALT),
        ("SGPT", Analyte.ALT),
        ("ALAT", Analyte.ALT),
        ("Alanine aminotransferase", Analyte.ALT),
        ("AST", Analyte.AST),
        ("SGOT", Analyte.AST),
        ("aspartate  transaminase", Analyte.AST),
        ("Albumin", Analyte.ALBUMIN),
        ("creatinine", Analyte.CREATININE),
        ("CREA", Analyte.CREATININE),
        ("eGFR", Analyte.EGFR),
        ("EGFR", Analyte.EGFR),
        ("estimated-GFR", Analyte.EGFR),
        ("WBC", Analyte.WBC),
        ("WCC", Analyte.WBC),
        ("white cell count", Analyte.WBC),
        ("Leucocytes", Analyte.WBC),
        ("Neutrophils", Analyte.NEUTROPHILS),
        ("ANC", Analyte.NEUTROPHILS),
        ("lymphocytes", Analyte.LYMPHOCYTES),
        ("Eosinophils", Analyte.EOSINOPHILS),
        ("EOS", Analyte.EOSINOPHILS),
        ("PLT", Analyte.PLATELETS),
        ("Platelet count", Analyte.PLATELETS),
        ("Hb", Analyte.HAEMOGLOBIN),
        ("HGB", Analyte.HAEMOGLOBIN),
        ("hemoglobin", Analyte.HAEMOGLOBIN),
        ("Haemoglobin", Analyte.HAEMOGLOBIN),
        ("MCV", Analyte.MCV),
        ("mean_cell_volume", Analyte.MCV),
    ],
)
def test_resolve_analyte_by_name(name: str, analyte: Analyte) -> None:
    assert resolve_analyte(name, None) is analyte
    assert resolve_analyte(name, PRIMARY_LOINC[analyte]) is analyte
    assert resolve_analyte(name, "") is analyte


@pytest.mark.parametrize(
    ("name", "loinc", "field"),
    [
        (None, None, "analyte"),
        ("", "  ", "analyte"),
        ("GFR", None, "analyte"),  # measured GFR / creatinine clearance: not eGFR
        ("bilirubin", None, "analyte"),
        ("neutrophils %", None, "analyte"),
        (None, "1234-5", "loinc"),
        ("ALT", "9999-9", "loinc"),
        ("ALT", "1920-8", "loinc"),  # AST code with ALT name
        ("Hb", "777-3", "loinc"),
        ("creatinine", "98979-8", "loinc"),
    ],
)
def test_resolve_analyte_refusals(name: str | None, loinc: str | None, field: str) -> None:
    with pytest.raises(ClinicalInputError) as err:
        resolve_analyte(name, loinc)
    assert err.value.field == field


COUNTS = [
    Analyte.WBC,
    Analyte.NEUTROPHILS,
    Analyte.LYMPHOCYTES,
    Analyte.EOSINOPHILS,
    Analyte.PLATELETS,
]

CONVERSIONS = [
    # liver enzymes
    (Analyte.ALT, "45", "U/L", "45"),
    (Analyte.ALT, "45", "IU/L", "45"),
    (Analyte.ALT, "45", "u/l", "45"),
    (Analyte.ALT, "45", " U / L ", "45"),
    (Analyte.ALT, "0.75", "ukat/L", "45"),
    (Analyte.ALT, "0.75", f"{MICRO}kat/L", "45"),
    (Analyte.ALT, "0.75", f"{MU}kat/L", "45"),
    (Analyte.AST, "2", f"{MICRO}kat / l", "120"),
    (Analyte.AST, "33", "IU/L", "33"),
    # albumin and haemoglobin
    (Analyte.ALBUMIN, "35", "g/L", "35"),
    (Analyte.ALBUMIN, "3.5", "g/dL", "35"),
    (Analyte.ALBUMIN, "2.95", "g/dl", "29.5"),
    (Analyte.HAEMOGLOBIN, "132", "g/L", "132"),
    (Analyte.HAEMOGLOBIN, "13.2", "g/dL", "132"),
    # creatinine
    (Analyte.CREATININE, "88", "umol/L", "88"),
    (Analyte.CREATININE, "88", f"{MICRO}mol/L", "88"),
    (Analyte.CREATININE, "88", f"{MU}mol/L", "88"),
    (Analyte.CREATININE, "88", "micromol/L", "88"),
    (Analyte.CREATININE, "1.0", "mg/dL", "88.4"),
    (Analyte.CREATININE, "1.2", "mg/dl", "106.08"),
    # eGFR
    (Analyte.EGFR, "75", "mL/min/{1.73_m2}", "75"),
    (Analyte.EGFR, "75", "mL/min/1.73m2", "75"),
    (Analyte.EGFR, "75", "mL/min/1.73 m2", "75"),
    (Analyte.EGFR, "75", "ml/min/1.73m²", "75"),
    # MCV
    (Analyte.MCV, "92", "fL", "92"),
    (Analyte.MCV, "92", "fl", "92"),
    (Analyte.MCV, "92", f"{MICRO}m3", "92"),
]
for _a in COUNTS:
    for _unit in (
        "10*9/L",
        "10^9/L",
        "x10E9/L",
        "10E9/L",
        "×10^9/L",
        "10*3/uL",
        "10^3/uL",
        f"10^3/{MICRO}L",
        "x10E3/uL",
        "K/uL",
        "k/ul",
        "/nL",
    ):
        CONVERSIONS.append((_a, "4.5", _unit, "4.5"))
    for _unit in ("/mm3", "/mm³", "cells/mm3", "cells/uL", "/uL", f"cells/{MU}L"):
        CONVERSIONS.append((_a, "4500", _unit, "4.5"))
CONVERSIONS.append((Analyte.PLATELETS, "250000", "/uL", "250"))
CONVERSIONS.append((Analyte.PLATELETS, "139", "10*9/L", "139"))


@pytest.mark.parametrize(("analyte", "value", "unit", "expected"), CONVERSIONS)
def test_conversions(analyte: Analyte, value: str, unit: str, expected: str) -> None:
    n = normalise(analyte, value, unit)
    assert n.evaluable, n.reason
    assert n.value == Decimal(expected)
    assert n.unit == CANONICAL_UNIT[analyte]
    assert n.reason is None
    assert n.comparator is None
    assert n.reported_value == value
    assert n.reported_unit == unit
    assert n.analyte is analyte
    assert conversion_factor(analyte, unit) == Decimal(expected) / Decimal(value)


WRONG_UNITS = [
    (Analyte.ALT, "g/L"),
    (Analyte.ALT, "mg/dL"),
    (Analyte.ALT, "nkat/L"),
    (Analyte.ALT, "U"),
    (Analyte.AST, "10*9/L"),
    (Analyte.ALBUMIN, "U/L"),
    (Analyte.ALBUMIN, "mg/dL"),
    (Analyte.ALBUMIN, "G/L"),  # giga prefix, never read as grams
    (Analyte.HAEMOGLOBIN, "mmol/L"),
    (Analyte.HAEMOGLOBIN, "G/dL"),
    (Analyte.CREATININE, "mmol/L"),
    (Analyte.CREATININE, "g/L"),
    (Analyte.EGFR, "mL/min"),  # not normalised to body-surface area
    (Analyte.EGFR, "mL/s"),
    (Analyte.WBC, "G/L"),
    (Analyte.WBC, "10*6/L"),
    (Analyte.WBC, "%"),
    (Analyte.NEUTROPHILS, "%"),
    (Analyte.PLATELETS, "10*12/L"),
    (Analyte.PLATELETS, "g/L"),
    (Analyte.MCV, "pg"),
    (Analyte.MCV, "L"),
    (Analyte.ALT, ""),
    (Analyte.ALT, "   "),
    (Analyte.ALT, None),
]


@pytest.mark.parametrize(("analyte", "unit"), WRONG_UNITS)
def test_unknown_or_wrong_units_are_not_evaluable(analyte: Analyte, unit: str | None) -> None:
    n = normalise(analyte, "45", unit)
    assert not n.evaluable
    assert n.value is None
    assert n.reason
    assert "unit" in n.reason
    assert n.unit == CANONICAL_UNIT[analyte]
    assert conversion_factor(analyte, unit) is None


BAD_VALUES = [
    ("haemolysed", "not a number"),
    ("", "no value"),
    ("   ", "no value"),
    ("NaN", "not a number"),
    ("nan", "not a number"),
    ("inf", "not a number"),
    ("Infinity", "not a number"),
    ("1e3", "not a number"),
    ("1,5", "comma"),
    ("1,500", "comma"),
    ("-5", "negative"),
    ("+5", "not a number"),
    ("1.2.3", "not a number"),
    ("12 U/L", "not a number"),
    ("0x1A", "not a number"),
    ("١٢", "not a number"),  # Arabic-Indic digits are not read
    ("1234567890123", "more than 12 digits"),
    ("0.0000000000001", "more than 12 digits"),
]


@pytest.mark.parametrize(("value", "why"), BAD_VALUES)
def test_non_numeric_values_are_not_evaluable(value: str, why: str) -> None:
    n = normalise(Analyte.ALT, value, "U/L")
    assert not n.evaluable
    assert n.value is None
    assert n.bound is None
    assert n.reason is not None and why in n.reason
    assert n.reported_value == value


def test_none_value_is_not_evaluable() -> None:
    n = normalise(Analyte.ALT, None, "U/L")
    assert not n.evaluable
    assert n.reason == "no value was reported"


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "comparator", "bound"),
    [
        (Analyte.ALT, "<10", "U/L", "<", "10"),
        (Analyte.ALT, "< 10", "U/L", "<", "10"),
        (Analyte.ALT, ">200", "U/L", ">", "200"),
        (Analyte.ALT, "<0.2", "ukat/L", "<", "12"),
        (Analyte.EGFR, ">90", "mL/min/1.73m2", ">", "90"),
        (Analyte.PLATELETS, "<=5", "10*9/L", "<=", "5"),
        (Analyte.PLATELETS, "≤5", "10*9/L", "<=", "5"),
        (Analyte.WBC, "≥ 100", "10^9/L", ">=", "100"),
        (Analyte.WBC, ">=100000", "/uL", ">=", "100"),
    ],
)
def test_censored_values_keep_comparator_and_stay_not_evaluable(
    analyte: Analyte, value: str, unit: str, comparator: str, bound: str
) -> None:
    n = normalise(analyte, value, unit)
    assert not n.evaluable
    assert n.value is None
    assert n.comparator == comparator
    assert n.bound == Decimal(bound)
    assert n.reason is not None and "censored" in n.reason
    assert n.display() == f"{value} {unit}"


def test_censored_value_with_unknown_unit_has_no_bound() -> None:
    n = normalise(Analyte.ALT, "<10", "g/L")
    assert not n.evaluable
    assert n.comparator == "<"
    assert n.bound is None
    assert n.reason is not None and "censored" in n.reason and "unit" in n.reason


def test_unknown_analyte_is_an_input_error() -> None:
    with pytest.raises(ClinicalInputError) as err:
        normalise("bilirubin", "10", "umol/L")
    assert err.value.field == "analyte"


def test_zero_is_a_valid_value() -> None:
    n = normalise(Analyte.NEUTROPHILS, "0", "10*9/L")
    assert n.evaluable and n.value == 0
    assert normalise(Analyte.PLATELETS, "123456789012", "/uL").evaluable  # 12 digits


def test_accepted_units_lists_the_ucum_canonical_unit_first_class() -> None:
    for analyte in Analyte:
        assert CANONICAL_UNIT[analyte] in accepted_units(analyte)


@settings(max_examples=300, deadline=None)
@given(
    analyte=st.sampled_from(list(Analyte)),
    value=st.text(max_size=12),
    unit=st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["U/L", "g/dL", "/uL"])),
)
def test_normalise_never_raises_and_never_guesses(
    analyte: Analyte, value: str, unit: str | None
) -> None:
    n = normalise(analyte, value, unit)
    if n.evaluable:
        assert n.value is not None and n.value.is_finite() and n.value >= 0
        assert n.reason is None and n.comparator is None
        assert conversion_factor(analyte, unit) is not None
    else:
        assert n.value is None and n.reason


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("x" * 500, "y" * 500),
        ("<" + "9" * 400, "10*9/L"),
        ("1," + "5" * 400, "z" * 300),
        ("-" + "1" * 300, "G/" + "L" * 300),
    ],
)
def test_reasons_stay_short_enough_to_store(value: str, unit: str) -> None:
    for analyte in Analyte:
        n = normalise(analyte, value, unit)
        assert not n.evaluable
        assert n.reason is not None and len(n.reason) <= 200, n.reason


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False))
def test_ukat_conversion_is_exactly_sixty(value: Decimal) -> None:
    text = f"{value:f}"
    n = normalise(Analyte.ALT, text, "µkat/L")
    assert n.evaluable
    assert n.value == Decimal(text) * 60
