"""Products, deliverable doses and dose caps, as data with their sources.

Everything here is data a clinician can read and a clinic can review: the formulations that can
be prescribed (REF §4 "Products"), what a single administration of each can deliver, and the
per-indication caps (REF §4 dosing table; mycophenolate maxima REF §4 last paragraph).

Sources (REF = shared/CLINICAL_REFERENCE.md):

- Methotrexate products: REF §4 "Products" — tablets 2.5 mg (preferred, a single strength per
  prescription) and 10 mg; oral solution 2 mg/mL (Jylamvo, Rosemont) and 2.5 mg/mL (Xatmep);
  subcutaneous pens/syringes 7.5–30 mg in 2.5 mg steps (Metoject), some brands only 7.5, 10, 15,
  20 and 25 mg.
- Methotrexate caps: default 25 mg/week (AAD-NPF 2020; reference guideline default, REF §1/§4);
  juvenile dermatomyositis 40 mg/week (SHARE 2017, Bellutti Enders, ARD 2017;76:329); children
  with skin disease at most 1 mg/kg/week and 25 mg/week (Siegfried et al., Pediatr Dermatol 2023).
- Mycophenolate mofetil: adults max 3 g/day (NHS Dumfries & Galloway); children 600 mg/m² twice
  daily, max 2 g/day (CellCept label); GFR < 25: at most 1 g twice daily (label). Forms: 250 mg
  capsules, 500 mg tablets, 200 mg/mL suspension (REF §4).
- Folic acid: 1 mg and 5 mg tablets; ≥ 5 mg/week not on the methotrexate day (BSR 2017, EULAR).

Year convention: REF §4 gives no revision date for product labels (SmPC/USPI) or the NHS D&G
protocol; their ``Source.year`` is 2025, the year of the project's reference summary (REF §1).

Public API (stable, called by the Django layer):

- ``PRODUCTS: Mapping[Formulation, Product]`` and ``product_for(formulation) -> Product``
- ``METOJECT_PEN_STRENGTHS_MG``, ``LIMITED_PEN_STRENGTHS_MG`` (tuples of Decimal)
- ``round_to_deliverable(product, target_mg, ceiling_mg=None, *, pen_strengths_mg=None)
  -> Deliverable | None`` — nearest deliverable dose, ties down, never above the ceiling.
- ``is_deliverable(product, dose_mg, *, pen_strengths_mg=None) -> bool``
- ``CAP_RULES: tuple[DoseCapRule, ...]`` and ``applicable_cap(drug, *, diagnosis, age_years,
  weight_kg, bsa_m2, gfr) -> AppliedCap | None``
- ``PAEDIATRIC_LIMITS`` and ``paediatric_limit(drug, *, weight_kg, bsa_m2, diagnosis=None)
  -> AppliedLimit | None`` (per-indication ceilings for children, issue #15)
- ``MTX_ABSOLUTE_MAX_MG_PER_WEEK`` — above this no override is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from types import MappingProxyType

from clinical.codes import Diagnosis, Drug, Formulation, Route
from clinical.types import Source

# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------

REF_PRODUCTS = Source(
    "mtxmonitor clinical reference, product list (tablets, oral solutions, pens)",
    2025,
    "REF §4 Products",
)
UK_SMPC_MTX_TABLETS = Source("UK SmPC, methotrexate 2.5 mg tablets", 2025, "§4.2, §4.3; REF §4")
METOJECT_SMPC = Source("Metoject (methotrexate) pre-filled pen SmPC", 2025, "REF §4 Products")
JYLAMVO_SMPC = Source(
    "Jylamvo / Rosemont methotrexate 2 mg/mL oral solution SmPC", 2025, "REF §4 Products"
)
XATMEP_LABEL = Source("Xatmep (methotrexate) 2.5 mg/mL oral solution label", 2025, "REF §4")
NPSA_2004 = Source(
    "NPSA Patient Safety Alert 03, Improving compliance with oral methotrexate guidelines",
    2004,
    "REF §4 daily-dosing errors (137 incidents, 25 deaths)",
)
MHRA_DSU_2020 = Source(
    "MHRA Drug Safety Update, methotrexate once-weekly for autoimmune diseases (Sep 2020)",
    2020,
    "REF §4 daily-dosing errors (write the weekday in full)",
)
# REF §4 gives no edition year for ISMP TMSBP #2; 2014 is the edition that introduced it.
ISMP_TBP2 = Source(
    "ISMP Targeted Medication Safety Best Practices for Hospitals, Best Practice #2",
    2014,
    "REF §4 (weekly default; hard stop on daily orders without an oncology indication)",
)
NHS_NEVER_EVENTS_2018 = Source(
    "NHS Never Events policy and framework (methotrexate overdose, non-cancer indication)",
    2018,
    "REF §4",
)
BSR_2017 = Source("BSR/BHPR 2017 (Ledingham et al., Rheumatology 2017;56:865)", 2017, "REF §2, §4")
EULAR_3E_2009 = Source(
    "EULAR/3E 2009 (Visser et al., Ann Rheum Dis 2009;68:1086)", 2009, "rec 2; REF §4"
)
AAD_NPF_2020 = Source("AAD-NPF 2020 psoriasis guideline (methotrexate)", 2020, "REF §4 table")
REFERENCE_GUIDELINE_2025 = Source(
    "Methotrexate vs mycophenolate mofetil for amyopathic dermatomyositis (clinical summary)",
    2025,
    "REF §1",
)
SHARE_2017 = Source(
    "SHARE 2017 (Bellutti Enders et al., Ann Rheum Dis 2017;76:329)", 2017, "REF §4 JDM"
)
SIEGFRIED_2023 = Source(
    "Siegfried et al., Pediatr Dermatol 2023 (paediatric methotrexate consensus)",
    2023,
    "REF §4 paediatric skin disease",
)
NIEHUES_2006 = Source("Niehues & Lankisch 2006 (methotrexate in JIA)", 2006, "REF §4 JIA")
CELLCEPT_LABEL = Source(
    "CellCept (mycophenolate mofetil) label (USPI)", 2025, "dosage; REF §4 mycophenolate"
)
NHS_DG_MMF = Source(
    "NHS Dumfries & Galloway mycophenolate mofetil protocol", 2025, "REF §4 mycophenolate"
)
# Issue #15: corticosteroids as companion drugs. REF §1 gives the dose (prednisone 0.5–1 mg/kg/day
# with methotrexate for dermatomyositis) but lists no products; the rows below are the common
# strengths (prednisolone 1 mg and 5 mg tablets, 5 mg/5 mL = 1 mg/mL oral solution; prednisone
# 1 mg and 5 mg tablets), to check against the clinic's formulary.
CORTICOSTEROID_PRODUCTS = Source(
    "Prednisolone / prednisone tablets and oral solution (common strengths; not listed in REF)",
    2025,
    "REF §1 dose; product strengths from the national formulary",
    verified=False,
)
EU_INJECTABLE_SMPC = Source(
    "EU SmPC, methotrexate solution for injection (renal dose adjustment)",
    2025,
    "REF §4 renal",
    verified=False,
)

# --------------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------------


class ProductKind(StrEnum):
    TABLET = "tablet"
    CAPSULE = "capsule"
    ORAL_SOLUTION = "oral_solution"
    SUSPENSION = "suspension"
    PEN = "pen"


# Liquids are measured with an oral syringe in 0.1 mL steps (REF §4; brief for issue #3).
LIQUID_STEP_ML = Decimal("0.1")

# Metoject: 7.5–30 mg in 2.5 mg steps (REF §4).
METOJECT_PEN_STRENGTHS_MG: tuple[Decimal, ...] = tuple(
    Decimal("7.5") + Decimal("2.5") * i for i in range(10)
)
# "some brands only 7.5, 10, 15, 20, 25 mg" (REF §4): pass as ``pen_strengths_mg`` when the
# clinic's supplier is one of them.
LIMITED_PEN_STRENGTHS_MG: tuple[Decimal, ...] = tuple(
    Decimal(x) for x in ("7.5", "10", "15", "20", "25")
)


@dataclass(frozen=True, slots=True)
class Product:
    """One prescribable formulation.

    ``strength_mg`` is mg per tablet/capsule, or mg per mL for liquids; for pens it is the
    smallest pen (the deliverable doses are ``pen_strengths_mg``).
    """

    formulation: Formulation
    drug: Drug
    kind: ProductKind
    strength_mg: Decimal
    route: Route
    label: str  # as written in administration text, e.g. "2.5 mg tablet"
    source: Source
    pen_strengths_mg: tuple[Decimal, ...] = ()

    @property
    def is_liquid(self) -> bool:
        return self.kind in (ProductKind.ORAL_SOLUTION, ProductKind.SUSPENSION)

    @property
    def is_solid_unit(self) -> bool:
        """Whole tablets or capsules only: no halving (REF §4, brief for issue #3)."""
        return self.kind in (ProductKind.TABLET, ProductKind.CAPSULE)


def _p(
    formulation: Formulation,
    drug: Drug,
    kind: ProductKind,
    strength: str,
    route: Route,
    label: str,
    source: Source,
    pens: tuple[Decimal, ...] = (),
) -> tuple[Formulation, Product]:
    return formulation, Product(
        formulation, drug, kind, Decimal(strength), route, label, source, pens
    )


_MTX, _MMF, _FA = Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL, Drug.FOLIC_ACID
_PRED, _PREDNISONE = Drug.PREDNISOLONE, Drug.PREDNISONE
_T, _C, _S, _SU, _PEN = (
    ProductKind.TABLET,
    ProductKind.CAPSULE,
    ProductKind.ORAL_SOLUTION,
    ProductKind.SUSPENSION,
    ProductKind.PEN,
)
_O, _SC = Route.ORAL, Route.SUBCUTANEOUS

PRODUCTS: Mapping[Formulation, Product] = MappingProxyType(
    dict(
        [
            _p(Formulation.TABLET_2_5MG, _MTX, _T, "2.5", _O, "2.5 mg tablet", UK_SMPC_MTX_TABLETS),
            _p(Formulation.TABLET_10MG, _MTX, _T, "10", _O, "10 mg tablet", UK_SMPC_MTX_TABLETS),
            _p(
                Formulation.ORAL_SOLUTION_2MG_ML,
                _MTX,
                _S,
                "2",
                _O,
                "2 mg/mL oral solution",
                JYLAMVO_SMPC,
            ),
            _p(
                Formulation.ORAL_SOLUTION_2_5MG_ML,
                _MTX,
                _S,
                "2.5",
                _O,
                "2.5 mg/mL oral solution",
                XATMEP_LABEL,
            ),
            _p(
                Formulation.SC_PEN,
                _MTX,
                _PEN,
                "7.5",
                _SC,
                "pre-filled pen",
                METOJECT_SMPC,
                METOJECT_PEN_STRENGTHS_MG,
            ),
            _p(Formulation.CAPSULE_250MG, _MMF, _C, "250", _O, "250 mg capsule", CELLCEPT_LABEL),
            _p(Formulation.TABLET_500MG, _MMF, _T, "500", _O, "500 mg tablet", CELLCEPT_LABEL),
            _p(
                Formulation.SUSPENSION_200MG_ML,
                _MMF,
                _SU,
                "200",
                _O,
                "200 mg/mL oral suspension",
                CELLCEPT_LABEL,
            ),
            _p(Formulation.FOLIC_ACID_TABLET_1MG, _FA, _T, "1", _O, "1 mg tablet", BSR_2017),
            _p(Formulation.FOLIC_ACID_TABLET_5MG, _FA, _T, "5", _O, "5 mg tablet", BSR_2017),
            _p(
                Formulation.PREDNISOLONE_TABLET_1MG,
                _PRED,
                _T,
                "1",
                _O,
                "prednisolone 1 mg tablet",
                CORTICOSTEROID_PRODUCTS,
            ),
            _p(
                Formulation.PREDNISOLONE_TABLET_5MG,
                _PRED,
                _T,
                "5",
                _O,
                "prednisolone 5 mg tablet",
                CORTICOSTEROID_PRODUCTS,
            ),
            _p(
                Formulation.PREDNISOLONE_SOLUTION_1MG_ML,
                _PRED,
                _S,
                "1",
                _O,
                "prednisolone 1 mg/mL oral solution",
                CORTICOSTEROID_PRODUCTS,
            ),
            _p(
                Formulation.PREDNISONE_TABLET_1MG,
                _PREDNISONE,
                _T,
                "1",
                _O,
                "prednisone 1 mg tablet",
                CORTICOSTEROID_PRODUCTS,
            ),
            _p(
                Formulation.PREDNISONE_TABLET_5MG,
                _PREDNISONE,
                _T,
                "5",
                _O,
                "prednisone 5 mg tablet",
                CORTICOSTEROID_PRODUCTS,
            ),
        ]
    )
)

# What the calculator uses when no formulation is chosen (brief for issue #3): methotrexate
# oral → 2.5 mg tablets, the single preferred strength (NPSA 2004), even for small children
# where tablets cannot deliver the dose (the calculation then refuses and asks for a solution);
# methotrexate subcutaneous → pen; mycophenolate → 250 mg capsules, which deliver every
# multiple of 250 mg (all adult doses); folic acid → 5 mg tablets (≥ 5 mg/week, REF §4).
DEFAULT_FORMULATION: Mapping[tuple[Drug, Route], Formulation] = MappingProxyType(
    {
        (Drug.METHOTREXATE, Route.ORAL): Formulation.TABLET_2_5MG,
        (Drug.METHOTREXATE, Route.SUBCUTANEOUS): Formulation.SC_PEN,
        (Drug.MYCOPHENOLATE_MOFETIL, Route.ORAL): Formulation.CAPSULE_250MG,
        (Drug.FOLIC_ACID, Route.ORAL): Formulation.FOLIC_ACID_TABLET_5MG,
        (Drug.PREDNISOLONE, Route.ORAL): Formulation.PREDNISOLONE_TABLET_5MG,
        (Drug.PREDNISONE, Route.ORAL): Formulation.PREDNISONE_TABLET_5MG,
    }
)


def product_for(formulation: Formulation) -> Product:
    """The product row for a formulation code (every ``Formulation`` has one)."""
    return PRODUCTS[formulation]


@dataclass(frozen=True, slots=True)
class Deliverable:
    """A dose one administration of a product can give.

    ``units``: number of tablets/capsules, volume in mL (1 dp), or the pen strength in mg.
    """

    dose_mg: Decimal
    units: Decimal


def _mg_per_step(product: Product) -> Decimal:
    if product.is_liquid:
        return product.strength_mg * LIQUID_STEP_ML
    return product.strength_mg


def _units_for(product: Product, n_steps: int) -> Decimal:
    if product.is_liquid:
        return (LIQUID_STEP_ML * n_steps).quantize(LIQUID_STEP_ML)
    return Decimal(n_steps)


def round_to_deliverable(
    product: Product,
    target_mg: Decimal,
    ceiling_mg: Decimal | None = None,
    *,
    pen_strengths_mg: Sequence[Decimal] | None = None,
) -> Deliverable | None:
    """Nearest dose the product can deliver to ``target_mg``, never above ``ceiling_mg``.

    Rule: the nearest deliverable dose (whole tablets/capsules, 0.1 mL of liquid, one pen of a
    listed strength); an exact tie goes to the LOWER dose; if that is above the ceiling, the
    largest deliverable dose not above the ceiling is used instead. Returns ``None`` when that
    would be nothing (0 mg): the caller must refuse, never round a dose away silently.
    """
    if target_mg <= 0:
        return None
    if product.kind is ProductKind.PEN:
        strengths = sorted(pen_strengths_mg or product.pen_strengths_mg)
        allowed = [s for s in strengths if ceiling_mg is None or s <= ceiling_mg]
        # 0 mg is a candidate so that a dose far below the smallest pen is refused, not doubled.
        best = min([Decimal(0), *allowed], key=lambda s: (abs(s - target_mg), s))
        return None if best == 0 else Deliverable(best, best)
    step = _mg_per_step(product)
    lower = int((target_mg / step).to_integral_value(rounding=ROUND_FLOOR))
    n = lower if target_mg - lower * step <= (lower + 1) * step - target_mg else lower + 1
    if ceiling_mg is not None and n * step > ceiling_mg:
        n = int((ceiling_mg / step).to_integral_value(rounding=ROUND_FLOOR))
    if n <= 0:
        return None
    return Deliverable(step * n, _units_for(product, n))


def is_deliverable(
    product: Product, dose_mg: Decimal, *, pen_strengths_mg: Sequence[Decimal] | None = None
) -> bool:
    """Whether one administration of ``product`` gives exactly ``dose_mg``."""
    if dose_mg <= 0:
        return False
    if product.kind is ProductKind.PEN:
        return dose_mg in (pen_strengths_mg or product.pen_strengths_mg)
    return dose_mg % _mg_per_step(product) == 0


def describe_rounding(product: Product, pen_strengths_mg: Sequence[Decimal] | None = None) -> str:
    """The rounding rule in words, for the calculation steps."""
    if product.kind is ProductKind.PEN:
        listed = ", ".join(_fmt(s) for s in (pen_strengths_mg or product.pen_strengths_mg))
        unit = f"one pen of a stocked strength ({listed} mg)"
    elif product.is_liquid:
        unit = f"0.1 mL of {product.label} ({_fmt(_mg_per_step(product))} mg steps)"
    else:
        unit = f"whole number of {product.label}s (no halving)"
    return f"rounded to the nearest {unit}, an exact tie rounded DOWN"


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --------------------------------------------------------------------------------------------
# Caps
# --------------------------------------------------------------------------------------------


class CapPeriod(StrEnum):
    WEEK = "week"  # methotrexate: the once-weekly dose
    ADMINISTRATION = "administration"  # mycophenolate: each of the twice-daily doses


SKIN_DISEASES: frozenset[Diagnosis] = frozenset(
    {Diagnosis.ATOPIC_DERMATITIS, Diagnosis.PSORIASIS, Diagnosis.OTHER_SKIN_DISEASE}
)


@dataclass(frozen=True, slots=True)
class DoseCapRule:
    """A hard maximum for one dose, with the population it applies to.

    The cap for a patient is the smallest of the limits the row has (``max_mg``, and
    ``max_mg_per_kg`` × weight, ``max_mg_per_m2`` × BSA when those are known). A ``fallback`` row
    applies only when no other row of the same drug matches; otherwise every matching row
    applies and the smallest cap wins.
    """

    code: str
    drug: Drug
    description: str
    period: CapPeriod
    source: Source
    max_mg: Decimal | None = None
    max_mg_per_kg: Decimal | None = None
    max_mg_per_m2: Decimal | None = None
    diagnoses: frozenset[Diagnosis] = frozenset()  # empty: any diagnosis
    min_age_years: int | None = None  # applies when age >= this
    under_age_years: int | None = None  # applies when age < this
    below_gfr: Decimal | None = None  # renal rule: applies when eGFR/CrCl < this
    fallback: bool = False

    def matches(self, *, diagnosis: Diagnosis, age_years: int, gfr: Decimal | None) -> bool:
        if self.diagnoses and diagnosis not in self.diagnoses:
            return False
        if self.min_age_years is not None and age_years < self.min_age_years:
            return False
        if self.under_age_years is not None and age_years >= self.under_age_years:
            return False
        return self.below_gfr is None or (gfr is not None and gfr < self.below_gfr)


CAP_RULES: tuple[DoseCapRule, ...] = (
    DoseCapRule(
        code="MTX_CAP_JDM",
        drug=Drug.METHOTREXATE,
        description="juvenile dermatomyositis: at most 40 mg once weekly",
        period=CapPeriod.WEEK,
        max_mg=Decimal(40),
        diagnoses=frozenset({Diagnosis.JUVENILE_DERMATOMYOSITIS}),
        source=SHARE_2017,
    ),
    DoseCapRule(
        code="MTX_CAP_PAEDIATRIC_SKIN",
        drug=Drug.METHOTREXATE,
        description="child (< 18 y) with skin disease: at most 1 mg/kg and 25 mg once weekly",
        period=CapPeriod.WEEK,
        max_mg=Decimal(25),
        max_mg_per_kg=Decimal(1),
        diagnoses=SKIN_DISEASES,
        under_age_years=18,
        source=SIEGFRIED_2023,
    ),
    DoseCapRule(
        code="MTX_CAP_DEFAULT",
        drug=Drug.METHOTREXATE,
        description="default: at most 25 mg once weekly",
        period=CapPeriod.WEEK,
        max_mg=Decimal(25),
        fallback=True,
        source=AAD_NPF_2020,
    ),
    DoseCapRule(
        code="MMF_MAX_ADULT",
        drug=Drug.MYCOPHENOLATE_MOFETIL,
        description="adult: at most 3 g/day (1500 mg twice daily)",
        period=CapPeriod.ADMINISTRATION,
        max_mg=Decimal(1500),
        min_age_years=18,
        source=NHS_DG_MMF,
    ),
    DoseCapRule(
        code="MMF_MAX_CHILD",
        drug=Drug.MYCOPHENOLATE_MOFETIL,
        description="child (< 18 y): at most 2 g/day (1000 mg twice daily)",
        period=CapPeriod.ADMINISTRATION,
        max_mg=Decimal(1000),
        under_age_years=18,
        source=CELLCEPT_LABEL,
    ),
    DoseCapRule(
        code="MMF_MAX_RENAL",
        drug=Drug.MYCOPHENOLATE_MOFETIL,
        description="GFR < 25 mL/min: at most 1 g twice daily",
        period=CapPeriod.ADMINISTRATION,
        max_mg=Decimal(1000),
        below_gfr=Decimal(25),
        source=CELLCEPT_LABEL,
    ),
)

# No non-oncology indication in REF §4 has a weekly cap above 40 mg (SHARE 2017, JDM). A dose
# above it cannot be overridden: a methotrexate overdose for a non-cancer indication is an NHS
# Never Event (2018). Project safety rule built on REF §4; not itself a guideline number.
MTX_ABSOLUTE_MAX_MG_PER_WEEK = Decimal(40)


@dataclass(frozen=True, slots=True)
class AppliedCap:
    """The cap for one patient: the value, the binding rule and how it was reached."""

    cap_mg: Decimal
    period: CapPeriod
    rule: DoseCapRule  # the rule giving the smallest cap
    rules: tuple[DoseCapRule, ...]  # every rule that applied
    explanation: str
    unchecked: tuple[str, ...] = ()  # limits that could not be computed (no weight/BSA)


def _rule_limits(
    rule: DoseCapRule, weight_kg: Decimal | None, bsa_m2: Decimal | None
) -> tuple[list[tuple[Decimal, str]], list[str]]:
    limits: list[tuple[Decimal, str]] = []
    unchecked: list[str] = []
    if rule.max_mg is not None:
        limits.append((rule.max_mg, f"{_fmt(rule.max_mg)} mg"))
    if rule.max_mg_per_kg is not None:
        if weight_kg is None:
            unchecked.append(f"{_fmt(rule.max_mg_per_kg)} mg/kg (no weight)")
        else:
            value = rule.max_mg_per_kg * weight_kg
            limits.append(
                (
                    value,
                    f"{_fmt(rule.max_mg_per_kg)} mg/kg × {_fmt(weight_kg)} kg = {_fmt(value)} mg",
                )
            )
    if rule.max_mg_per_m2 is not None:
        if bsa_m2 is None:
            unchecked.append(f"{_fmt(rule.max_mg_per_m2)} mg/m² (no BSA)")
        else:
            value = rule.max_mg_per_m2 * bsa_m2
            limits.append(
                (value, f"{_fmt(rule.max_mg_per_m2)} mg/m² × {_fmt(bsa_m2)} m² = {_fmt(value)} mg")
            )
    return limits, unchecked


def applicable_cap(
    drug: Drug,
    *,
    diagnosis: Diagnosis,
    age_years: int,
    weight_kg: Decimal | None = None,
    bsa_m2: Decimal | None = None,
    gfr: Decimal | None = None,
    rules: Sequence[DoseCapRule] = CAP_RULES,
) -> AppliedCap | None:
    """The hard cap for ``drug`` for this patient, or ``None`` if no rule applies (folic acid).

    Methotrexate caps are per week, mycophenolate caps per administration (twice daily).
    """
    own = [r for r in rules if r.drug == drug]
    matching = [
        r
        for r in own
        if not r.fallback and r.matches(diagnosis=diagnosis, age_years=age_years, gfr=gfr)
    ]
    if not matching:
        matching = [
            r
            for r in own
            if r.fallback and r.matches(diagnosis=diagnosis, age_years=age_years, gfr=gfr)
        ]
    best: tuple[Decimal, str, DoseCapRule] | None = None
    unchecked: list[str] = []
    for rule in matching:
        limits, missing = _rule_limits(rule, weight_kg, bsa_m2)
        unchecked.extend(missing)
        for value, text in limits:
            if best is None or value < best[0]:
                best = (value, text, rule)
    if best is None:
        return None
    value, text, rule = best
    explanation = (
        f"cap {_fmt(value)} mg per {rule.period.value} ({text}): {rule.description} "
        f"[{rule.source.cite()}]"
    )
    if unchecked:
        explanation += "; not checked: " + ", ".join(unchecked)
    return AppliedCap(value, rule.period, rule, tuple(matching), explanation, tuple(unchecked))


# --------------------------------------------------------------------------------------------
# Paediatric ceilings (issue #15: a HARD STOP a clinician may override with a recorded reason)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaediatricLimit:
    """A per-kg or per-m² ceiling for a child's dose, whatever basis the dose was stated in
    (issue #15 item 1; REF §4). Every indication has one: the rows for its diagnoses, else the
    ``fallback`` row of the drug. The ceiling is the smallest of the row's limits that can be
    computed; ``tolerance`` lets a dose rounded to the nearest giveable amount sit just above a
    target dose (mycophenolate's 600 mg/m² is the label dose, not a maximum)."""

    code: str
    drug: Drug
    description: str
    source: Source
    max_mg_per_kg: Decimal | None = None
    max_mg_per_m2: Decimal | None = None
    diagnoses: frozenset[Diagnosis] = frozenset()
    fallback: bool = False
    tolerance: Decimal = Decimal(0)  # fraction above the limit still accepted (rounding)


DERMATOMYOSITIS_DIAGNOSES: frozenset[Diagnosis] = frozenset(
    {
        Diagnosis.JUVENILE_DERMATOMYOSITIS,
        Diagnosis.DERMATOMYOSITIS,
        Diagnosis.AMYOPATHIC_DERMATOMYOSITIS,
    }
)

# A per-m² ceiling accepts up to 10 % above it: BSA formulas differ by up to 5–10 % for the same
# child (REF §5), and the nearest giveable dose may sit just above the limit. Project rule.
_BSA_TOLERANCE = Decimal("0.10")

PAEDIATRIC_LIMITS: tuple[PaediatricLimit, ...] = (
    PaediatricLimit(
        code="MTX_PAED_SKIN",
        drug=Drug.METHOTREXATE,
        description="child with skin disease: methotrexate at most 1 mg/kg once weekly",
        max_mg_per_kg=Decimal(1),
        diagnoses=SKIN_DISEASES,
        source=SIEGFRIED_2023,
    ),
    PaediatricLimit(
        code="MTX_PAED_JDM",
        drug=Drug.METHOTREXATE,
        description="child with dermatomyositis: methotrexate 15–20 mg/m² once weekly, at most "
        "20 mg/m²",
        max_mg_per_m2=Decimal(20),
        diagnoses=DERMATOMYOSITIS_DIAGNOSES,
        source=SHARE_2017,
        tolerance=_BSA_TOLERANCE,
    ),
    PaediatricLimit(
        code="MTX_PAED_JIA",
        drug=Drug.METHOTREXATE,
        description="child with JIA: methotrexate up to 15–20 mg/m² once weekly (parenteral), at "
        "most 20 mg/m²",
        max_mg_per_m2=Decimal(20),
        diagnoses=frozenset({Diagnosis.JIA}),
        source=NIEHUES_2006,
        tolerance=_BSA_TOLERANCE,
    ),
    PaediatricLimit(
        code="MTX_PAED_MG_PER_KG",
        drug=Drug.METHOTREXATE,
        description="child, any other indication: paediatric methotrexate maximum 1 mg/kg once "
        "weekly",
        max_mg_per_kg=Decimal(1),
        fallback=True,
        source=SIEGFRIED_2023,
    ),
    PaediatricLimit(
        code="MMF_PAED_MG_PER_M2",
        drug=Drug.MYCOPHENOLATE_MOFETIL,
        description="child: mycophenolate 600 mg/m² twice daily (the nearest giveable dose, up to "
        "10 % above)",
        max_mg_per_m2=Decimal(600),
        fallback=True,
        tolerance=_BSA_TOLERANCE,
        source=CELLCEPT_LABEL,
    ),
)


@dataclass(frozen=True, slots=True)
class AppliedLimit:
    limit_mg: Decimal  # the limit itself (e.g. 20 mg/m² × BSA)
    rule: PaediatricLimit
    explanation: str

    @property
    def accepted_mg(self) -> Decimal:
        """The highest dose accepted without an override (the limit plus its tolerance)."""
        return self.limit_mg * (1 + self.rule.tolerance)


def paediatric_rules(drug: Drug, diagnosis: Diagnosis | None = None) -> list[PaediatricLimit]:
    """The paediatric rows for ``drug`` and ``diagnosis`` (its own rows, else the fallback)."""
    own = [r for r in PAEDIATRIC_LIMITS if r.drug == drug]
    if diagnosis is not None:
        specific = [r for r in own if not r.fallback and diagnosis in r.diagnoses]
        if specific:
            return specific
    return [r for r in own if r.fallback]


def paediatric_limit(
    drug: Drug,
    *,
    weight_kg: Decimal | None,
    bsa_m2: Decimal | None,
    diagnosis: Diagnosis | None = None,
) -> AppliedLimit | None:
    """The paediatric ceiling for ``drug`` (per week for MTX, per administration for MMF) for a
    child with ``diagnosis`` (``None``: the drug's fallback row), or ``None`` when there is none
    or the weight/BSA it needs is unknown."""
    best: AppliedLimit | None = None
    for rule in paediatric_rules(drug, diagnosis):
        found: list[tuple[Decimal, str]] = []
        if rule.max_mg_per_kg is not None and weight_kg is not None:
            value = rule.max_mg_per_kg * weight_kg
            found.append(
                (
                    value,
                    f"{_fmt(rule.max_mg_per_kg)} mg/kg × {_fmt(weight_kg)} kg = {_fmt(value)} mg",
                )
            )
        if rule.max_mg_per_m2 is not None and bsa_m2 is not None:
            value = rule.max_mg_per_m2 * bsa_m2
            found.append(
                (value, f"{_fmt(rule.max_mg_per_m2)} mg/m² × {_fmt(bsa_m2)} m² = {_fmt(value)} mg")
            )
        for value, text in found:
            if best is None or value < best.limit_mg:
                best = AppliedLimit(
                    value, rule, f"{rule.description}: {text} [{rule.source.cite()}]"
                )
    return best


def paediatric_needs(drug: Drug, diagnosis: Diagnosis | None = None) -> str:
    """What the paediatric ceiling needs, in words (for 'could not be checked' messages)."""
    rules = paediatric_rules(drug, diagnosis)
    if any(r.max_mg_per_m2 is not None for r in rules):
        return "height_cm"
    return "weight_kg"
