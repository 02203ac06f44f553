"""How the workspace writes units, numbers, dates and rules (issue #17 item 7)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clinical.labrules import RULES
from clinical.units import CANONICAL_UNIT
from workspace import display


@pytest.mark.parametrize(
    ("ucum", "written"),
    [
        ("umol/L", "µmol/L"),
        ("10*9/L", "×10⁹/L"),
        ("10^9/L", "×10⁹/L"),
        ("mL/min/{1.73_m2}", "mL/min/1.73 m²"),
        ("U/L", "U/L"),
        ("g/L", "g/L"),
        ("fL", "fL"),
    ],
)
def test_units_as_a_person_writes_them(ucum, written):
    assert display.unit(ucum) == written


def test_no_canonical_unit_is_shown_in_its_ucum_spelling():
    for shown in map(display.unit, CANONICAL_UNIT.values()):
        assert "*" not in shown and "{" not in shown and "umol" not in shown


def test_units_inside_engine_sentences():
    text = "Creatinine 140 umol/L on 2025-12-03; eGFR 50 mL/min/{1.73_m2}; WBC 3.1 10*9/L."
    assert display.human(text) == (
        "Creatinine 140 µmol/L on 3 Dec 2025; eGFR 50 mL/min/1.73 m²; WBC 3.1 ×10⁹/L."
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [("30.9400", "30.94"), ("150.0000", "150"), ("0.5000", "0.5"), ("1E+2", "100"), (None, "")],
)
def test_numbers_without_spurious_decimals(value, shown):
    assert display.number(None if value is None else Decimal(value)) == shown


def test_a_converted_creatinine_is_shown_in_whole_micromoles():
    class Lab:
        analyte, reported_unit, unit, value = "creatinine", "mg/dL", "umol/L", Decimal("30.9400")

    assert display.number(display.shown_value(Lab)) == "31"
    Lab.reported_unit = "umol/L"
    assert display.number(display.shown_value(Lab)) == "30.94"  # as reported, unrounded


def test_one_date_format_from_the_setting_in_the_clinics_zone(settings):
    london = ZoneInfo("Europe/London")
    assert display.day(date(2026, 12, 3)) == "3 Dec 2026"
    late = datetime(2026, 7, 1, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert display.day(late, london) == "2 Jul 2026"  # already tomorrow in London
    assert display.moment(late, london) == "2 Jul 2026 00:30"
    settings.MTXMONITOR_DATE_FORMAT = "d/m/Y"
    assert display.day(date(2026, 12, 3)) == "03/12/2026"


def test_every_lab_rule_has_a_name_in_words():
    missing = [r for r in RULES if r not in display.RULE_NAMES]
    assert missing == []
    assert all("_" not in name for name in display.RULE_NAMES.values())


def test_a_checks_citation_goes_behind_why():
    message = "Methotrexate is taken once weekly [NPSA 2004, alert 03] [MTX_NOT_WEEKLY; NPSA 2004]"
    assert display.plain_message(message) == "Methotrexate is taken once weekly"


def test_test_codes_in_words():
    assert display.tests(["chest_xray", "alt", "hepatitis_b"]) == (
        "chest X-ray, ALT, hepatitis B serology"
    )
