"""Analyte identification (names, LOINC) and unit normalisation for lab results (public API).

A lab value is only used by the rules once it is in the analyte's canonical unit (REF §6). A
unit that is unknown, or known but not valid *for that analyte* (g/L for ALT), is never guessed:
the result is returned as not evaluable, with the reason, for a human to read. The same holds for
values that are not a plain number: ``"<10"``, ``">200"``, ``"haemolysed"``, ``""``, ``"NaN"``,
``"inf"``, decimal commas (``"1,5"`` may be 1.5 or, with a thousands separator, 15 or 1 500),
signs, exponents, non-ASCII digits and numbers of more than 12 digits.

Public API (stable; the Django layer calls these):

- ``LOINC: dict[str, Analyte]`` every LOINC code of REF §6, alternatives included;
  ``PRIMARY_LOINC: dict[Analyte, str]`` the first-listed code per analyte.
- ``resolve_analyte(analyte: str | None, loinc: str | None) -> Analyte``: from a name (case- and
  spacing-insensitive, common spellings: "ALT", "SGPT", "Hb", "haemoglobin", "hemoglobin",
  "eGFR", "WBC", "PLT", ...) and/or a LOINC code; both given and disagreeing is an error.
- ``CANONICAL_UNIT: dict[Analyte, str]`` the UCUM unit every value is converted to.
- ``normalise(analyte, value_text, unit_text) -> Normalised``.
- ``conversion_factor(analyte, unit_text) -> Decimal | None``: the factor to the canonical unit,
  ``None`` for a unit not accepted for that analyte (used to convert lab reference limits).
- ``accepted_units(analyte) -> tuple[str, ...]``: the spellings accepted, for error messages.

Unit matching ignores spaces and letter case, maps the micro sign (U+00B5) and the Greek mu
(U+03BC) to ``u``, and "×" to "x". One exception to case-insensitivity: a unit starting with a
capital ``G/`` (``G/L``) is refused for every analyte, because some laboratories use ``G`` for
the SI prefix giga (10⁹/L, a cell count) and reading it as grams would be a guess.

Conversions (REF §6): ALT, AST µkat/L × 60 → U/L; albumin, haemoglobin g/dL × 10 → g/L;
creatinine mg/dL × 88.4 → umol/L; cell counts 10³/µL (= 10⁹/L, ``K/uL``, ``/nL``) × 1, cells/mm³
(= cells/µL) ÷ 1000 → 10*9/L; MCV fL (= µm³); eGFR only mL/min/1.73 m² (plain ``mL/min`` is not
normalised to body-surface area and is refused). The LOINC code does not choose the conversion:
the reported unit does (labs send creatinine in µmol/L under the mass code 2160-0).

Sources: REF §6 (LOINC codes, canonical UCUM units, conversions); UCUM for the unit spellings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from clinical.codes import Analyte
from clinical.types import ClinicalInputError

__all__ = [
    "CANONICAL_UNIT",
    "COMPARATORS",
    "LOINC",
    "PRIMARY_LOINC",
    "Normalised",
    "accepted_units",
    "conversion_factor",
    "normalise",
    "resolve_analyte",
]

# --- LOINC (REF §6) --------------------------------------------------------------------------

LOINC: dict[str, Analyte] = {
    "1742-6": Analyte.ALT,
    "1743-4": Analyte.ALT,  # with P-5'-P
    "1920-8": Analyte.AST,
    "30239-8": Analyte.AST,  # with P-5'-P
    "1751-7": Analyte.ALBUMIN,
    "2160-0": Analyte.CREATININE,  # mass/volume
    "14682-9": Analyte.CREATININE,  # moles/volume
    "98979-8": Analyte.EGFR,  # CKD-EPI 2021
    "62238-1": Analyte.EGFR,  # CKD-EPI
    "33914-3": Analyte.EGFR,  # MDRD
    "50384-7": Analyte.EGFR,  # Schwartz (children)
    "6690-2": Analyte.WBC,
    "751-8": Analyte.NEUTROPHILS,
    "731-0": Analyte.LYMPHOCYTES,
    "711-2": Analyte.EOSINOPHILS,
    "777-3": Analyte.PLATELETS,
    "718-7": Analyte.HAEMOGLOBIN,
    "787-2": Analyte.MCV,
}

PRIMARY_LOINC: dict[Analyte, str] = {
    Analyte.ALT: "1742-6",
    Analyte.AST: "1920-8",
    Analyte.ALBUMIN: "1751-7",
    Analyte.CREATININE: "2160-0",
    Analyte.EGFR: "98979-8",
    Analyte.WBC: "6690-2",
    Analyte.NEUTROPHILS: "751-8",
    Analyte.LYMPHOCYTES: "731-0",
    Analyte.EOSINOPHILS: "711-2",
    Analyte.PLATELETS: "777-3",
    Analyte.HAEMOGLOBIN: "718-7",
    Analyte.MCV: "787-2",
}

# --- analyte names ---------------------------------------------------------------------------

_NAMES: dict[Analyte, tuple[str, ...]] = {
    Analyte.ALT: (
        "alt",
        "alat",
        "sgpt",
        "gpt",
        "alanine aminotransferase",
        "alanine transaminase",
    ),
    Analyte.AST: (
        "ast",
        "asat",
        "sgot",
        "got",
        "aspartate aminotransferase",
        "aspartate transaminase",
    ),
    Analyte.ALBUMIN: ("albumin", "alb", "serum albumin"),
    Analyte.CREATININE: ("creatinine", "creat", "crea", "serum creatinine"),
    # "GFR" alone is not accepted: measured GFR and creatinine clearance are different things.
    Analyte.EGFR: ("egfr", "estimated gfr", "estimated glomerular filtration rate"),
    Analyte.WBC: (
        "wbc",
        "wcc",
        "white blood cells",
        "white blood cell count",
        "white cell count",
        "leukocytes",
        "leucocytes",
    ),
    Analyte.NEUTROPHILS: (
        "neutrophils",
        "neutrophil count",
        "neut",
        "neuts",
        "anc",
        "absolute neutrophil count",
    ),
    Analyte.LYMPHOCYTES: ("lymphocytes", "lymphocyte count", "lymph", "lymphs"),
    Analyte.EOSINOPHILS: ("eosinophils", "eosinophil count", "eos", "eosin"),
    Analyte.PLATELETS: ("platelets", "platelet count", "plt", "plts", "thrombocytes"),
    Analyte.HAEMOGLOBIN: ("hb", "hgb", "haemoglobin", "hemoglobin"),
    Analyte.MCV: ("mcv", "mean cell volume", "mean corpuscular volume"),
}


def _name_key(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


_NAME_INDEX: dict[str, Analyte] = {}
for _analyte, _names in _NAMES.items():
    for _name in (*_names, _analyte.value):
        _key = _name_key(_name)
        if _NAME_INDEX.get(_key, _analyte) is not _analyte:  # pragma: no cover - import guard
            raise AssertionError(f"analyte name {_name!r} is ambiguous")
        _NAME_INDEX[_key] = _analyte


def resolve_analyte(analyte: str | None, loinc: str | None) -> Analyte:
    """The ``Analyte`` named by ``analyte`` and/or coded by ``loinc``.

    Empty or blank strings count as not given. Raises ``ClinicalInputError`` with field
    ``"analyte"`` (unknown name, or neither given) or ``"loinc"`` (unknown code, or a code that
    names a different analyte than ``analyte``).
    """
    by_name: Analyte | None = None
    by_code: Analyte | None = None
    if analyte is not None and str(analyte).strip():
        by_name = _NAME_INDEX.get(_name_key(str(analyte)))
        if by_name is None:
            raise ClinicalInputError("analyte", f"unknown analyte name {analyte!r}")
    if loinc is not None and str(loinc).strip():
        code = str(loinc).strip()
        by_code = LOINC.get(code)
        if by_code is None:
            raise ClinicalInputError("loinc", f"unknown or unsupported LOINC code {code!r}")
    if by_name is None and by_code is None:
        raise ClinicalInputError("analyte", "neither an analyte name nor a LOINC code was given")
    if by_name is not None and by_code is not None and by_name is not by_code:
        raise ClinicalInputError(
            "loinc",
            f"LOINC {str(loinc).strip()} is {by_code.value}, but the analyte was given as "
            f"{analyte!r} ({by_name.value})",
        )
    result = by_name or by_code
    assert result is not None
    return result


# --- units -----------------------------------------------------------------------------------

CANONICAL_UNIT: dict[Analyte, str] = {
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

_ONE = Decimal(1)

_ENZYME_UNITS: dict[str, Decimal] = {
    "U/L": _ONE,
    "IU/L": _ONE,
    "ukat/L": Decimal(60),  # 1 µkat = 60 µmol/min = 60 U
}
_MASS_UNITS: dict[str, Decimal] = {"g/L": _ONE, "g/dL": Decimal(10)}
_CREATININE_UNITS: dict[str, Decimal] = {
    "umol/L": _ONE,
    "micromol/L": _ONE,
    "mg/dL": Decimal("88.4"),
}
_EGFR_UNITS: dict[str, Decimal] = {
    "mL/min/{1.73_m2}": _ONE,
    "mL/min/1.73m2": _ONE,
    "mL/min/1.73m^2": _ONE,
    "mL/min/1.73m²": _ONE,
    "mL/min/1.73_m2": _ONE,
}
_COUNT_UNITS: dict[str, Decimal] = {"K/uL": _ONE, "/nL": _ONE}
for _prefix in ("", "x"):
    for _base in ("10*9", "10^9", "10E9", "10⁹"):
        _COUNT_UNITS[f"{_prefix}{_base}/L"] = _ONE
    for _base in ("10*3", "10^3", "10E3", "10³"):
        _COUNT_UNITS[f"{_prefix}{_base}/uL"] = _ONE
for _spelling in ("/mm3", "/mm³", "cells/mm3", "cells/mm³", "/uL", "cells/uL"):
    _COUNT_UNITS[_spelling] = Decimal("0.001")  # cells/µL ÷ 1000 = 10⁹/L
_MCV_UNITS: dict[str, Decimal] = {"fL": _ONE, "um3": _ONE}

_UNITS: dict[Analyte, dict[str, Decimal]] = {
    Analyte.ALT: _ENZYME_UNITS,
    Analyte.AST: _ENZYME_UNITS,
    Analyte.ALBUMIN: _MASS_UNITS,
    Analyte.HAEMOGLOBIN: _MASS_UNITS,
    Analyte.CREATININE: _CREATININE_UNITS,
    Analyte.EGFR: _EGFR_UNITS,
    Analyte.WBC: _COUNT_UNITS,
    Analyte.NEUTROPHILS: _COUNT_UNITS,
    Analyte.LYMPHOCYTES: _COUNT_UNITS,
    Analyte.EOSINOPHILS: _COUNT_UNITS,
    Analyte.PLATELETS: _COUNT_UNITS,
    Analyte.MCV: _MCV_UNITS,
}


def _unit_key(text: str) -> str:
    text = text.replace("\u00b5", "u").replace("\u03bc", "u").replace("×", "x")
    return "".join(text.split()).lower()


_UNIT_INDEX: dict[Analyte, dict[str, Decimal]] = {
    analyte: {_unit_key(spelling): factor for spelling, factor in table.items()}
    for analyte, table in _UNITS.items()
}


def accepted_units(analyte: Analyte) -> tuple[str, ...]:
    """The unit spellings accepted for ``analyte`` (matching also ignores case and spaces)."""
    return tuple(_UNITS[Analyte(analyte)])


_CLIP = 24
_MAX_DIGITS = 12  # no lab value of these analytes needs more; keeps stored values in range


def _clip(text: str) -> str:
    """The reported text quoted for a reason, cut short (reasons are stored, ≤ 200 chars)."""
    return repr(text if len(text) <= _CLIP else text[:_CLIP] + "…")


def _unit_problem(analyte: Analyte, unit_text: str | None) -> tuple[Decimal | None, str | None]:
    """(factor, None) for an accepted unit, else (None, reason)."""
    if unit_text is None or not str(unit_text).strip():
        return None, "no unit was reported"
    raw = "".join(str(unit_text).split())
    if raw.startswith("G/"):
        return None, (
            f"unit {_clip(str(unit_text))} is ambiguous: 'G' is the SI prefix giga (10⁹/L) for some "
            "laboratories; it is not read as grams"
        )
    factor = _UNIT_INDEX[analyte].get(_unit_key(str(unit_text)))
    if factor is None:
        return None, (
            f"unit {_clip(str(unit_text))} is not a known unit for {analyte.value} "
            f"(canonical {CANONICAL_UNIT[analyte]})"
        )
    return factor, None


def conversion_factor(analyte: Analyte, unit_text: str | None) -> Decimal | None:
    """Factor from ``unit_text`` to ``CANONICAL_UNIT[analyte]``, or ``None`` if not accepted."""
    factor, _ = _unit_problem(_as_analyte(analyte), unit_text)
    return factor


# --- values ----------------------------------------------------------------------------------

COMPARATORS: tuple[str, ...] = ("<", ">", "<=", ">=")
_COMPARATOR_SPELLINGS = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "≤": "<=", "≥": ">="}
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # ASCII digits only
_WITH_COMPARATOR = re.compile(r"(<=|>=|≤|≥|<|>)\s*(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Normalised:
    """A lab value in its analyte's canonical unit, or the reason it cannot be used.

    ``evaluable`` is True only for a plain non-negative number in an accepted unit; then
    ``value`` is in ``unit`` (= ``CANONICAL_UNIT[analyte]``). Otherwise ``value`` is None and
    ``reason`` says why. For a censored value such as ``"<10"`` the ``comparator`` is kept and
    ``bound`` holds the number (in the canonical unit when the unit was accepted), but the result
    stays not evaluable: a human decides what it means.
    """

    evaluable: bool
    value: Decimal | None
    unit: str
    comparator: str | None
    reported_value: str
    reported_unit: str
    reason: str | None
    analyte: Analyte | None = None
    bound: Decimal | None = None  # the number after a comparator, canonical unit if known

    def display(self) -> str:
        """The value as reported, e.g. ``'<10 U/L'``, for messages."""
        return f"{self.reported_value} {self.reported_unit}".strip()


def _as_analyte(analyte: Analyte | str) -> Analyte:
    try:
        return Analyte(analyte)
    except ValueError as exc:
        raise ClinicalInputError("analyte", f"unknown analyte {analyte!r}") from exc


def _parse_value(text: str) -> tuple[str | None, Decimal | None, str | None]:
    """(comparator, number, problem). ``problem`` is None only for a plain number."""
    stripped = text.strip()
    if not stripped:
        return None, None, "no value was reported"
    comparator: str | None = None
    body = stripped
    match = _WITH_COMPARATOR.fullmatch(stripped)
    if match:
        comparator = _COMPARATOR_SPELLINGS[match.group(1)]
        body = match.group(2).strip()
    if "," in body and _NUMBER.fullmatch(body.replace(",", "")):
        return (
            comparator,
            None,
            (
                f"value {_clip(text)} uses a comma: ambiguous (decimal comma or thousands "
                "separator), "
                "not read"
            ),
        )
    if body.startswith("-") and _NUMBER.fullmatch(body[1:]):
        return comparator, None, f"value {_clip(text)} is negative"
    if not _NUMBER.fullmatch(body):
        return comparator, None, f"value {_clip(text)} is not a number"
    if sum(c.isdigit() for c in body) > _MAX_DIGITS:
        return comparator, None, f"value {_clip(text)} has more than {_MAX_DIGITS} digits"
    try:
        number = Decimal(body)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        return comparator, None, f"value {_clip(text)} is not a number"
    if comparator is not None:
        return (
            comparator,
            number,
            (
                f"value {_clip(text)} is censored (comparator {comparator!r}): a clinician must decide"
            ),
        )
    return None, number, None


def normalise(analyte: Analyte | str, value_text: str | None, unit_text: str | None) -> Normalised:
    """Convert a reported value to the canonical unit of ``analyte``, or say why not.

    Never raises for bad *lab data* (it returns ``evaluable=False`` with a reason); raises
    ``ClinicalInputError("analyte", ...)`` only for an unknown analyte (a programming error).
    """
    code = _as_analyte(analyte)
    reported_value = "" if value_text is None else str(value_text)
    reported_unit = "" if unit_text is None else str(unit_text)
    comparator, number, value_problem = _parse_value(reported_value)
    factor, unit_problem = _unit_problem(code, unit_text)
    problems = [p for p in (value_problem, unit_problem) if p]
    canonical = CANONICAL_UNIT[code]
    bound = number * factor if (comparator and number is not None and factor) else None
    if problems:
        return Normalised(
            evaluable=False,
            value=None,
            unit=canonical,
            comparator=comparator,
            reported_value=reported_value,
            reported_unit=reported_unit,
            reason="; ".join(problems),
            analyte=code,
            bound=bound,
        )
    assert number is not None and factor is not None
    return Normalised(
        evaluable=True,
        value=number * factor,
        unit=canonical,
        comparator=None,
        reported_value=reported_value,
        reported_unit=reported_unit,
        reason=None,
        analyte=code,
    )
