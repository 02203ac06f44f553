"""Body-surface area and plausibility of weight/height entries.

Sources (REF = shared/CLINICAL_REFERENCE.md, §5):

- Mosteller RD, N Engl J Med 1987;317:1098 — √(H·W/3600)  (the default)
- DuBois D, DuBois EF, Arch Intern Med 1916;17:863 — 0.007184 · H^0.725 · W^0.425
  (runs 5–10 % low in infants, REF §5)
- Haycock GB et al., J Pediatr 1978;93:62 — 0.024265 · H^0.3964 · W^0.5378
  (validated in infants, children and adults)
- Gehan EA, George SL, Cancer Chemother Rep 1970;54:225 — 0.0235 · H^0.42246 · W^0.51456
- Boyd E 1935 — 0.0003207 · H^0.3 · G^(0.7285 − 0.0188·log10 G), G = weight in grams

H in cm, W in kg, result in m². All arithmetic is in ``Decimal`` (28 significant digits) and the
result is rounded half-up to 3 decimals; every REF §5 worked value is reproduced exactly at 3 dp
(tests/clinical/test_bsa.py).

Public API (stable, called by the Django layer):

- ``compute_bsa(weight_kg, height_cm, formula=BSAFormula.MOSTELLER, *, rounded=True)
  -> BSAResult``
- ``check_plausible(weight_kg, height_cm, birth_date, on_date) -> None`` (raises
  ``ClinicalInputError`` naming "weight_kg", "height_cm" or "birth_date")
- ``completed_years(birth_date, on_date) -> int``
- ``decimal_input(value, field, *, allow_zero=False) -> Decimal``: the strict number parser
  every module of the core uses (refuses bool, NaN, infinities, junk strings).
- ``PLAUSIBILITY_BANDS`` (data), ``BSAResult``, ``AgeBand``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from clinical.codes import BSAFormula
from clinical.types import ClinicalInputError, Source

Number = Decimal | int | float | str

_THREE_DP = Decimal("0.001")


def decimal_input(value: object, field: str, *, allow_zero: bool = False) -> Decimal:
    """Parse a clinical number strictly, or raise ``ClinicalInputError(field, reason)``.

    Accepts ``Decimal``, ``int``, ``float`` (via its shortest repr, so 0.1 stays 0.1) and
    numeric strings. Refuses ``bool``, ``None``, NaN, infinities, and values ≤ 0 (or < 0 with
    ``allow_zero``).
    """
    if value is None:
        raise ClinicalInputError(field, "is required")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ClinicalInputError(field, f"must be a number, got {type(value).__name__}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ClinicalInputError(field, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ClinicalInputError(field, f"{value!r} is not a finite number")
    if number < 0 or (number == 0 and not allow_zero):
        raise ClinicalInputError(field, f"must be greater than 0, got {value}")
    return number


# --------------------------------------------------------------------------------------------
# BSA formulas
# --------------------------------------------------------------------------------------------


def _mosteller(h: Decimal, w: Decimal) -> Decimal:
    return (h * w / 3600).sqrt()


def _dubois(h: Decimal, w: Decimal) -> Decimal:
    return Decimal("0.007184") * h ** Decimal("0.725") * w ** Decimal("0.425")


def _haycock(h: Decimal, w: Decimal) -> Decimal:
    return Decimal("0.024265") * h ** Decimal("0.3964") * w ** Decimal("0.5378")


def _gehan_george(h: Decimal, w: Decimal) -> Decimal:
    return Decimal("0.0235") * h ** Decimal("0.42246") * w ** Decimal("0.51456")


def _boyd(h: Decimal, w: Decimal) -> Decimal:
    grams = w * 1000
    exponent = Decimal("0.7285") - Decimal("0.0188") * grams.log10()
    return Decimal("0.0003207") * h ** Decimal("0.3") * grams**exponent


@dataclass(frozen=True, slots=True)
class _Formula:
    name: str
    fn: Callable[[Decimal, Decimal], Decimal]
    equation: str
    source: Source


_FORMULAS: dict[BSAFormula, _Formula] = {
    BSAFormula.MOSTELLER: _Formula(
        "Mosteller",
        _mosteller,
        "BSA = √(height_cm × weight_kg / 3600)",
        Source("Mosteller RD, N Engl J Med 1987;317:1098", 1987, "REF §5"),
    ),
    BSAFormula.DUBOIS: _Formula(
        "DuBois & DuBois",
        _dubois,
        "BSA = 0.007184 × height_cm^0.725 × weight_kg^0.425",
        Source("DuBois D, DuBois EF, Arch Intern Med 1916;17:863", 1916, "REF §5"),
    ),
    BSAFormula.HAYCOCK: _Formula(
        "Haycock",
        _haycock,
        "BSA = 0.024265 × height_cm^0.3964 × weight_kg^0.5378",
        Source("Haycock GB et al., J Pediatr 1978;93:62", 1978, "REF §5"),
    ),
    BSAFormula.GEHAN_GEORGE: _Formula(
        "Gehan & George",
        _gehan_george,
        "BSA = 0.0235 × height_cm^0.42246 × weight_kg^0.51456",
        Source("Gehan EA, George SL, Cancer Chemother Rep 1970;54:225", 1970, "REF §5"),
    ),
    BSAFormula.BOYD: _Formula(
        "Boyd",
        _boyd,
        "BSA = 0.0003207 × height_cm^0.3 × G^(0.7285 − 0.0188 × log10 G), G = weight in grams",
        Source("Boyd E, The growth of the surface area of the human body, 1935", 1935, "REF §5"),
    ),
}


@dataclass(frozen=True, slots=True)
class BSAResult:
    """A body-surface area with the formula, equation and source that produced it."""

    value_m2: Decimal  # rounded half-up to 3 dp unless computed with rounded=False
    formula: BSAFormula
    equation: str
    source: Source

    @property
    def formula_name(self) -> str:
        """'Mosteller', 'DuBois & DuBois', 'Haycock', 'Gehan & George' or 'Boyd'."""
        return _FORMULAS[self.formula].name


def _bsa_raw(weight_kg: Decimal, height_cm: Decimal, formula: BSAFormula) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 28
        return _FORMULAS[formula].fn(height_cm, weight_kg)


def compute_bsa(
    weight_kg: Number,
    height_cm: Number,
    formula: BSAFormula | str = BSAFormula.MOSTELLER,
    *,
    rounded: bool = True,
) -> BSAResult:
    """Body-surface area in m² by ``formula`` (REF §5).

    Validates that both numbers are finite and > 0 (``ClinicalInputError`` naming
    "weight_kg"/"height_cm"/"formula"). Age plausibility is a separate call,
    :func:`check_plausible`, because it needs the birth date.
    """
    w = decimal_input(weight_kg, "weight_kg")
    h = decimal_input(height_cm, "height_cm")
    try:
        f = BSAFormula(formula)
    except ValueError:
        raise ClinicalInputError("formula", f"unknown BSA formula {formula!r}") from None
    value = _bsa_raw(w, h, f)
    if rounded:
        value = value.quantize(_THREE_DP, rounding=ROUND_HALF_UP)
    spec = _FORMULAS[f]
    return BSAResult(value, f, spec.equation, spec.source)


# --------------------------------------------------------------------------------------------
# Plausibility
# --------------------------------------------------------------------------------------------


def completed_years(birth_date: date, on_date: date) -> int:
    """Age in completed years on ``on_date`` (a 29 February birthday counts from 1 March)."""
    before_birthday = (on_date.month, on_date.day) < (birth_date.month, birth_date.day)
    return on_date.year - birth_date.year - int(before_birthday)


@dataclass(frozen=True, slots=True)
class AgeBand:
    label: str
    from_years: int  # inclusive, completed years
    to_years: int | None  # exclusive; None = no upper bound
    weight_min_kg: Decimal
    weight_max_kg: Decimal
    height_min_cm: Decimal
    height_max_cm: Decimal


# PLAUSIBILITY LIMITS TO CATCH ENTRY ERRORS, NOT CLINICAL THRESHOLDS. They are deliberately
# generous — roughly beyond the extremes of the WHO growth charts for each band, allowing for
# prematurity, growth disorders, skeletal dysplasia and severe obesity — so that only a value
# that cannot belong to the patient (an infant of 80 kg, an adult of 40 cm, a weight typed in
# grams or a height in metres) is refused. Values outside them need correcting, not overriding.
_D = Decimal
PLAUSIBILITY_BANDS: tuple[AgeBand, ...] = (
    AgeBand("under 1 year", 0, 1, _D("0.4"), _D(20), _D(30), _D(100)),
    AgeBand("1 to under 4 years", 1, 4, _D(3), _D(40), _D(50), _D(130)),
    AgeBand("4 to under 12 years", 4, 12, _D(7), _D(150), _D(70), _D(190)),
    AgeBand("12 to under 18 years", 12, 18, _D(15), _D(250), _D(90), _D(220)),
    AgeBand("adult (18 years and over)", 18, None, _D(20), _D(350), _D(100), _D(250)),
)
# Whatever the age (or with no birth date): same spirit, entry-error limits.
ABSOLUTE_WEIGHT_MAX_KG = _D(350)
ABSOLUTE_HEIGHT_MIN_CM = _D(30)
ABSOLUTE_HEIGHT_MAX_CM = _D(250)


def band_for_age(age_years: int) -> AgeBand:
    for band in PLAUSIBILITY_BANDS:
        if age_years >= band.from_years and (band.to_years is None or age_years < band.to_years):
            return band
    raise ClinicalInputError("birth_date", f"age {age_years} years is not possible")


def check_plausible(
    weight_kg: Number | None,
    height_cm: Number | None,
    birth_date: date | None,
    on_date: date,
) -> None:
    """Refuse a weight/height that cannot be this patient's (an entry error).

    Raises ``ClinicalInputError`` naming "weight_kg", "height_cm" or "birth_date". A ``None``
    weight or height is not checked (callers decide whether it is required). Limits: finite and
    > 0; weight ≤ 350 kg; height 30–250 cm; then the age band of :data:`PLAUSIBILITY_BANDS`
    (bounds inclusive). A birth date after ``on_date`` is an error.
    """
    w = None if weight_kg is None else decimal_input(weight_kg, "weight_kg")
    h = None if height_cm is None else decimal_input(height_cm, "height_cm")
    if w is not None and w > ABSOLUTE_WEIGHT_MAX_KG:
        raise ClinicalInputError(
            "weight_kg", f"{w} kg is above {ABSOLUTE_WEIGHT_MAX_KG} kg: check the entry (grams?)"
        )
    if h is not None and not ABSOLUTE_HEIGHT_MIN_CM <= h <= ABSOLUTE_HEIGHT_MAX_CM:
        raise ClinicalInputError(
            "height_cm",
            f"{h} cm is outside {ABSOLUTE_HEIGHT_MIN_CM}–{ABSOLUTE_HEIGHT_MAX_CM} cm: check the "
            "entry (metres or inches?)",
        )
    if birth_date is None:
        return
    if birth_date > on_date:
        raise ClinicalInputError(
            "birth_date", f"birth date {birth_date.isoformat()} is after {on_date.isoformat()}"
        )
    age = completed_years(birth_date, on_date)
    band = band_for_age(age)
    if w is not None and not band.weight_min_kg <= w <= band.weight_max_kg:
        raise ClinicalInputError(
            "weight_kg",
            f"{w} kg is implausible for age {age} y ({band.label}: "
            f"{band.weight_min_kg}–{band.weight_max_kg} kg); check the entry",
        )
    if h is not None and not band.height_min_cm <= h <= band.height_max_cm:
        raise ClinicalInputError(
            "height_cm",
            f"{h} cm is implausible for age {age} y ({band.label}: "
            f"{band.height_min_cm}–{band.height_max_cm} cm); check the entry",
        )
