"""How the workspace writes things for people: one date format, units as a person writes them,
numbers without spurious decimals, rule and test codes in words (issue #17 item 7).

The clinical core keeps its stable codes and UCUM units (`clinical.units.CANONICAL_UNIT`); only
what is shown changes here.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.utils import dateformat, timezone

from clinical.protocols import TEST_LABELS

# UCUM spellings (and the common lab spellings of them) → how a person writes the unit.
_UNIT_WORDS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"^umol/L$", re.I), "µmol/L"),
    (re.compile(r"^ukat/L$", re.I), "µkat/L"),
    (re.compile(r"^10[*^]9/L$"), "×10⁹/L"),
    (re.compile(r"^10[*^]12/L$"), "×10¹²/L"),
    (re.compile(r"^mL/min/\{1\.73_m2\}$"), "mL/min/1.73 m²"),
    (re.compile(r"^mL/min/1\.73\s*m2$"), "mL/min/1.73 m²"),
    (re.compile(r"^10[*^]3/uL$"), "×10³/µL"),
)


def unit(text: str | None) -> str:
    """'umol/L' → 'µmol/L', '10*9/L' → '×10⁹/L', 'mL/min/{1.73_m2}' → 'mL/min/1.73 m²'."""
    text = (text or "").strip()
    for pattern, words in _UNIT_WORDS:
        if pattern.match(text):
            return words
    return text


_UNIT_IN_TEXT = re.compile(r"(?<![\w/])(umol/L|ukat/L|10[*^]9/L|10[*^]12/L|mL/min/\{1\.73_m2\})")


def units_in_text(text: str) -> str:
    """The UCUM spellings inside a sentence ("creatinine 140 umol/L") as a person writes them."""
    return _UNIT_IN_TEXT.sub(lambda m: unit(m[1]), text or "")


def human(text: str) -> str:
    """A sentence from the clinical core with its dates and units in the workspace's style."""
    return units_in_text(dates_in_text(text))


def number(value: Decimal | float | int | str | None) -> str:
    """A value as a person writes it: 30.9400 → '30.94', 150.0000 → '150', never '1.5E+2'."""
    if value is None or value == "":
        return ""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite():
        return str(d)
    text = format(d.normalize(), "f")
    return text


# Decimal places a converted value is shown with: 0.35 mg/dL creatinine is 30.94 µmol/L by the
# factor 88.4, but the lab measured two significant figures; µmol/L is written in whole numbers.
# Only converted values are rounded for display (flags and rules use the stored value); a value
# reported in the canonical unit is shown as reported.
CONVERTED_DECIMALS: dict[str, int] = {
    "creatinine": 0, "alt": 0, "ast": 0, "albumin": 0, "haemoglobin": 0, "egfr": 0,
    "wbc": 2, "neutrophils": 2, "lymphocytes": 2, "eosinophils": 2, "platelets": 0, "mcv": 0,
}  # fmt: skip


def shown_value(lab) -> Decimal | None:
    """A result's canonical value as shown: rounded per CONVERTED_DECIMALS when converted."""
    value = lab.value
    if value is None:
        return None
    converted = unit(lab.reported_unit).lower() != unit(lab.unit).lower()
    places = CONVERTED_DECIMALS.get(lab.analyte)
    if converted and places is not None:
        return value.quantize(Decimal(1).scaleb(-places))
    return value


def day(value: date | datetime | None, tz=None) -> str:
    """The workspace's one date format (settings.MTXMONITOR_DATE_FORMAT) in the clinic's zone."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(tz) if tz is not None else timezone.localtime(value)
        value = value.date()
    return _format_day(value, settings.MTXMONITOR_DATE_FORMAT)


@lru_cache(maxsize=4096)
def _format_day(value: date, fmt: str) -> str:
    # A chart with five years of results formats the same few hundred dates thousands of
    # times; Django's dateformat is the slowest part of that (bench/bench_chart.py).
    return dateformat.format(value, fmt)


def moment(value: datetime | None, tz=None) -> str:
    """A date and a 24-hour time in the clinic's zone: '3 Dec 2026 09:15'."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(tz) if tz is not None else timezone.localtime(value)
    return f"{day(value.date())} {value:%H:%M}"


_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def dates_in_text(text: str) -> str:
    """Rewrite the ISO dates the clinical core writes into its explanations ("on 2025-12-03")
    in the workspace's date format, so one page shows one format."""

    def repl(m: re.Match) -> str:
        try:
            return day(date(int(m[1]), int(m[2]), int(m[3])))
        except ValueError:
            return m[0]

    return _ISO_DAY.sub(repl, text or "")


def test_name(code: str) -> str:
    """'chest_xray' → 'chest X-ray', 'alt' → 'ALT' (clinical.protocols.TEST_LABELS)."""
    return TEST_LABELS.get(code, code.replace("_", " "))


def tests(codes) -> str:
    return ", ".join(test_name(c) for c in codes or ())


# Lab rules (clinical.labrules.RULES) in words, for the worklist; the alert's own message says
# the value and the limit. tests/workspace/test_display.py checks every rule has a name.
RULE_NAMES: dict[str, str] = {
    "RESULT_NOT_EVALUABLE": "Result not evaluable: needs a person",
    "LIVER_GT_3X_ULN": "Liver enzyme above 3× the upper limit of normal",
    "LIVER_GT_3X_ULN_CONFIRMED": "Liver enzyme above 3× the upper limit of normal, confirmed",
    "LIVER_ABOVE_ULN_TWICE": "Liver enzyme above the upper limit of normal twice running",
    "LIVER_NORMALISED_CONSIDER_RESTART": "Liver enzymes back to normal: consider restarting",
    "LIVER_GT_ABSOLUTE": "Liver enzyme above 100 U/L",
    "WBC_LOW": "White cell count low",
    "NEUTROPHILS_LOW": "Neutrophils low",
    "PLATELETS_LOW": "Platelets low",
    "EOSINOPHILS_HIGH": "Eosinophils high",
    "MCV_HIGH": "MCV high (large red cells)",
    "ALBUMIN_LOW": "Albumin low",
    "LYMPHOCYTES_LOW": "Lymphocytes low",
    "CREATININE_RISE": "Creatinine more than 30 % above baseline",
    "CREATININE_RISE_CONFIRMED": "Creatinine more than 30 % above baseline, confirmed",
    "EGFR_LOW": "eGFR below 60 mL/min/1.73 m²",
    "EGFR_LOW_CONFIRMED": "eGFR below 60 mL/min/1.73 m², confirmed",
    "MMF_NEUTROPHILS_LOW": "Neutrophils low on mycophenolate",
}


def rule_name(code: str) -> str:
    return RULE_NAMES.get(code) or code.replace("_", " ").capitalize()


_TRAILING_CITATION = re.compile(r"\s*\[[^\[\]]*\]\s*$")


def plain_message(text: str) -> str:
    """A check's message without the bracketed citation(s) the core appends ("… [BSR 2017,
    Table 3]" and, on a refused save, "[CODE; source]"): the source is shown behind "why?"."""
    text = text or ""
    while True:
        stripped = _TRAILING_CITATION.sub("", text)
        if stripped == text:
            return text
        text = stripped


def words(code: str | None) -> str:
    """A stored code in words: 'once_weekly' → 'once weekly'."""
    return (code or "").replace("_", " ")
