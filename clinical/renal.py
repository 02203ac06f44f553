"""Renal function for prescribing: the latest eGFR, measured or estimated from creatinine (issue #15).

``renal_reading(...) -> RenalReading | None`` picks the patient's most recent renal result (eGFR
or creatinine, evaluable or censored with a usable bound). A measured eGFR wins over an estimate
from a creatinine of the same day; a newer creatinine wins over an older eGFR (a creatinine of
400 µmol/L today must not hide behind last year's normal eGFR). Pure, no Django.

- **Estimated eGFR** (shown as estimated, with the equation and its source):
  adults (18 and over on the collection date) CKD-EPI 2021 creatinine equation without race
  (Inker et al., N Engl J Med 2021;385:1737), in mL/min/1.73 m²:
  ``142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^-1.200 × 0.9938^age [× 1.012 if female]``, Scr in
  mg/dL (µmol/L ÷ 88.4, REF §6), κ 0.7 / 0.9 and α -0.241 / -0.302 (female / male); sex not
  recorded as male or female: the lower of the two estimates (the cautious one), said so.
  Under 18: bedside Schwartz (Schwartz et al., J Am Soc Nephrol 2009;20:629),
  ``0.413 × height (cm) / Scr (mg/dL)``, with the latest height measured on or before the
  creatinine (none: no estimate, said so). LOINC 98979-8 and 50384-7 (REF §6).
- **Censored values decide when their bound decides** (REF §6, issue #15): eGFR ``"<15"`` is
  below 15; a creatinine ``">400"`` gives an eGFR *below* the estimate at 400 (eGFR falls as
  creatinine rises). ``value`` is the bound then, with ``comparator``.
- **Not current**: a result older than the measurement-staleness window (the clinic's
  ``measurement_max_age_days``, 90 days; 30 under age 2) is still used, but ``current`` is False
  and the prescription says so as a warning, never silently (REF §4 via the project's measurement
  rule; issue #15).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from clinical.codes import Analyte, Sex
from clinical.types import Source

__all__ = [
    "BEDSIDE_SCHWARTZ",
    "CKD_EPI_2021",
    "RENAL_CENSORED",
    "RENAL_STALENESS",
    "RenalReading",
    "RenalResult",
    "bedside_schwartz",
    "ckd_epi_2021",
    "renal_reading",
]

CKD_EPI_2021 = Source(
    "CKD-EPI 2021 creatinine equation without race (Inker et al., N Engl J Med 2021;385:1737)",
    2021,
    "eGFR for adults (LOINC 98979-8, REF §6)",
)
BEDSIDE_SCHWARTZ = Source(
    "Bedside Schwartz equation (Schwartz et al., J Am Soc Nephrol 2009;20:629)",
    2009,
    "eGFR for children: 0.413 × height / creatinine (LOINC 50384-7, REF §6)",
)
RENAL_STALENESS = Source(
    "mtxmonitor project rule (issue #15)",
    2026,
    "a renal result older than the measurement-staleness window (90 days; 30 under age 2) is "
    "not current",
)
RENAL_CENSORED = Source(
    "mtxmonitor clinical reference §6 (codes and units)",
    2026,
    "a censored result decides only when its bound decides; a value is never guessed",
)
UMOL_PER_MG_DL = Decimal("88.4")  # REF §6: creatinine mg/dL × 88.4 = µmol/L
_INVERT = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True)
class RenalResult:
    """One stored eGFR or creatinine result, canonical unit (eGFR mL/min/1.73 m², creatinine
    µmol/L). Exact: ``value`` set, no comparator. Censored: ``value`` is the bound and
    ``comparator`` is kept."""

    analyte: Analyte
    value: Decimal
    collected_on: date
    comparator: str | None = None
    reported: str = ""  # as reported, for messages


@dataclass(frozen=True, slots=True)
class RenalReading:
    value: Decimal  # eGFR, mL/min/1.73 m² (the bound when censored)
    comparator: str | None  # "<", "<=", ">", ">=" or None (exact)
    measured_on: date
    estimated: bool
    source: Source | None  # the equation, when estimated
    current: bool
    age_days: int
    max_age_days: int
    text: str  # e.g. "eGFR 14 mL/min/1.73 m² estimated from creatinine 400 umol/L (CKD-EPI ...)"

    def shown(self) -> str:
        return f"{self.comparator or ''}{_fmt(self.value)}"


def _fmt(x: Decimal) -> str:
    return f"{x.normalize():f}"


def _round1(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _years(birth: date, on: date) -> int:
    return on.year - birth.year - int((on.month, on.day) < (birth.month, birth.day))


def ckd_epi_2021(creatinine_umol: Decimal, age_years: int, sex: Sex) -> Decimal:
    """CKD-EPI 2021 eGFR (mL/min/1.73 m², one decimal) for an adult; sex must be male/female."""
    if creatinine_umol <= 0:
        raise ValueError("creatinine must be positive")
    female = sex is Sex.FEMALE
    kappa = 0.7 if female else 0.9
    alpha = -0.241 if female else -0.302
    scr = float(creatinine_umol / UMOL_PER_MG_DL)
    ratio = scr / kappa
    gfr = 142 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.200 * 0.9938**age_years
    if female:
        gfr *= 1.012
    return _round1(Decimal(repr(gfr)))


def bedside_schwartz(creatinine_umol: Decimal, height_cm: Decimal) -> Decimal:
    """Bedside Schwartz eGFR (mL/min/1.73 m², one decimal) for a child."""
    if creatinine_umol <= 0 or height_cm <= 0:
        raise ValueError("creatinine and height must be positive")
    return _round1(Decimal("0.413") * height_cm / (creatinine_umol / UMOL_PER_MG_DL))


def _estimate(
    r: RenalResult, birth_date: date, sex: Sex, heights: Sequence[tuple[date, Decimal]]
) -> tuple[Decimal, Source, str] | str:
    """(eGFR, source, how) or the reason no estimate can be made."""
    age = _years(birth_date, r.collected_on)
    if age >= 18:
        if sex in (Sex.MALE, Sex.FEMALE):
            return ckd_epi_2021(r.value, age, sex), CKD_EPI_2021, f"CKD-EPI 2021, age {age}"
        low = min(ckd_epi_2021(r.value, age, s) for s in (Sex.MALE, Sex.FEMALE))
        return low, CKD_EPI_2021, f"CKD-EPI 2021, age {age}, sex not recorded: the lower estimate"
    known = [(d, h) for d, h in heights if d <= r.collected_on and h > 0]
    if not known:
        return "no height measured on or before it, so the bedside Schwartz equation cannot be used"
    on, height = max(known, key=lambda x: x[0])
    return (
        bedside_schwartz(r.value, height),
        BEDSIDE_SCHWARTZ,
        f"bedside Schwartz, height {_fmt(height)} cm on {on.isoformat()}",
    )


def renal_reading(
    results: Iterable[RenalResult],
    *,
    birth_date: date,
    sex: Sex,
    heights: Sequence[tuple[date, Decimal]] = (),
    today: date,
    max_age_days: int = 90,
    max_age_days_under_2: int = 30,
) -> RenalReading | None:
    """The eGFR to prescribe by (module docstring); None when there is no usable renal result."""
    usable = [
        r
        for r in results
        if r.analyte in (Analyte.EGFR, Analyte.CREATININE) and r.collected_on <= today
    ]
    # newest first; on one day a measured eGFR before a creatinine
    usable.sort(key=lambda r: (r.collected_on, r.analyte is Analyte.EGFR), reverse=True)
    window = max_age_days_under_2 if _years(birth_date, today) < 2 else max_age_days
    for r in usable:
        age_days = (today - r.collected_on).days
        current = age_days <= window
        if r.analyte is Analyte.EGFR:
            text = f"eGFR {r.comparator or ''}{_fmt(r.value)} mL/min/1.73 m² (measured)"
            return RenalReading(
                r.value, r.comparator, r.collected_on, False, None, current, age_days, window, text
            )
        if r.value <= 0:
            continue
        est = _estimate(r, birth_date, sex, heights)
        if isinstance(est, str):
            continue  # a child's creatinine with no height: look further back
        value, source, how = est
        comparator = _INVERT.get(r.comparator) if r.comparator else None
        text = (
            f"eGFR {comparator or ''}{_fmt(value)} mL/min/1.73 m² estimated from creatinine "
            f"{r.comparator or ''}{_fmt(r.value)} umol/L ({how}; {source.cite()})"
        )
        return RenalReading(
            value, comparator, r.collected_on, True, source, current, age_days, window, text
        )
    return None
