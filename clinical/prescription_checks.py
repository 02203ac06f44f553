"""Prescription checks: what refuses a methotrexate, mycophenolate or folic acid prescription
(HARD_STOP) and what is shown to the prescriber (WARNING), each with a stable code, the reason
and a source.

``check_prescription`` never raises for bad input: an unknown drug, frequency, weekday, route,
formulation or basis string, or an unusable dose, becomes a HARD_STOP naming the field.

Sources (REF = shared/CLINICAL_REFERENCE.md):

- Once weekly on a named day: NPSA Patient Safety Alert 03 (2004: 137 incidents, 25 deaths);
  MHRA Drug Safety Update Sep 2020 (write the weekday in full); ISMP TMSBP #2 (hard stop on daily
  orders); NHS Never Event 2018 (REF §4).
- One tablet strength per prescription, 2.5 mg preferred: NPSA 2004, BSR 2017 (REF §4).
- Folic acid ≥ 5 mg/week, not on the methotrexate day: BSR 2017, EULAR/3E 2009 (REF §4, §1).
- Caps: :data:`clinical.products.CAP_RULES` (REF §4); above the highest non-oncology cap
  (40 mg/week) no override is accepted (NHS Never Event 2018).
- Renal: methotrexate contraindicated at CrCl < 30 mL/min (UK SmPC); 50 % dose at 30–59
  (EU injectable SmPC, UNVERIFIED); mycophenolate at most 1 g twice daily at GFR < 25 (label).
- Children on adult fixed doses: Siegfried 2023 (MTX 1 mg/kg/week), CellCept label
  (600 mg/m² twice daily).
- Issue #15: children's per-indication ceilings whatever the basis (REF §4, overridable hard
  stop); 10 mg tablets for a child (NPSA 2004, overridable hard stop); mycophenolate only twice
  daily (once daily a warning); first mycophenolate course above 500 mg twice daily, methotrexate
  for active dermatomyositis without a corticosteroid, a (re)start after a confirmed ALT/AST
  > 3× ULN unless normalised and lower (REF §1, warnings; these need ``draft.change``); weekly
  folic acid needs its day (hard stop), daily folic acid skips the methotrexate day (warning).
  ``check_stop(StopDraft, ctx)``: the REF §1 stopping rules (warnings).
- Project defaults (configurable, not guideline numbers; source ``PROJECT_RULE``): measurement
  age 90 days (30 days under age 2), a dose change > 50 % in one step, a dose more than 10 %
  above what its stated basis gives.

Boundaries: a value exactly at a limit is allowed (cap 25 mg OK, 25.01 refused; eGFR exactly 30
is in the 30–59 warning band; a measurement exactly 90 days old is current).

Public API (stable, called by the Django layer):

- ``PrescriptionDraft``, ``PatientContext``, ``Measurement``, ``RenalFunction``, ``RenalKind``,
  ``ActivePrescription`` (frozen dataclasses; drafts/contexts are keyword-only)
- ``check_prescription(draft, ctx) -> list[CheckResult]``
- ``StopDraft``, ``Assessment``, ``LiverStop``, ``LiverValue``; ``check_stop(draft, ctx)``
- ``hard_stops(results) -> list[CheckResult]`` (what refuses the save)
- ``CHECK_CODES`` — every code this module can return.

``ctx.other_prescriptions`` must hold the patient's OTHER active prescriptions: leave out the one
being edited or replaced, or it is reported as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from clinical.bsa import check_plausible, completed_years, compute_bsa, decimal_input
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
    Sex,
    Weekday,
)
from clinical.dosing import weekday_plural
from clinical.products import (
    BSR_2017,
    CELLCEPT_LABEL,
    DERMATOMYOSITIS_DIAGNOSES,
    EU_INJECTABLE_SMPC,
    EULAR_3E_2009,
    ISMP_TBP2,
    MHRA_DSU_2020,
    MTX_ABSOLUTE_MAX_MG_PER_WEEK,
    NHS_DG_MMF,
    NHS_NEVER_EVENTS_2018,
    NPSA_2004,
    PRODUCTS,
    REFERENCE_GUIDELINE_2025,
    UK_SMPC_MTX_TABLETS,
    Product,
    ProductKind,
    applicable_cap,
    is_deliverable,
    paediatric_limit,
    paediatric_needs,
    paediatric_rules,
)
from clinical.types import CheckResult, ClinicalInputError, Source

E = TypeVar("E", bound=StrEnum)

PROJECT_RULE = Source(
    "mtxmonitor safety rule (project default, configurable per clinic; not a guideline number)",
    2025,
    "issue #3",
)

ADULT_AGE_YEARS = 18
MTX_TABLET_STRENGTHS_MG = frozenset({Decimal("2.5"), Decimal(10)})
MTX_RENAL_CONTRAINDICATED_BELOW = Decimal(30)  # UK SmPC: CrCl < 30 mL/min
MTX_RENAL_REDUCE_BELOW = Decimal(60)  # EU injectable SmPC: 50 % dose at 30–59 (UNVERIFIED)
MMF_RENAL_BELOW = Decimal(25)  # label: GFR < 25 → at most 1 g twice daily
MMF_RENAL_MAX_MG = Decimal(1000)
FOLIC_ACID_MIN_MG_PER_WEEK = Decimal(5)  # BSR 2017, EULAR (REF §4)
DOSE_CHANGE_WARNING_FRACTION = Decimal("0.5")
BASIS_MISMATCH_FRACTION = Decimal("0.10")

CHECK_CODES: frozenset[str] = frozenset(
    {
        "INVALID_DRUG",
        "INVALID_DOSE",
        "INVALID_FREQUENCY",
        "INVALID_WEEKDAY",
        "INVALID_ROUTE",
        "INVALID_FORMULATION",
        "INVALID_BASIS",
        "INVALID_AMOUNT",
        "INVALID_TABLET_STRENGTH",
        "INVALID_PATIENT_CONTEXT",
        "FORMULATION_WRONG_DRUG",
        "FORMULATION_MISSING",
        "FORMULATION_STRENGTH_MISMATCH",
        "ROUTE_MISMATCH",
        "MISSING_FREQUENCY",
        "MTX_NOT_WEEKLY",
        "MTX_NO_WEEKDAY",
        "MTX_START_NOT_ON_WEEKDAY",
        "MTX_MULTIPLE_TABLET_STRENGTHS",
        "MTX_UNKNOWN_TABLET_STRENGTH",
        "MTX_10MG_TABLETS",
        "MMF_NOT_TWICE_DAILY",
        "DOSE_NOT_DELIVERABLE",
        "DUPLICATE_ACTIVE_PRESCRIPTION",
        "FOLIC_ACID_MISSING",
        "FOLIC_ACID_ON_MTX_DAY",
        "FOLIC_ACID_LOW_DOSE",
        "DOSE_ABOVE_CAP",
        "DOSE_ABOVE_CAP_OVERRIDDEN",
        "CAP_NOT_FULLY_CHECKED",
        "MTX_ABOVE_ABSOLUTE_MAX",
        "MEASUREMENT_MISSING",
        "MEASUREMENT_STALE",
        "MEASUREMENT_IN_FUTURE",
        "MEASUREMENT_IMPLAUSIBLE",
        "DOSE_BASIS_MISMATCH",
        "RENAL_FUNCTION_UNKNOWN",
        "MTX_RENAL_CONTRAINDICATED",
        "MTX_RENAL_REDUCE",
        "MMF_RENAL_MAX",
        "MMF_RENAL_MAX_OVERRIDDEN",
        "DOSE_CHANGE_GT_50_PERCENT",
        # issue #15
        "PAEDIATRIC_MAX_EXCEEDED",
        "PAEDIATRIC_MAX_OVERRIDDEN",
        "PAEDIATRIC_LIMIT_UNCHECKED",
        "MTX_10MG_TABLETS_CHILD",
        "MTX_10MG_TABLETS_CHILD_OVERRIDDEN",
        "MMF_NOT_DAILY",
        "MMF_START_ABOVE_500",
        "MTX_RESTART_AFTER_LIVER_STOP",
        "MTX_DERMATOMYOSITIS_NO_CORTICOSTEROID",
        "CORTICOSTEROID_NOT_DAILY",
        "CORTICOSTEROID_ABOVE_1_MG_PER_KG",
        "FOLIC_ACID_NO_WEEKDAY",
        "FOLIC_ACID_DAILY_SKIP_MTX_DAY",
        "MMF_STOP_ON_CORTICOSTEROID",
        "MMF_STOP_ACTIVE_DISEASE",
        "MTX_STOP_WITHIN_12_MONTHS_OF_IMPROVEMENT",
    }
)

# Issue #15 (REF §1): mycophenolate is started at 500 mg twice daily and titrated.
MMF_START_MG = Decimal(500)
# REF §1: prednisone 0.5–1 mg/kg/day with methotrexate.
CORTICOSTEROID_MAX_MG_PER_KG_DAY = Decimal(1)
# REF §7: IGA 0/1 = clear or almost clear (remission); an IGA drop of >= 2 is improvement.
IGA_REMISSION_MAX = 1
IGA_IMPROVEMENT_DROP = 2
# REF §1: methotrexate maintained at least 12 months after improvement before tapering.
MTX_KEEP_MONTHS_AFTER_IMPROVEMENT = 12
_STARTS = frozenset({"start", "restart"})


class RenalKind(StrEnum):
    EGFR = "egfr"  # mL/min/1.73 m²
    CRCL = "crcl"  # mL/min (Cockcroft–Gault); the UK SmPC limit is stated in CrCl


@dataclass(frozen=True, slots=True)
class Measurement:
    measured_on: date
    weight_kg: Decimal | None = None
    height_cm: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RenalFunction:
    value: Decimal
    measured_on: date
    kind: RenalKind = RenalKind.EGFR


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivePrescription:
    """Another active prescription of the patient (strings tolerated: unknown ones are ignored)."""

    drug: Drug | str
    frequency: Frequency | str | None = None
    weekday: Weekday | str | None = None
    dose_mg: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    """A disease-activity assessment (REF §7): IGA 0 clear – 4 severe."""

    assessed_on: date
    iga: int


@dataclass(frozen=True, slots=True)
class LiverValue:
    """An ALT or AST result after a confirmed rise, with the ULN it is read against."""

    analyte: str  # "alt" or "ast"
    measured_on: date
    value: Decimal
    uln: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class LiverStop:
    """The latest confirmed ALT/AST > 3× ULN (EULAR/3E 2009, REF §1): when, the methotrexate
    dose then, and the ALT/AST results since."""

    confirmed_on: date
    dose_mg: Decimal | None
    since: tuple[LiverValue, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PrescriptionDraft:
    """A prescription as entered. ``dose_mg`` is per week for methotrexate and per
    administration for mycophenolate and folic acid. Codes may be enum members or strings."""

    drug: Drug | str
    dose_mg: Decimal | int | float | str | None
    frequency: Frequency | str | None
    weekday: Weekday | str | None = None
    route: Route | str | None = None
    formulation: Formulation | str | None = None
    start_date: date | None = None
    basis: DoseBasis | str | None = None  # the basis the dose was computed from, if any
    amount: Decimal | int | float | str | None = None  # in that basis
    override_reason: str | None = None  # lifts an overridable hard stop, recorded
    tablet_strengths: Iterable[Decimal | int | float | str] | None = None  # None: from formulation
    # What the draft does (issue #15): "start", "restart", "dose_increase", ... (the
    # Prescription.Change codes). None: not stated, so start-only checks do not run.
    change: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PatientContext:
    birth_date: date
    sex: Sex
    diagnosis: Diagnosis
    today: date
    measurement: Measurement | None = None
    renal: RenalFunction | None = None
    other_prescriptions: Sequence[ActivePrescription] = ()
    previous_dose_mg: Decimal | None = None  # last dose of the same drug, same units as dose_mg
    measurement_max_age_days: int = 90
    measurement_max_age_days_under_2: int = 30
    bsa_formula: BSAFormula = BSAFormula.MOSTELLER
    # issue #15
    assessments: Sequence[Assessment] = ()  # IGA history, any order
    liver_stop: LiverStop | None = None  # the latest confirmed ALT/AST > 3× ULN
    first_course: bool = False  # the patient has never had this drug before


def hard_stops(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The results that refuse the save (an overridden cap is a WARNING, so not among them)."""
    return [r for r in results if r.level is CheckLevel.HARD_STOP]


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


class _Run:
    """Accumulates results; remembers fields already refused so follow-ups do not pile up."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []
        self.refused: set[str] = set()

    def add(
        self,
        level: CheckLevel,
        code: str,
        field: str | None,
        message: str,
        source: Source,
        *,
        overridable: bool = False,
    ) -> None:
        assert code in CHECK_CODES, code
        text = f"{message} [{source.cite()}]"
        self.results.append(CheckResult(code, level, text, source, field, overridable))
        if level is CheckLevel.HARD_STOP and field is not None:
            self.refused.add(field)

    def hard(self, code: str, field: str | None, message: str, source: Source, **kw: bool) -> None:
        self.add(CheckLevel.HARD_STOP, code, field, message, source, **kw)

    def warn(self, code: str, field: str | None, message: str, source: Source, **kw: bool) -> None:
        self.add(CheckLevel.WARNING, code, field, message, source, **kw)

    def code(self, enum: type[E], value: object, field: str, invalid_code: str) -> E | None:
        """Parse an optional code; an unknown value is a HARD_STOP, ``None`` stays ``None``."""
        if value is None:
            return None
        if isinstance(value, enum):
            return value
        if isinstance(value, str):
            try:
                return enum(value.strip().lower())
            except ValueError:
                pass
        allowed = ", ".join(m.value for m in enum)
        self.hard(
            invalid_code,
            field,
            f"Unknown {field} {value!r}: refused rather than guessed (allowed: {allowed})",
            PROJECT_RULE,
        )
        return None

    def number(
        self, value: object, field: str, invalid_code: str, what: str, source: Source
    ) -> Decimal | None:
        try:
            return decimal_input(value, field)
        except ClinicalInputError as exc:
            self.hard(invalid_code, field, f"{what}: {exc.reason}", source)
            return None


def _quiet_code(enum: type[E], value: object) -> E | None:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value.strip().lower())
        except ValueError:
            return None
    return None


def check_prescription(draft: PrescriptionDraft, ctx: PatientContext) -> list[CheckResult]:
    """Every check that fires for ``draft`` in ``ctx``, HARD_STOPs and WARNINGs, in a stable
    order. Never raises for bad draft or context values: they become HARD_STOPs."""
    run = _Run()
    drug = run.code(Drug, draft.drug, "drug", "INVALID_DRUG")
    if drug is None and "drug" not in run.refused:
        run.hard("INVALID_DRUG", "drug", "No drug given", PROJECT_RULE)
    frequency = run.code(Frequency, draft.frequency, "frequency", "INVALID_FREQUENCY")
    weekday = run.code(Weekday, draft.weekday, "weekday", "INVALID_WEEKDAY")
    route = run.code(Route, draft.route, "route", "INVALID_ROUTE")
    formulation = run.code(Formulation, draft.formulation, "formulation", "INVALID_FORMULATION")
    basis = run.code(DoseBasis, draft.basis, "basis", "INVALID_BASIS")
    dose = run.number(draft.dose_mg, "dose_mg", "INVALID_DOSE", "Dose", PROJECT_RULE)
    amount = None
    if draft.amount is not None:
        amount = run.number(draft.amount, "amount", "INVALID_AMOUNT", "Amount", PROJECT_RULE)

    patient = _Patient.build(ctx, run)
    if drug is None or patient is None:
        return run.results

    product = _check_product(
        run, drug, formulation, route, strengths_given=draft.tablet_strengths is not None
    )
    _check_frequency(run, drug, frequency, draft.frequency, weekday, draft.start_date)
    override = (draft.override_reason or "").strip()
    if drug is Drug.METHOTREXATE:
        strengths = _check_tablet_strengths(
            run, draft.tablet_strengths, product, child=patient.child, override=override
        )
    else:
        strengths = None
    if dose is not None:
        _check_deliverable(run, dose, product, strengths)
    _check_companions(run, drug, frequency, weekday, dose, ctx.other_prescriptions)
    measured = _check_measurement(run, patient, drug, basis)
    if dose is not None:
        _check_dose(run, draft, patient, drug, dose, basis, amount, measured, product)
    _check_renal(run, patient, drug, dose, draft.override_reason)
    if dose is not None and ctx.previous_dose_mg is not None:
        _check_dose_change(run, drug, dose, ctx.previous_dose_mg)
    if dose is not None:
        _check_treatment_rules(run, draft, patient, drug, dose, frequency, weekday, measured)
    return run.results


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Patient:
    ctx: PatientContext
    diagnosis: Diagnosis
    age_years: int
    measurement: Measurement | None
    renal: RenalFunction | None

    @staticmethod
    def build(ctx: PatientContext, run: _Run) -> _Patient | None:
        if not isinstance(ctx.birth_date, date) or not isinstance(ctx.today, date):
            run.hard(
                "INVALID_PATIENT_CONTEXT", "birth_date", "Birth date or today missing", PROJECT_RULE
            )
            return None
        if ctx.birth_date > ctx.today:
            run.hard(
                "INVALID_PATIENT_CONTEXT",
                "birth_date",
                f"Birth date {ctx.birth_date.isoformat()} is after today",
                PROJECT_RULE,
            )
            return None
        diagnosis = run.code(Diagnosis, ctx.diagnosis, "diagnosis", "INVALID_PATIENT_CONTEXT")
        if diagnosis is None:
            if "diagnosis" not in run.refused:
                run.hard("INVALID_PATIENT_CONTEXT", "diagnosis", "No diagnosis", PROJECT_RULE)
            return None
        renal = ctx.renal
        if renal is not None and not isinstance(renal.measured_on, date):
            run.hard("INVALID_PATIENT_CONTEXT", "renal", "Renal result has no date", PROJECT_RULE)
            return None
        if renal is not None:
            try:
                value = decimal_input(renal.value, "renal", allow_zero=True)
            except ClinicalInputError as exc:
                run.hard(
                    "INVALID_PATIENT_CONTEXT",
                    "renal",
                    f"Renal function: {exc.reason}",
                    PROJECT_RULE,
                )
                return None
            renal = RenalFunction(
                value, renal.measured_on, _quiet_code(RenalKind, renal.kind) or RenalKind.EGFR
            )
        return _Patient(
            ctx, diagnosis, completed_years(ctx.birth_date, ctx.today), ctx.measurement, renal
        )

    @property
    def child(self) -> bool:
        return self.age_years < ADULT_AGE_YEARS


@dataclass(frozen=True, slots=True)
class _Measured:
    weight_kg: Decimal | None
    bsa_m2: Decimal | None


def _check_product(
    run: _Run,
    drug: Drug,
    formulation: Formulation | None,
    route: Route | None,
    *,
    strengths_given: bool,
) -> Product | None:
    if formulation is None:
        if "formulation" in run.refused:
            return None
        if drug is Drug.METHOTREXATE and strengths_given:
            return None  # the tablet strengths on the prescription are checked instead
        if drug is Drug.METHOTREXATE:
            run.hard(
                "FORMULATION_MISSING",
                "formulation",
                "State the methotrexate product and strength (2.5 mg tablets preferred): the "
                "strength on the prescription prevents tablet-count errors",
                NPSA_2004,
            )
        else:
            run.warn(
                "FORMULATION_MISSING",
                "formulation",
                "No product chosen: whether the dose can be given was not checked",
                PROJECT_RULE,
            )
        return None
    product = PRODUCTS[formulation]
    if product.drug is not drug:
        run.hard(
            "FORMULATION_WRONG_DRUG",
            "formulation",
            f"{formulation.value} is a {product.drug.value} product, not {drug.value}",
            product.source,
        )
        return None
    if route is not None and route is not product.route:
        run.hard(
            "ROUTE_MISMATCH",
            "route",
            f"{product.label} is given {product.route.value}, not {route.value}",
            product.source,
        )
    return product


def _check_frequency(
    run: _Run,
    drug: Drug,
    frequency: Frequency | None,
    raw_frequency: object,
    weekday: Weekday | None,
    start_date: date | None,
) -> None:
    if drug is Drug.METHOTREXATE:
        if frequency is not Frequency.ONCE_WEEKLY:
            if frequency is not None:
                given = f"'{frequency.value}'"
            elif raw_frequency is None or not str(raw_frequency).strip():
                given = "no frequency"
            else:
                given = f"{str(raw_frequency)!r}"
            run.hard(
                "MTX_NOT_WEEKLY",
                "frequency",
                f"Methotrexate must be taken ONCE WEEKLY on one named day; {given} is refused. "
                "Daily dosing in error has killed patients (137 incidents, 25 deaths); "
                f"also {MHRA_DSU_2020.cite()}; {ISMP_TBP2.cite()}; a methotrexate overdose for "
                f"a non-cancer indication is a Never Event ({NHS_NEVER_EVENTS_2018.cite()})",
                NPSA_2004,
            )
        if "weekday" not in run.refused and weekday is None:
            run.hard(
                "MTX_NO_WEEKDAY",
                "weekday",
                "Methotrexate needs the day of the week it is taken, written in full "
                "(e.g. 'once weekly on Mondays')",
                MHRA_DSU_2020,
            )
        if (
            weekday is not None
            and isinstance(start_date, date)
            and start_date.isoweekday() != weekday.iso
        ):
            run.warn(
                "MTX_START_NOT_ON_WEEKDAY",
                "start_date",
                f"Start date {start_date.isoformat()} is a {start_date.strftime('%A')}, but "
                f"methotrexate is prescribed on {weekday_plural(weekday)}: the first dose "
                "would fall on the wrong day",
                MHRA_DSU_2020,
            )
        return
    if frequency is None:
        if "frequency" not in run.refused:
            run.hard("MISSING_FREQUENCY", "frequency", "No frequency given", PROJECT_RULE)
        return
    if drug is Drug.MYCOPHENOLATE_MOFETIL and frequency is Frequency.ONCE_DAILY:
        run.warn(
            "MMF_NOT_TWICE_DAILY",
            "frequency",
            f"Mycophenolate mofetil is given twice daily, not '{frequency.value}'; its caps "
            "are per twice-daily dose",
            CELLCEPT_LABEL,
        )
    elif drug is Drug.MYCOPHENOLATE_MOFETIL and frequency is not Frequency.TWICE_DAILY:
        # Issue #15 item 4: weekly, twice-weekly or "as directed" mycophenolate is refused, as
        # methotrexate's daily orders are.
        run.hard(
            "MMF_NOT_DAILY",
            "frequency",
            f"Mycophenolate mofetil is given TWICE DAILY; '{frequency.value}' is refused (its "
            "doses and caps are per twice-daily administration)",
            CELLCEPT_LABEL,
        )
    if drug in CORTICOSTEROIDS and frequency not in (Frequency.ONCE_DAILY, Frequency.TWICE_DAILY):
        run.warn(
            "CORTICOSTEROID_NOT_DAILY",
            "frequency",
            f"{drug.value.capitalize()} is dosed per day (0.5–1 mg/kg/day); '{frequency.value}' "
            "is unusual: check the order",
            REFERENCE_GUIDELINE_2025,
        )
    if (
        drug is Drug.FOLIC_ACID
        and frequency is Frequency.ONCE_WEEKLY
        and weekday is None
        and "weekday" not in run.refused
    ):
        # Issue #15 item 13: without the day it cannot be checked against the MTX day.
        run.hard(
            "FOLIC_ACID_NO_WEEKDAY",
            "weekday",
            "Weekly folic acid needs its day of the week, so that it can be checked not to "
            f"fall on the methotrexate day ({EULAR_3E_2009.cite()})",
            BSR_2017,
        )


def _check_tablet_strengths(
    run: _Run,
    given: Iterable[Decimal | int | float | str] | None,
    product: Product | None,
    *,
    child: bool = False,
    override: str = "",
) -> frozenset[Decimal] | None:
    """Methotrexate tablet strengths on the prescription; ``None`` when unknown/refused."""
    if given is None:
        if product is None or product.kind is not ProductKind.TABLET:
            return None
        derived = frozenset({product.strength_mg})
        _warn_10mg(run, derived, child=child, override=override)
        return derived
    strengths: set[Decimal] = set()
    items: list[object]
    if isinstance(given, str | Decimal | int | float):
        items = [given]  # a single strength, not an iterable of characters
    else:
        try:
            items = list(given)
        except TypeError:
            items = [given]
    for item in items:
        value = run.number(
            item, "tablet_strengths", "INVALID_TABLET_STRENGTH", "Tablet strength", NPSA_2004
        )
        if value is None:
            return None
        strengths.add(value)
    if not strengths:
        return None
    if product is not None and (
        product.kind is not ProductKind.TABLET or product.strength_mg not in strengths
    ):
        run.hard(
            "FORMULATION_STRENGTH_MISMATCH",
            "tablet_strengths",
            f"Tablet strengths {', '.join(_fmt(s) + ' mg' for s in sorted(strengths))} do not "
            f"match the product {product.label}",
            NPSA_2004,
        )
    unknown = sorted(strengths - MTX_TABLET_STRENGTHS_MG)
    if unknown:
        run.hard(
            "MTX_UNKNOWN_TABLET_STRENGTH",
            "tablet_strengths",
            f"{', '.join(_fmt(s) + ' mg' for s in unknown)}: not a methotrexate tablet strength "
            "(2.5 mg and 10 mg exist)",
            UK_SMPC_MTX_TABLETS,
        )
    if len(strengths) > 1:
        run.hard(
            "MTX_MULTIPLE_TABLET_STRENGTHS",
            "tablet_strengths",
            "One methotrexate tablet strength per prescription (2.5 mg preferred): mixing "
            f"{' and '.join(_fmt(s) + ' mg' for s in sorted(strengths))} tablets causes "
            "tablet-count overdoses",
            NPSA_2004,
        )
    frozen = frozenset(strengths)
    _warn_10mg(run, frozen, child=child, override=override)
    return frozen if len(frozen) == 1 and not unknown else None


def _warn_10mg(
    run: _Run, strengths: frozenset[Decimal], *, child: bool = False, override: str = ""
) -> None:
    if Decimal(10) in strengths and child:
        # Issue #15 item 3: a child's dose is small; a 10 mg tablet taken for a 2.5 mg one is a
        # fourfold overdose. Refused unless a clinician records a reason.
        what = (
            "10 mg methotrexate tablets for a child: use 2.5 mg tablets or an oral solution "
            f"(2 or 2.5 mg/mL); 10 mg tablets have been taken in error for 2.5 mg "
            f"({BSR_2017.cite()})"
        )
        if override:
            run.warn(
                "MTX_10MG_TABLETS_CHILD_OVERRIDDEN",
                "formulation",
                f"{what}. Override recorded with reason: {override!r}",
                NPSA_2004,
                overridable=True,
            )
        else:
            run.hard(
                "MTX_10MG_TABLETS_CHILD",
                "formulation",
                f"{what}; a clinician may override with a recorded reason",
                NPSA_2004,
                overridable=True,
            )
    elif Decimal(10) in strengths:
        run.warn(
            "MTX_10MG_TABLETS",
            "formulation",
            "Prefer 2.5 mg methotrexate tablets only: 10 mg tablets look alike and have been "
            f"taken in error for 2.5 mg ({BSR_2017.cite()})",
            NPSA_2004,
        )


def _check_deliverable(
    run: _Run, dose: Decimal, product: Product | None, strengths: frozenset[Decimal] | None
) -> None:
    if product is None:
        return
    if product.drug is Drug.METHOTREXATE and product.kind is ProductKind.TABLET:
        if strengths is None:
            return  # several or unknown strengths: refused above
        (strength,) = strengths
        if dose % strength != 0:
            run.hard(
                "DOSE_NOT_DELIVERABLE",
                "dose_mg",
                f"{_fmt(dose)} mg is not a whole number of {_fmt(strength)} mg tablets "
                "(tablets are not halved)",
                product.source,
            )
        return
    if not is_deliverable(product, dose):
        if product.kind is ProductKind.PEN:
            how = (
                "a stocked pen strength ("
                + ", ".join(_fmt(s) for s in product.pen_strengths_mg)
                + " mg)"
            )
        elif product.is_liquid:
            how = f"a volume in 0.1 mL steps of {product.label}"
        else:
            how = f"a whole number of {product.label}s"
        run.hard(
            "DOSE_NOT_DELIVERABLE",
            "dose_mg",
            f"{_fmt(dose)} mg is not {how}",
            product.source,
        )


def _check_companions(
    run: _Run,
    drug: Drug,
    frequency: Frequency | None,
    weekday: Weekday | None,
    dose: Decimal | None,
    others: Sequence[ActivePrescription],
) -> None:
    parsed = [
        (
            _quiet_code(Drug, o.drug),
            _quiet_code(Frequency, o.frequency),
            _quiet_code(Weekday, o.weekday),
        )
        for o in others
    ]
    if drug in (Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL) and any(
        d is drug for d, _, _ in parsed
    ):
        run.hard(
            "DUPLICATE_ACTIVE_PRESCRIPTION",
            "drug",
            f"The patient already has an active {drug.value} prescription: stop or replace it "
            "first (two active prescriptions double the dose)",
            NPSA_2004 if drug is Drug.METHOTREXATE else CELLCEPT_LABEL,
        )
    if drug is Drug.METHOTREXATE:
        folic = [(f, w) for d, f, w in parsed if d is Drug.FOLIC_ACID]
        if not folic:
            run.warn(
                "FOLIC_ACID_MISSING",
                "drug",
                "No folic acid prescribed with methotrexate: give at least 5 mg/week, not on "
                f"the methotrexate day, or 1 mg daily except that day ({EULAR_3E_2009.cite()})",
                BSR_2017,
            )
        elif weekday is not None and any(
            f is Frequency.ONCE_WEEKLY and w is weekday for f, w in folic
        ):
            _warn_folic_same_day(run, weekday)
    elif drug is Drug.FOLIC_ACID and frequency is Frequency.ONCE_WEEKLY:
        if weekday is not None and any(
            d is Drug.METHOTREXATE and w is weekday for d, _, w in parsed
        ):
            _warn_folic_same_day(run, weekday)
        if dose is not None and dose < FOLIC_ACID_MIN_MG_PER_WEEK:
            run.warn(
                "FOLIC_ACID_LOW_DOSE",
                "dose_mg",
                f"Folic acid {_fmt(dose)} mg once weekly is below the {FOLIC_ACID_MIN_MG_PER_WEEK}"
                f" mg/week recommended with methotrexate ({EULAR_3E_2009.cite()})",
                BSR_2017,
            )


def _warn_folic_same_day(run: _Run, weekday: Weekday) -> None:
    run.warn(
        "FOLIC_ACID_ON_MTX_DAY",
        "weekday",
        f"Weekly folic acid and methotrexate are both on {weekday_plural(weekday)}: folic acid "
        f"should not be taken on the methotrexate day ({EULAR_3E_2009.cite()})",
        BSR_2017,
    )


def _check_measurement(
    run: _Run, patient: _Patient, drug: Drug, basis: DoseBasis | None
) -> _Measured:
    """Validate the latest weight/height; returns what can be used for dose checks."""
    ctx = patient.ctx
    weight_based = basis in (DoseBasis.MG_PER_KG, DoseBasis.MG_PER_M2)
    m = patient.measurement
    if m is None:
        if weight_based:
            run.hard(
                "MEASUREMENT_MISSING",
                "measurement",
                "The dose is weight- or BSA-based but there is no weight/height on record: "
                "measure the patient before prescribing",
                PROJECT_RULE,
            )
        return _Measured(None, None)
    if not isinstance(m.measured_on, date):
        run.hard("INVALID_PATIENT_CONTEXT", "measurement", "Measurement has no date", PROJECT_RULE)
        return _Measured(None, None)
    if m.measured_on > ctx.today:
        run.hard(
            "MEASUREMENT_IN_FUTURE",
            "measurement",
            f"Measurement dated {m.measured_on.isoformat()} is after today: check the entry",
            PROJECT_RULE,
        )
        return _Measured(None, None)
    try:
        check_plausible(m.weight_kg, m.height_cm, ctx.birth_date, m.measured_on)
    except ClinicalInputError as exc:
        run.hard(
            "MEASUREMENT_IMPLAUSIBLE",
            exc.field,
            f"Latest measurement refused: {exc.reason}",
            PROJECT_RULE,
        )
        return _Measured(None, None)
    weight = None if m.weight_kg is None else decimal_input(m.weight_kg, "weight_kg")
    height = None if m.height_cm is None else decimal_input(m.height_cm, "height_cm")
    if weight_based and weight is None:
        run.hard(
            "MEASUREMENT_MISSING",
            "weight_kg",
            "No weight on record for a weight-based dose",
            PROJECT_RULE,
        )
    if basis is DoseBasis.MG_PER_M2 and height is None:
        run.hard(
            "MEASUREMENT_MISSING",
            "height_cm",
            "No height on record for a dose in mg/m² (BSA needs it)",
            PROJECT_RULE,
        )
    if weight_based or patient.child:
        under_2 = patient.age_years < 2
        max_age = ctx.measurement_max_age_days_under_2 if under_2 else ctx.measurement_max_age_days
        days = (ctx.today - m.measured_on).days
        if days > max_age:
            run.warn(
                "MEASUREMENT_STALE",
                "measurement",
                f"Weight/height is {days} days old (more than {max_age} days"
                f"{' for a child under 2' if under_2 else ''}): re-measure before "
                "relying on a weight- or BSA-based dose",
                PROJECT_RULE,
            )
    bsa = None
    if weight is not None and height is not None:
        bsa = compute_bsa(weight, height, ctx.bsa_formula).value_m2
    return _Measured(weight, bsa)


def _check_dose(
    run: _Run,
    draft: PrescriptionDraft,
    patient: _Patient,
    drug: Drug,
    dose: Decimal,
    basis: DoseBasis | None,
    amount: Decimal | None,
    measured: _Measured,
    product: Product | None,
) -> None:
    override = (draft.override_reason or "").strip()
    cap = applicable_cap(
        drug,
        diagnosis=patient.diagnosis,
        age_years=patient.age_years,
        weight_kg=measured.weight_kg,
        bsa_m2=measured.bsa_m2,
        gfr=None,  # renal limits are their own checks below
    )
    capped = False
    if cap is not None:
        if dose > cap.cap_mg:
            capped = True
            what = (
                f"{_fmt(dose)} mg is above the {cap.rule.description} "
                f"(cap {_fmt(cap.cap_mg)} mg per {cap.period.value})"
            )
            if override:
                run.warn(
                    "DOSE_ABOVE_CAP_OVERRIDDEN",
                    "dose_mg",
                    f"{what}. Override recorded with reason: {override!r}",
                    cap.rule.source,
                    overridable=True,
                )
            else:
                run.hard(
                    "DOSE_ABOVE_CAP",
                    "dose_mg",
                    f"{what}; a clinician may override with a recorded reason",
                    cap.rule.source,
                    overridable=True,
                )
        if cap.unchecked:
            run.warn(
                "CAP_NOT_FULLY_CHECKED",
                "measurement",
                f"Cap limit(s) not checked for lack of a measurement: {', '.join(cap.unchecked)}",
                cap.rule.source,
            )
    if drug is Drug.METHOTREXATE and dose > MTX_ABSOLUTE_MAX_MG_PER_WEEK:
        run.hard(
            "MTX_ABOVE_ABSOLUTE_MAX",
            "dose_mg",
            f"{_fmt(dose)} mg/week is above {_fmt(MTX_ABSOLUTE_MAX_MG_PER_WEEK)} mg/week, the "
            "highest weekly cap of any non-oncology indication (JDM, SHARE 2017): no override. "
            "A methotrexate overdose for a non-cancer indication is a Never Event",
            NHS_NEVER_EVENTS_2018,
        )
    if patient.child and drug in (Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL) and not capped:
        # Issue #15 item 1: the child's ceiling for the indication applies whatever the basis.
        limit = paediatric_limit(
            drug,
            weight_kg=measured.weight_kg,
            bsa_m2=measured.bsa_m2,
            diagnosis=patient.diagnosis,
        )
        if limit is None:
            rule = paediatric_rules(drug, patient.diagnosis)[0]
            need = (
                "height (BSA)"
                if paediatric_needs(drug, patient.diagnosis) == "height_cm"
                else "weight"
            )
            run.warn(
                "PAEDIATRIC_LIMIT_UNCHECKED",
                "measurement",
                f"No current {need} on record: the paediatric ceiling ({rule.description}) "
                "could not be checked",
                rule.source,
            )
        elif dose > limit.accepted_mg:
            adult_dose = ": was an adult dose used?" if basis in (None, DoseBasis.FIXED) else ""
            what = (
                f"Child (age {patient.age_years}): {_fmt(dose)} mg is above the "
                f"{limit.explanation}{adult_dose}"
            )
            if override:
                run.warn(
                    "PAEDIATRIC_MAX_OVERRIDDEN",
                    "dose_mg",
                    f"{what}. Override recorded with reason: {override!r}",
                    limit.rule.source,
                    overridable=True,
                )
            else:
                run.hard(
                    "PAEDIATRIC_MAX_EXCEEDED",
                    "dose_mg",
                    f"{what}; a clinician may override with a recorded reason",
                    limit.rule.source,
                    overridable=True,
                )
    if amount is not None and basis in (DoseBasis.MG_PER_KG, DoseBasis.MG_PER_M2):
        factor = measured.weight_kg if basis is DoseBasis.MG_PER_KG else measured.bsa_m2
        if factor is not None:
            expected = amount * factor
            half_step = Decimal(0)
            if product is not None and product.kind is not ProductKind.PEN:
                step = product.strength_mg / (10 if product.is_liquid else 1)
                half_step = step / 2
            allowed = max(expected * (1 + BASIS_MISMATCH_FRACTION), expected + half_step)
            if dose > allowed:
                unit = "mg/kg" if basis is DoseBasis.MG_PER_KG else "mg/m²"
                run.warn(
                    "DOSE_BASIS_MISMATCH",
                    "dose_mg",
                    f"{_fmt(dose)} mg is more than {_fmt(amount)} {unit} gives for this patient "
                    f"({_fmt(expected.quantize(Decimal('0.01')))} mg): was the amount entered "
                    "as mg?",
                    PROJECT_RULE,
                )


def _check_renal(
    run: _Run, patient: _Patient, drug: Drug, dose: Decimal | None, override_reason: str | None
) -> None:
    renal = patient.renal
    if drug is Drug.METHOTREXATE:
        if renal is None:
            run.warn(
                "RENAL_FUNCTION_UNKNOWN",
                "renal",
                "No eGFR/creatinine clearance on record: methotrexate is contraindicated below "
                "30 mL/min; check renal function before prescribing",
                UK_SMPC_MTX_TABLETS,
            )
            return
        label = f"{renal.kind.value.upper()} {_fmt(renal.value)} ({renal.measured_on.isoformat()})"
        if renal.value < MTX_RENAL_CONTRAINDICATED_BELOW:
            run.hard(
                "MTX_RENAL_CONTRAINDICATED",
                "renal",
                f"{label} is below 30 mL/min: methotrexate is contraindicated",
                UK_SMPC_MTX_TABLETS,
            )
        elif renal.value < MTX_RENAL_REDUCE_BELOW:
            run.warn(
                "MTX_RENAL_REDUCE",
                "renal",
                f"{label} is in the 30–59 mL/min band: consider a 50 % dose reduction. This band "
                "is UNVERIFIED (could not be checked against the primary text)",
                EU_INJECTABLE_SMPC,
            )
    elif (
        drug is Drug.MYCOPHENOLATE_MOFETIL
        and renal is not None
        and dose is not None
        and renal.value < MMF_RENAL_BELOW
        and dose > MMF_RENAL_MAX_MG
    ):
        what = (
            f"{renal.kind.value.upper()} {_fmt(renal.value)} is below 25: mycophenolate at "
            f"most 1 g twice daily, {_fmt(dose)} mg per dose is above it"
        )
        reason = (override_reason or "").strip()
        if reason:
            run.warn(
                "MMF_RENAL_MAX_OVERRIDDEN",
                "dose_mg",
                f"{what}. Override recorded with reason: {reason!r}",
                CELLCEPT_LABEL,
                overridable=True,
            )
        else:
            run.hard(
                "MMF_RENAL_MAX",
                "dose_mg",
                f"{what}; a clinician may override with a recorded reason",
                CELLCEPT_LABEL,
                overridable=True,
            )


def _check_dose_change(run: _Run, drug: Drug, dose: Decimal, previous: object) -> None:
    try:
        prev = decimal_input(previous, "previous_dose_mg")
    except ClinicalInputError:
        return
    change = (dose - prev) / prev
    if abs(change) > DOSE_CHANGE_WARNING_FRACTION:
        pct = (change * 100).quantize(Decimal(1))
        if drug is Drug.METHOTREXATE:
            basis = "methotrexate is usually increased by 5 mg every 2–4 weeks"
            source = EULAR_3E_2009
        elif drug is Drug.MYCOPHENOLATE_MOFETIL:
            basis = "mycophenolate is usually increased by 500 mg/day each week"
            source = NHS_DG_MMF
        else:
            basis = "check the new dose"
            source = PROJECT_RULE
        run.warn(
            "DOSE_CHANGE_GT_50_PERCENT",
            "dose_mg",
            f"Dose change of {pct:+} % in one step ({_fmt(prev)} → {_fmt(dose)} mg): {basis}. "
            f"Threshold 50 %: {PROJECT_RULE.cite()}",
            source,
        )


# --- issue #15: the reference guideline's treatment rules (REF §1) ---------------------------


def _latest_iga(assessments: Sequence[Assessment], on: date | None = None) -> Assessment | None:
    usable = [
        a
        for a in assessments
        if isinstance(a.assessed_on, date) and (on is None or a.assessed_on <= on)
    ]
    return max(usable, key=lambda a: a.assessed_on, default=None)


def _in_remission(latest: Assessment | None) -> bool:
    return latest is not None and latest.iga <= IGA_REMISSION_MAX


def _on_corticosteroid(others: Sequence[ActivePrescription]) -> Drug | None:
    for o in others:
        d = _quiet_code(Drug, o.drug)
        if d in CORTICOSTEROIDS:
            return d
    return None


def _liver_normalised(stop: LiverStop) -> tuple[bool, str]:
    """Whether ALT/AST are back within the ULN since the confirmed rise: the latest of each
    analyte measured since is at most its ULN, and at least one was measured."""
    latest: dict[str, LiverValue] = {}
    for v in stop.since:
        if v.measured_on > stop.confirmed_on and (
            v.analyte not in latest or v.measured_on >= latest[v.analyte].measured_on
        ):
            latest[v.analyte] = v
    if not latest:
        return False, "no ALT/AST result since"
    high = [v for v in latest.values() if v.value > v.uln]
    if high:
        return False, "; ".join(
            f"{v.analyte.upper()} {_fmt(v.value)} U/L on {v.measured_on.isoformat()} is still "
            f"above its ULN {_fmt(v.uln)}"
            for v in sorted(high, key=lambda v: v.analyte)
        )
    return True, ", ".join(
        f"{v.analyte.upper()} {_fmt(v.value)} U/L on {v.measured_on.isoformat()}"
        for v in sorted(latest.values(), key=lambda v: v.analyte)
    )


def _check_treatment_rules(
    run: _Run,
    draft: PrescriptionDraft,
    patient: _Patient,
    drug: Drug,
    dose: Decimal,
    frequency: Frequency | None,
    weekday: Weekday | None,
    measured: _Measured,
) -> None:
    ctx = patient.ctx
    change = (draft.change or "").strip().lower() or None
    if drug is Drug.METHOTREXATE and change in _STARTS and ctx.liver_stop is not None:
        stop = ctx.liver_stop
        normal, detail = _liver_normalised(stop)
        lower = stop.dose_mg is not None and dose < stop.dose_mg
        if not (normal and lower):
            then = "unknown" if stop.dose_mg is None else f"{_fmt(stop.dose_mg)} mg/week"
            problems = []
            if not normal:
                problems.append(f"ALT/AST have not normalised ({detail})")
            if not lower:
                problems.append(f"{_fmt(dose)} mg/week is not lower than the dose then ({then})")
            run.warn(
                "MTX_RESTART_AFTER_LIVER_STOP",
                "dose_mg",
                f"ALT/AST were confirmed above 3× ULN on {stop.confirmed_on.isoformat()}: "
                "methotrexate is stopped and may be restarted at a LOWER dose once values "
                f"normalise: {'; '.join(problems)} ({EULAR_3E_2009.cite()})",
                REFERENCE_GUIDELINE_2025,
            )
    if (
        drug is Drug.METHOTREXATE
        and change == "start"
        and patient.diagnosis in DERMATOMYOSITIS_DIAGNOSES
        and not _in_remission(_latest_iga(ctx.assessments, ctx.today))
        and _on_corticosteroid(ctx.other_prescriptions) is None
    ):
        run.warn(
            "MTX_DERMATOMYOSITIS_NO_CORTICOSTEROID",
            "drug",
            "Active dermatomyositis: methotrexate is started as combination therapy initially, "
            "with prednisone/prednisolone 0.5–1 mg/kg/day; no corticosteroid is prescribed",
            REFERENCE_GUIDELINE_2025,
        )
    if (
        drug is Drug.MYCOPHENOLATE_MOFETIL
        and change == "start"
        and ctx.first_course
        and not patient.child
        and dose > MMF_START_MG
    ):
        run.warn(
            "MMF_START_ABOVE_500",
            "dose_mg",
            f"A first mycophenolate course starts at 500 mg twice daily and is titrated (to "
            f"1000–1500 mg twice daily); {_fmt(dose)} mg twice daily is above the start dose",
            REFERENCE_GUIDELINE_2025,
        )
    if drug in CORTICOSTEROIDS and measured.weight_kg is not None:
        per_day = dose * (2 if frequency is Frequency.TWICE_DAILY else 1)
        most = CORTICOSTEROID_MAX_MG_PER_KG_DAY * measured.weight_kg
        if per_day > most:
            run.warn(
                "CORTICOSTEROID_ABOVE_1_MG_PER_KG",
                "dose_mg",
                f"{_fmt(per_day)} mg/day is above 1 mg/kg/day ({_fmt(most)} mg for "
                f"{_fmt(measured.weight_kg)} kg): the reference dose is 0.5–1 mg/kg/day",
                REFERENCE_GUIDELINE_2025,
            )
    if drug is Drug.FOLIC_ACID and frequency is Frequency.ONCE_DAILY:
        mtx_days = [
            _quiet_code(Weekday, o.weekday)
            for o in ctx.other_prescriptions
            if _quiet_code(Drug, o.drug) is Drug.METHOTREXATE
        ]
        day = next((d for d in mtx_days if d is not None), None)
        which = f"({weekday_plural(day)})" if day is not None else ""
        run.warn(
            "FOLIC_ACID_DAILY_SKIP_MTX_DAY",
            "frequency",
            f"Daily folic acid: take it every day EXCEPT the methotrexate day {which}; write "
            f"that on the prescription ({EULAR_3E_2009.cite()})".replace(" )", ")"),
            BSR_2017,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StopDraft:
    """Stopping a treatment (issue #15): which drug, when, why, and when its course began."""

    drug: Drug | str
    stop_date: date
    end_reason: str | None = None  # TreatmentEndReason code
    course_start: date | None = None  # the first start of this treatment chain


def _add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def improvement_date(
    assessments: Sequence[Assessment], course_start: date | None, until: date
) -> date | None:
    """The first date after ``course_start`` (and up to ``until``) with improvement: an IGA at
    least 2 below the baseline (the latest on or before the start, else the first after it), or
    remission (IGA 0/1). REF §1, §7."""
    rows = sorted(
        (a for a in assessments if isinstance(a.assessed_on, date) and a.assessed_on <= until),
        key=lambda a: a.assessed_on,
    )
    if not rows:
        return None
    before = [a for a in rows if course_start is None or a.assessed_on <= course_start]
    baseline = before[-1] if before else rows[0]
    for a in rows:
        if a.assessed_on <= baseline.assessed_on:
            continue
        if a.iga <= IGA_REMISSION_MAX or baseline.iga - a.iga >= IGA_IMPROVEMENT_DROP:
            return a.assessed_on
    return None


def check_stop(draft: StopDraft, ctx: PatientContext) -> list[CheckResult]:
    """WARNINGs when stopping a treatment goes against the reference guideline (REF §1):

    - mycophenolate stopped while a corticosteroid is current, or with the last IGA not in
      remission (IGA 0/1) or none recorded ("never stop it while the patient is still on
      corticosteroids or has active disease");
    - methotrexate stopped within 12 months of improvement (an IGA drop of >= 2, or remission:
      IGA 0/1 or a stop for remission) ("maintained at least 12 months after improvement").

    A stop for an adverse event raises none of them: harm is a reason to stop whatever the rule.
    Never raises: unknown codes give no warning.
    """
    run = _Run()
    drug = _quiet_code(Drug, draft.drug)
    if drug is None or not isinstance(draft.stop_date, date):
        return []
    reason = (draft.end_reason or "").strip().lower()
    if reason == "adverse_event":
        return []
    if drug is Drug.MYCOPHENOLATE_MOFETIL:
        steroid = _on_corticosteroid(ctx.other_prescriptions)
        if steroid is not None:
            run.warn(
                "MMF_STOP_ON_CORTICOSTEROID",
                "status",
                f"Mycophenolate is stopped while {steroid.value} is current: never stop it "
                "while the patient is still on corticosteroids; consider withdrawal only after a "
                "year of remission off corticosteroids",
                REFERENCE_GUIDELINE_2025,
            )
        latest = _latest_iga(ctx.assessments, draft.stop_date)
        if not _in_remission(latest):
            what = (
                "no IGA is recorded, so remission is not documented"
                if latest is None
                else f"the last IGA is {latest.iga} ({latest.assessed_on.isoformat()}), not "
                "remission (0/1)"
            )
            run.warn(
                "MMF_STOP_ACTIVE_DISEASE",
                "status",
                f"Mycophenolate is stopped but {what}: never stop it while the disease is active",
                REFERENCE_GUIDELINE_2025,
            )
    elif drug is Drug.METHOTREXATE:
        improved = improvement_date(ctx.assessments, draft.course_start, draft.stop_date)
        if reason == "remission" and improved is None:
            improved = draft.stop_date
        if improved is not None:
            keep_until = _add_months(improved, MTX_KEEP_MONTHS_AFTER_IMPROVEMENT)
            if draft.stop_date < keep_until:
                run.warn(
                    "MTX_STOP_WITHIN_12_MONTHS_OF_IMPROVEMENT",
                    "status",
                    f"Methotrexate is stopped {(draft.stop_date - improved).days} days after "
                    f"improvement ({improved.isoformat()}): it is kept at least 12 months after "
                    f"improvement before tapering (until {keep_until.isoformat()})",
                    REFERENCE_GUIDELINE_2025,
                )
    return run.results
