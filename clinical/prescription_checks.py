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
- Project defaults (configurable, not guideline numbers; source ``PROJECT_RULE``): measurement
  age 90 days (30 days under age 2), a dose change > 50 % in one step, a dose more than 10 %
  above what its stated basis gives.

Boundaries: a value exactly at a limit is allowed (cap 25 mg OK, 25.01 refused; eGFR exactly 30
is in the 30–59 warning band; a measurement exactly 90 days old is current).

Public API (stable, called by the Django layer):

- ``PrescriptionDraft``, ``PatientContext``, ``Measurement``, ``RenalFunction``, ``RenalKind``,
  ``ActivePrescription`` (frozen dataclasses; drafts/contexts are keyword-only)
- ``check_prescription(draft, ctx) -> list[CheckResult]``
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
    EU_INJECTABLE_SMPC,
    EULAR_3E_2009,
    ISMP_TBP2,
    MHRA_DSU_2020,
    MTX_ABSOLUTE_MAX_MG_PER_WEEK,
    NHS_DG_MMF,
    NHS_NEVER_EVENTS_2018,
    NPSA_2004,
    PRODUCTS,
    UK_SMPC_MTX_TABLETS,
    Product,
    ProductKind,
    applicable_cap,
    is_deliverable,
    paediatric_limit,
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
        "CHILD_ADULT_DOSE",
        "DOSE_CHANGE_GT_50_PERCENT",
    }
)


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
    if drug is Drug.METHOTREXATE:
        strengths = _check_tablet_strengths(run, draft.tablet_strengths, product)
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
    if drug is Drug.MYCOPHENOLATE_MOFETIL and frequency is not Frequency.TWICE_DAILY:
        run.warn(
            "MMF_NOT_TWICE_DAILY",
            "frequency",
            f"Mycophenolate mofetil is given twice daily, not '{frequency.value}'; its caps "
            "are per twice-daily dose",
            CELLCEPT_LABEL,
        )


def _check_tablet_strengths(
    run: _Run,
    given: Iterable[Decimal | int | float | str] | None,
    product: Product | None,
) -> frozenset[Decimal] | None:
    """Methotrexate tablet strengths on the prescription; ``None`` when unknown/refused."""
    if given is None:
        if product is None or product.kind is not ProductKind.TABLET:
            return None
        derived = frozenset({product.strength_mg})
        _warn_10mg(run, derived)
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
    _warn_10mg(run, frozen)
    return frozen if len(frozen) == 1 and not unknown else None


def _warn_10mg(run: _Run, strengths: frozenset[Decimal]) -> None:
    if Decimal(10) in strengths:
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
    if patient.child and basis in (None, DoseBasis.FIXED) and not capped:
        limit = paediatric_limit(drug, weight_kg=measured.weight_kg, bsa_m2=measured.bsa_m2)
        if limit is not None and dose > limit.limit_mg:
            run.warn(
                "CHILD_ADULT_DOSE",
                "dose_mg",
                f"Child (age {patient.age_years}) on a fixed dose of {_fmt(dose)} mg, above the "
                f"{limit.explanation}: was an adult dose used?",
                limit.rule.source,
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
