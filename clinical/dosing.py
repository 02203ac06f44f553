"""Dose calculation for methotrexate (once weekly) and mycophenolate mofetil (twice daily).

A calculation goes: BSA (if needed) → raw dose → cap → rounding to what the product can deliver
→ final dose → what to give, and records every step with its explanation and source, so a
clinician can check it by hand.

Rules (REF = shared/CLINICAL_REFERENCE.md):

- Methotrexate is ONCE WEEKLY on a named day (REF §4: NPSA 2004 alert 03, MHRA DSU Sep 2020,
  ISMP TMSBP #2). ``amount`` is per week: mg/m²/week, mg/kg/week, or mg/week.
- Mycophenolate mofetil is TWICE DAILY; ``amount`` is per administration (children 600 mg/m²
  twice daily, adults fixed; REF §4, CellCept label, NHS D&G).
- Caps: :mod:`clinical.products` ``CAP_RULES`` (REF §4). The raw dose is reduced to the cap.
- Rounding: the nearest deliverable dose (whole tablets/capsules, never halved; liquids in
  0.1 mL steps; one pen of a stocked strength), exact ties DOWN, and NEVER above the cap. For a
  child, rounding also never lifts a dose that was within the paediatric ceiling above it.
- Children (issue #15): the per-indication ceiling of :data:`clinical.products.PAEDIATRIC_LIMITS`
  applies whatever the basis (REF §4); above it the dose is reduced to it
  (``PAEDIATRIC_MAX_EXCEEDED``) unless ``override_reason`` is given. A child's dose is never
  moved by more than 10 % by rounding: the product is refused (``ClinicalInputError
  ("formulation")``) naming the products that can give it. 10 mg methotrexate tablets are refused
  for a child unless overridden (NPSA 2004).
- Renal (issue #15): methotrexate with ``egfr`` < 30 is refused (``ClinicalInputError("egfr")``,
  UK SmPC); 30–59 warns (EU injectable SmPC, UNVERIFIED), as the prescription checks do.
- Corticosteroids (issue #15): prednisolone/prednisone, ``amount`` per DAY, once daily; above
  1 mg/kg/day warns (REF §1: 0.5–1 mg/kg/day). No cap rule.
- ``weight_kg`` may be ``None`` only for a fixed dose; for a child the weight-based cap and the
  paediatric maximum are then reported as not checked (warnings), never silently skipped.
- A dose that rounds to nothing is refused (``ClinicalInputError("formulation", ...)``), never
  silently changed: choose a liquid.
- BSA: :func:`clinical.bsa.compute_bsa` (REF §5), Mosteller unless chosen otherwise; the BSA
  rounded to 3 dp is the one used and shown.

Public API (stable, called by the Django layer):

- ``DoseRequest`` (keyword-only frozen dataclass; fields below)
- ``calculate_dose(req: DoseRequest) -> DoseCalculation`` — raises ``ClinicalInputError(field,
  reason)`` for bad input: "drug", "basis", "amount", "weight_kg", "height_cm", "birth_date",
  "on_date", "formula", "indication", "formulation", "route", "weekday", "egfr",
  "pen_strengths_mg".
- ``DoseCalculation``, ``Step``
- ``administration_text(product, deliverable, drug, weekday) -> str``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TypeVar

from clinical.bsa import BSAResult, check_plausible, completed_years, compute_bsa, decimal_input
from clinical.codes import (
    CORTICOSTEROIDS,
    BSAFormula,
    CheckLevel,
    Diagnosis,
    DoseBasis,
    Drug,
    Formulation,
    Frequency,
    Route,
    Weekday,
)
from clinical.products import (
    BSR_2017,
    DEFAULT_FORMULATION,
    EU_INJECTABLE_SMPC,
    MHRA_DSU_2020,
    NPSA_2004,
    PRODUCTS,
    REFERENCE_GUIDELINE_2025,
    UK_SMPC_MTX_TABLETS,
    AppliedCap,
    Deliverable,
    Product,
    ProductKind,
    applicable_cap,
    describe_rounding,
    paediatric_limit,
    paediatric_needs,
    paediatric_rules,
    round_to_deliverable,
)
from clinical.types import CheckResult, ClinicalInputError, Source

# A rounding that moves the dose by more than this fraction is flagged (brief for issue #3).
ROUNDING_WARNING_FRACTION = Decimal("0.10")
ADULT_AGE_YEARS = 18

_DUBOIS_INFANTS = Source("mtxmonitor clinical reference, BSA formulas", 2025, "REF §5")

E = TypeVar("E", bound=StrEnum)

_FREQUENCY: dict[Drug, Frequency] = {
    Drug.METHOTREXATE: Frequency.ONCE_WEEKLY,
    Drug.MYCOPHENOLATE_MOFETIL: Frequency.TWICE_DAILY,
    Drug.PREDNISOLONE: Frequency.ONCE_DAILY,  # issue #15: corticosteroids per day (REF §1)
    Drug.PREDNISONE: Frequency.ONCE_DAILY,
}
_PAEDIATRIC_DRUGS = (Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL)
# REF §1: prednisone 0.5–1 mg/kg/day with methotrexate (a warning above it, not a cap).
CORTICOSTEROID_MAX_MG_PER_KG_DAY = Decimal(1)
# Renal limits shared with the prescription checks (UK SmPC; EU injectable SmPC, UNVERIFIED).
MTX_RENAL_CONTRAINDICATED_BELOW = Decimal(30)
MTX_RENAL_REDUCE_BELOW = Decimal(60)


def _alternatives_text(
    product: Product, dose: Decimal, ceiling: Decimal | None, *, child: bool, override: bool
) -> str:
    """Name the products of the same drug that CAN give ``dose`` within 10 % (issue #15)."""
    found: list[str] = []
    for other in PRODUCTS.values():
        if other.drug is not product.drug or other.formulation is product.formulation:
            continue
        if child and other.formulation is Formulation.TABLET_10MG and not override:
            continue
        got = round_to_deliverable(other, dose, ceiling)
        if got is None or abs(got.dose_mg - dose) / dose > ROUNDING_WARNING_FRACTION:
            continue
        if other.is_liquid:
            how = f"{got.units.quantize(Decimal('0.1'))} mL"
        elif other.kind is ProductKind.PEN:
            how = "one pen"
        else:
            how = f"{int(got.units)} × {other.label}"
        found.append(f"{other.label} ({other.formulation.value}: {how} = {_fmt_mg(got.dose_mg)})")
    if not found:
        return "no listed product can give it within 10 %: check the dose"
    return "choose " + " or ".join(found)


@dataclass(frozen=True, slots=True, kw_only=True)
class DoseRequest:
    """What the prescriber asks for. Strings are accepted for every code (from a form or the
    API) and are validated by :func:`calculate_dose`."""

    drug: Drug
    basis: DoseBasis
    amount: Decimal  # MTX: per week (mg/m², mg/kg or mg); MMF: per administration
    weight_kg: Decimal | None = None  # required unless basis is fixed
    height_cm: Decimal | None = None  # required for mg_per_m2
    formula: BSAFormula | None = None  # None → Mosteller
    birth_date: date
    on_date: date
    indication: Diagnosis
    formulation: Formulation | None = None  # None → DEFAULT_FORMULATION for drug and route
    weekday: Weekday | None = None  # methotrexate: the one day of the week it is taken
    route: Route | None = None  # None → the formulation's route, or oral
    egfr: Decimal | None = None  # mL/min(/1.73 m²): mycophenolate renal cap (GFR < 25)
    pen_strengths_mg: tuple[Decimal, ...] | None = None  # pens the clinic stocks
    # A clinician's recorded reason lifting an overridable refusal (issue #15: the paediatric
    # ceiling, 10 mg tablets for a child).
    override_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    value: str
    explanation: str


@dataclass(frozen=True, slots=True)
class DoseCalculation:
    request: DoseRequest
    drug: Drug
    basis: DoseBasis
    product: Product
    frequency: Frequency
    age_years: int
    bsa: BSAResult | None
    raw_dose_mg: Decimal
    cap: AppliedCap | None
    cap_mg: Decimal | None
    cap_rule: str | None  # code of the binding cap rule, e.g. "MTX_CAP_PAEDIATRIC_SKIN"
    capped_dose_mg: Decimal
    rounding_rule: str
    final_dose_mg: Decimal
    units: Decimal  # tablets/capsules, mL, or the pen strength in mg
    unit_label: str  # "tablet", "capsule", "mL", "mg pen"
    administration: str
    steps: tuple[Step, ...]
    warnings: tuple[CheckResult, ...]

    # Conveniences for serialisers (derived, not stored).
    @property
    def formulation(self) -> Formulation:
        return self.product.formulation

    @property
    def route(self) -> Route:
        return self.product.route

    @property
    def bsa_m2(self) -> Decimal | None:
        return None if self.bsa is None else self.bsa.value_m2

    @property
    def bsa_formula(self) -> BSAFormula | None:
        return None if self.bsa is None else self.bsa.formula


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _fmt_mg(value: Decimal) -> str:
    """mg for display: at most 3 dp, trailing zeros dropped."""
    return _fmt(value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)) + " mg"


def coerce_enum(enum: type[E], value: object, field: str) -> E:
    """A code from an enum member or its string value, else ``ClinicalInputError(field)``."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in enum)
    raise ClinicalInputError(field, f"unknown {field} {value!r} (allowed: {allowed})")


def _date(value: object, field: str) -> date:
    if not isinstance(value, date):
        raise ClinicalInputError(field, f"must be a date, got {value!r}")
    return value


def weekday_plural(weekday: Weekday) -> str:
    """'Mondays': the weekday written in full (MHRA DSU Sep 2020)."""
    return weekday.value.capitalize() + "s"


def frequency_text(drug: Drug, weekday: Weekday | None) -> str:
    if drug is Drug.METHOTREXATE:
        if weekday is None:
            return "once weekly on ONE named day (choose the day: it must be written in full)"
        return f"once weekly on {weekday_plural(weekday)}"
    if drug is Drug.MYCOPHENOLATE_MOFETIL:
        return "twice daily"
    return "once daily"


def administration_text(
    product: Product, deliverable: Deliverable, drug: Drug, weekday: Weekday | None
) -> str:
    """What to give, in words: '3 × 2.5 mg tablets (7.5 mg) once weekly on Mondays'."""
    when = frequency_text(drug, weekday)
    dose = _fmt_mg(deliverable.dose_mg)
    if product.kind is ProductKind.PEN:
        return f"one {dose} pre-filled pen subcutaneously {when}"
    if product.is_liquid:
        volume = deliverable.units.quantize(Decimal("0.1"))
        return f"{volume} mL of {product.label} ({dose}) {when}"
    n = int(deliverable.units)
    plural = "" if n == 1 else "s"
    return f"{n} × {product.label}{plural} ({dose}) {when}"


def _unit_label(product: Product) -> str:
    if product.kind is ProductKind.PEN:
        return "mg pen"
    if product.is_liquid:
        return "mL"
    return product.kind.value


def _resolve_product(drug: Drug, formulation: object, route: object) -> tuple[Product, Route]:
    chosen_route = None if route is None else coerce_enum(Route, route, "route")
    if formulation is None:
        key = (drug, chosen_route or Route.ORAL)
        if key not in DEFAULT_FORMULATION:
            raise ClinicalInputError("route", f"no {key[1].value} product for {drug.value}")
        product = PRODUCTS[DEFAULT_FORMULATION[key]]
    else:
        product = PRODUCTS[coerce_enum(Formulation, formulation, "formulation")]
    if product.drug is not drug:
        raise ClinicalInputError(
            "formulation",
            f"{product.formulation.value} is a {product.drug.value} product, not {drug.value}",
        )
    if chosen_route is not None and chosen_route is not product.route:
        raise ClinicalInputError(
            "route",
            f"{product.formulation.value} is given {product.route.value}, not {chosen_route.value}",
        )
    return product, product.route


def _pen_strengths(value: Sequence[object] | None, product: Product) -> tuple[Decimal, ...] | None:
    if value is None:
        return None
    if product.kind is not ProductKind.PEN:
        raise ClinicalInputError("pen_strengths_mg", "only for a pen formulation")
    strengths = tuple(sorted({decimal_input(v, "pen_strengths_mg") for v in value}))
    if not strengths:
        raise ClinicalInputError("pen_strengths_mg", "no pen strengths given")
    unknown = [s for s in strengths if s not in product.pen_strengths_mg]
    if unknown:
        raise ClinicalInputError(
            "pen_strengths_mg", f"{', '.join(_fmt(s) for s in unknown)} mg: not a listed pen"
        )
    return strengths


def _warning(code: str, message: str, source: Source, field: str | None = None) -> CheckResult:
    return CheckResult(code, CheckLevel.WARNING, f"{message} [{source.cite()}]", source, field)


def calculate_dose(req: DoseRequest) -> DoseCalculation:
    """Calculate a dose, or raise ``ClinicalInputError(field, reason)``. See the module doc."""
    drug = coerce_enum(Drug, req.drug, "drug")
    if drug not in _FREQUENCY:
        raise ClinicalInputError(
            "drug",
            "dose calculation covers methotrexate, mycophenolate mofetil, prednisolone and "
            "prednisone only",
        )
    basis = coerce_enum(DoseBasis, req.basis, "basis")
    amount = decimal_input(req.amount, "amount")
    birth_date = _date(req.birth_date, "birth_date")
    on_date = _date(req.on_date, "on_date")
    weight = None
    if req.weight_kg is not None or basis is not DoseBasis.FIXED:
        weight = decimal_input(req.weight_kg, "weight_kg")
    height = None if req.height_cm is None else decimal_input(req.height_cm, "height_cm")
    if basis is DoseBasis.MG_PER_M2 and height is None:
        raise ClinicalInputError("height_cm", "a height is needed for a dose in mg/m² (BSA)")
    check_plausible(weight, height, birth_date, on_date)
    formula = coerce_enum(BSAFormula, req.formula or BSAFormula.MOSTELLER, "formula")
    indication = coerce_enum(Diagnosis, req.indication, "indication")
    product, _route = _resolve_product(drug, req.formulation, req.route)
    weekday = None if req.weekday is None else coerce_enum(Weekday, req.weekday, "weekday")
    egfr = None if req.egfr is None else decimal_input(req.egfr, "egfr", allow_zero=True)
    pens = _pen_strengths(req.pen_strengths_mg, product)
    age = completed_years(birth_date, on_date)
    child = age < ADULT_AGE_YEARS
    per = {
        Drug.METHOTREXATE: "week",
        Drug.MYCOPHENOLATE_MOFETIL: "administration (twice daily)",
    }.get(drug, "day")

    steps: list[Step] = []
    warnings: list[CheckResult] = []

    # 0. Renal function (issue #15 item 5): the calculator applies the prescription's renal rules.
    if drug is Drug.METHOTREXATE and egfr is not None:
        if egfr < MTX_RENAL_CONTRAINDICATED_BELOW:
            raise ClinicalInputError(
                "egfr",
                f"eGFR {_fmt(egfr)} is below 30 mL/min: methotrexate is contraindicated "
                f"[{UK_SMPC_MTX_TABLETS.cite()}]",
            )
        if egfr < MTX_RENAL_REDUCE_BELOW:
            warnings.append(
                _warning(
                    "MTX_RENAL_REDUCE",
                    f"eGFR {_fmt(egfr)} is in the 30–59 mL/min band: consider a 50 % dose "
                    "reduction. This band is UNVERIFIED (could not be checked against the "
                    "primary text)",
                    EU_INJECTABLE_SMPC,
                    "egfr",
                )
            )

    # 1. BSA
    bsa = None if height is None or weight is None else compute_bsa(weight, height, formula)
    if bsa is not None:
        assert height is not None and weight is not None
        steps.append(
            Step(
                "BSA",
                f"{bsa.value_m2} m²",
                f"{bsa.formula_name}: {bsa.equation}, with {_fmt(height)} cm and "
                f"{_fmt(weight)} kg, rounded to 3 dp [{bsa.source.cite()}]",
            )
        )
        if formula is BSAFormula.DUBOIS and age < 1:
            warnings.append(
                _warning(
                    "BSA_DUBOIS_INFANT",
                    "DuBois & DuBois runs 5–10 % low in infants: prefer Haycock or Mosteller",
                    _DUBOIS_INFANTS,
                    "formula",
                )
            )

    # 2. Raw dose
    if basis is DoseBasis.MG_PER_M2:
        assert bsa is not None
        raw = amount * bsa.value_m2
        how = f"{_fmt(amount)} mg/m² × {bsa.value_m2} m² = {_fmt_mg(raw)} per {per}"
    elif basis is DoseBasis.MG_PER_KG:
        assert weight is not None
        raw = amount * weight
        how = f"{_fmt(amount)} mg/kg × {_fmt(weight)} kg = {_fmt_mg(raw)} per {per}"
    else:
        raw = amount
        how = f"fixed dose {_fmt_mg(raw)} per {per}"
    steps.append(Step("Raw dose", _fmt_mg(raw), how))

    # 3. Cap
    cap = applicable_cap(
        drug,
        diagnosis=indication,
        age_years=age,
        weight_kg=weight,
        bsa_m2=None if bsa is None else bsa.value_m2,
        gfr=egfr,
    )
    capped = raw
    ceiling: Decimal | None = None
    if cap is not None:
        ceiling = cap.cap_mg
        steps.append(Step("Cap", _fmt_mg(cap.cap_mg), cap.explanation))
        if cap.unchecked:
            warnings.append(
                _warning(
                    "CAP_NOT_FULLY_CHECKED",
                    f"Cap limit(s) not checked for lack of a measurement: "
                    f"{', '.join(cap.unchecked)}",
                    cap.rule.source,
                    "weight_kg",
                )
            )
        if raw > cap.cap_mg:
            capped = cap.cap_mg
            warnings.append(
                _warning(
                    "DOSE_CAPPED",
                    f"The calculated dose {_fmt_mg(raw)} is above the {cap.rule.description}; "
                    f"reduced to the cap {_fmt_mg(cap.cap_mg)}",
                    cap.rule.source,
                    "amount",
                )
            )
    steps.append(
        Step(
            "Capped dose",
            _fmt_mg(capped),
            "within the cap" if capped == raw else f"reduced from {_fmt_mg(raw)} to the cap",
        )
    )

    # Paediatric ceiling (issue #15 item 1, REF §4): per indication, whatever the basis. Above it
    # the dose is reduced to it, unless a clinician overrides with a recorded reason.
    limit = None
    override = (req.override_reason or "").strip()
    if child and drug in _PAEDIATRIC_DRUGS:
        limit = paediatric_limit(
            drug,
            weight_kg=weight,
            bsa_m2=None if bsa is None else bsa.value_m2,
            diagnosis=indication,
        )
        if limit is None:
            field = paediatric_needs(drug, indication)
            rule = paediatric_rules(drug, indication)[0]
            need = "a height (BSA)" if field == "height_cm" else "a weight"
            warnings.append(
                _warning(
                    "PAEDIATRIC_LIMIT_UNCHECKED",
                    f"Without {need} the paediatric ceiling ({rule.description}) could not be "
                    "checked",
                    rule.source,
                    field,
                )
            )
        elif capped > limit.accepted_mg:
            if override:
                warnings.append(
                    _warning(
                        "PAEDIATRIC_MAX_OVERRIDDEN",
                        f"Child: {_fmt_mg(capped)} is above the {limit.explanation}. Override "
                        f"recorded with reason: {override!r}",
                        limit.rule.source,
                        "amount",
                    )
                )
            else:
                warnings.append(
                    _warning(
                        "PAEDIATRIC_MAX_EXCEEDED",
                        f"Child: {_fmt_mg(capped)} is above the {limit.explanation}; reduced to "
                        f"{_fmt_mg(limit.limit_mg)}. A prescription above it is refused unless a "
                        "clinician records a reason",
                        limit.rule.source,
                        "amount",
                    )
                )
                capped = limit.limit_mg
                steps.append(
                    Step(
                        "Paediatric ceiling",
                        _fmt_mg(capped),
                        f"reduced to the {limit.explanation}",
                    )
                )
        if limit is not None and capped <= limit.accepted_mg:
            ceiling = limit.accepted_mg if ceiling is None else min(ceiling, limit.accepted_mg)

    # 10 mg methotrexate tablets for a child (issue #15 item 3): refused unless overridden.
    if child and product.formulation is Formulation.TABLET_10MG:
        if not override:
            raise ClinicalInputError(
                "formulation",
                "10 mg methotrexate tablets are refused for a child: use 2.5 mg tablets or an "
                "oral solution (2 or 2.5 mg/mL), or record a clinician's override reason "
                f"[{NPSA_2004.cite()}; {BSR_2017.cite()}]",
            )
        warnings.append(
            _warning(
                "MTX_10MG_TABLETS_CHILD_OVERRIDDEN",
                f"10 mg methotrexate tablets for a child. Override recorded with reason: "
                f"{override!r}",
                NPSA_2004,
                "formulation",
            )
        )

    # 4. Rounding
    rule_text = describe_rounding(product, pens)
    if ceiling is not None:
        why = "the cap" if cap is not None and ceiling == cap.cap_mg else "paediatric ceiling"
        rule_text += f"; never above {_fmt_mg(ceiling)} ({why})"
    deliverable = round_to_deliverable(product, capped, ceiling, pen_strengths_mg=pens)
    if deliverable is None:
        raise ClinicalInputError(
            "formulation",
            f"{_fmt_mg(capped)} cannot be given as {product.label}s: it rounds to nothing "
            f"({rule_text}); "
            + _alternatives_text(product, capped, ceiling, child=child, override=bool(override)),
        )
    final = deliverable.dose_mg
    change = (final - capped) / capped
    pct = (change * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    steps.append(Step("Rounding", rule_text, f"{_fmt_mg(capped)} → {_fmt_mg(final)} ({pct:+} %)"))
    if abs(change) > ROUNDING_WARNING_FRACTION:
        if child:
            # Issue #15 item 2: a child's dose is never moved by more than 10 % by rounding.
            raise ClinicalInputError(
                "formulation",
                f"{product.label}s cannot give {_fmt_mg(capped)} within 10 % (nearest "
                f"{_fmt_mg(final)}, {pct:+} %): "
                + _alternatives_text(product, capped, ceiling, child=child, override=bool(override))
                + f" [{product.source.cite()}]",
            )
        warnings.append(
            _warning(
                "ROUNDING_CHANGED_DOSE",
                f"Rounding to what {product.label}s can deliver changed the dose by {pct:+} % "
                f"({_fmt_mg(capped)} → {_fmt_mg(final)}); consider a liquid or another strength",
                product.source,
                "formulation",
            )
        )
    if drug in CORTICOSTEROIDS and weight is not None:
        most = CORTICOSTEROID_MAX_MG_PER_KG_DAY * weight
        if final > most:
            warnings.append(
                _warning(
                    "CORTICOSTEROID_ABOVE_1_MG_PER_KG",
                    f"{_fmt_mg(final)} a day is above 1 mg/kg/day ({_fmt_mg(most)} for "
                    f"{_fmt(weight)} kg): the reference dose is 0.5–1 mg/kg/day",
                    REFERENCE_GUIDELINE_2025,
                    "amount",
                )
            )
    if drug is Drug.METHOTREXATE and weekday is None:
        warnings.append(
            _warning(
                "MTX_NO_WEEKDAY",
                "Methotrexate is taken once a WEEK on one named day: choose the day, or the "
                "prescription will be refused",
                MHRA_DSU_2020,
                "weekday",
            )
        )

    # 5. Final dose and what to give
    steps.append(Step("Final dose", _fmt_mg(final), f"{_fmt_mg(final)} per {per}"))
    text = administration_text(product, deliverable, drug, weekday)
    steps.append(Step("What to give", text, f"{product.label} [{product.source.cite()}]"))

    return DoseCalculation(
        request=req,
        drug=drug,
        basis=basis,
        product=product,
        frequency=_FREQUENCY[drug],
        age_years=age,
        bsa=bsa,
        raw_dose_mg=raw,
        cap=cap,
        cap_mg=None if cap is None else cap.cap_mg,
        cap_rule=None if cap is None else cap.rule.code,
        capped_dose_mg=capped,
        rounding_rule=rule_text,
        final_dose_mg=final,
        units=deliverable.units,
        unit_label=_unit_label(product),
        administration=text,
        steps=tuple(steps),
        warnings=tuple(warnings),
    )
