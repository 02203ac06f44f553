"""Prescription writes. A prescription is never edited: every change is a new row superseding
the current one, with who, when and why (`Prescription.supersedes`).

Every write runs the clinical checks (`clinical.prescription_checks`): a hard stop refuses the
save with `ValidationError({field: [message (code)]})`; warnings are returned and stored on the
row. The same functions serve the admin, the API and the demo loader, so no door skips a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from clinical import codes
from clinical.types import CheckResult
from patients.models import LabResult, Patient, Prescription

MONITORED_DRUGS = (codes.Drug.METHOTREXATE.value, codes.Drug.MYCOPHENOLATE_MOFETIL.value)


@dataclass(frozen=True)
class PrescriptionOutcome:
    prescription: Prescription
    warnings: list[CheckResult]


def warning_dict(w: CheckResult) -> dict:
    return {"code": w.code, "message": w.message, "source": w.source.cite(), "field": w.field}


def current_prescriptions(patient: Patient) -> list[Prescription]:
    """The head of every treatment chain (nothing supersedes it), active, held or stopped."""
    return list(
        Prescription.objects.filter(patient=patient, superseded_by__isnull=True).order_by("id")
    )


def _assessments(patient: Patient):
    from clinical.prescription_checks import Assessment

    return tuple(Assessment(a.assessed_on, a.iga) for a in patient.assessments.all())


def _liver_stop(patient: Patient):
    """The latest confirmed ALT/AST > 3× ULN (issue #15 item 8): its date, the methotrexate dose
    then, and every ALT/AST since with the ULN it is read against (the lab's range, else the
    protocol's configured default for age and sex, as the lab rules do)."""
    from clinical.prescription_checks import LiverStop, LiverValue
    from clinical.protocols import default_uln
    from clinical.units import conversion_factor
    from schedules.models import Alert
    from schedules.services import protocol_for

    alert = (
        Alert.objects.filter(
            patient=patient, rule="LIVER_GT_3X_ULN_CONFIRMED", lab_result__isnull=False
        )
        .exclude(status=Alert.Status.SUPERSEDED)
        .select_related("lab_result")
        .order_by("-lab_result__collected_at", "-id")
        .first()
    )
    if alert is None:
        return None
    tz = patient.clinic.tz
    confirmed_at = alert.lab_result.collected_at
    confirmed_on = confirmed_at.astimezone(tz).date()
    then = (
        Prescription.objects.filter(
            patient=patient,
            drug=codes.Drug.METHOTREXATE.value,
            status=codes.PrescriptionStatus.ACTIVE.value,
            start_date__lte=confirmed_on,
        )
        .order_by("-start_date", "-id")
        .first()
    )
    thresholds = protocol_for(patient, codes.Drug.METHOTREXATE, None).thresholds
    since = []
    for r in LabResult.objects.filter(
        patient=patient,
        analyte__in=(codes.Analyte.ALT.value, codes.Analyte.AST.value),
        evaluable=True,
        collected_at__gt=confirmed_at,
    ).order_by("collected_at"):
        on = r.collected_at.astimezone(tz).date()
        factor = conversion_factor(codes.Analyte(r.analyte), r.reported_unit)
        if r.reference_high is not None and factor is not None and r.reference_high > 0:
            uln = r.reference_high * factor
        else:
            age = (on.year - patient.birth_date.year) - (
                (on.month, on.day) < (patient.birth_date.month, patient.birth_date.day)
            )
            uln = default_uln(
                thresholds, codes.Analyte(r.analyte), codes.Sex(patient.sex), age
            ).value
        since.append(LiverValue(r.analyte, on, r.value, uln))
    return LiverStop(
        confirmed_on=confirmed_on,
        dose_mg=then.dose_mg if then is not None else None,
        since=tuple(since),
    )


def _context(
    patient: Patient, *, previous: Prescription | None, today: date, row: Prescription | None = None
):
    """What the checks need to know about the patient, read from the database."""
    from clinical.prescription_checks import (
        ActivePrescription,
        Measurement,
        PatientContext,
        RenalFunction,
    )

    latest = patient.measurements.current().order_by("-measured_on", "-id").first()
    renal = renal_reading_for(patient, today)
    others = [
        ActivePrescription(
            drug=p.drug, frequency=p.frequency, weekday=p.weekday or None, dose_mg=p.dose_mg
        )
        for p in current_prescriptions(patient)
        if p.status == codes.PrescriptionStatus.ACTIVE.value
        and (previous is None or p.pk != previous.pk)
    ]
    clinic = patient.clinic
    return PatientContext(
        birth_date=patient.birth_date,
        sex=codes.Sex(patient.sex),
        diagnosis=codes.Diagnosis(patient.diagnosis),
        today=today,
        measurement=(
            Measurement(latest.measured_on, latest.weight_kg, latest.height_cm) if latest else None
        ),
        renal=(RenalFunction(value=renal.value, measured_on=renal.measured_on) if renal else None),
        other_prescriptions=tuple(others),
        previous_dose_mg=previous.dose_mg if previous is not None else None,
        measurement_max_age_days=clinic.measurement_max_age_days,
        measurement_max_age_days_under_2=clinic.measurement_max_age_days_under_2,
        bsa_formula=codes.BSAFormula(clinic.bsa_formula),
        # issue #15
        assessments=_assessments(patient),
        liver_stop=(
            _liver_stop(patient)
            if row is not None
            and row.drug == codes.Drug.METHOTREXATE.value
            and row.change in (Prescription.Change.START, Prescription.Change.RESTART)
            else None
        ),
        first_course=(
            row is not None
            and not Prescription.objects.filter(patient=patient, drug=row.drug)
            .exclude(pk=row.pk)
            .exists()
        ),
    )


# --- issue #15: renal function measured or estimated, censored, not current ------------------
def renal_reading_for(patient: Patient, today: date):
    """The eGFR the checks use (`clinical.renal.renal_reading`): the latest eGFR or creatinine,
    censored values by their bound, a creatinine's eGFR estimated (CKD-EPI 2021; bedside
    Schwartz under 18 with the latest height)."""
    from clinical.renal import RenalResult, renal_reading
    from clinical.units import normalise

    tz = patient.clinic.tz
    results = []
    for analyte, value, unit, at in LabResult.objects.filter(
        patient=patient, analyte__in=(codes.Analyte.EGFR.value, codes.Analyte.CREATININE.value)
    ).values_list("analyte", "reported_value", "reported_unit", "collected_at"):
        n = normalise(codes.Analyte(analyte), value, unit)
        number = n.value if n.evaluable else n.bound
        if number is None:
            continue  # unreadable or an unknown unit: never guessed
        results.append(
            RenalResult(
                codes.Analyte(analyte),
                number,
                at.astimezone(tz).date(),
                None if n.evaluable else n.comparator,
                n.display(),
            )
        )
    clinic = patient.clinic
    return renal_reading(
        results,
        birth_date=patient.birth_date,
        sex=codes.Sex(patient.sex),
        heights=[
            (on, h)
            for on, h in patient.measurements.current().values_list("measured_on", "height_cm")
            if h is not None
        ],
        today=today,
        max_age_days=clinic.measurement_max_age_days,
        max_age_days_under_2=clinic.measurement_max_age_days_under_2,
    )


def renal_notes(patient: Patient, drug: str, today: date) -> list[CheckResult]:
    """Warnings about the renal result the checks used: estimated, censored without deciding,
    or not current (a warning, not silence). Each names its source."""
    from clinical.prescription_checks import (
        MMF_RENAL_BELOW,
        MTX_RENAL_CONTRAINDICATED_BELOW,
        MTX_RENAL_REDUCE_BELOW,
    )
    from clinical.renal import RENAL_CENSORED, RENAL_STALENESS

    if drug not in MONITORED_DRUGS:
        return []
    reading = renal_reading_for(patient, today)
    if reading is None:
        return []
    out: list[CheckResult] = []
    level = codes.CheckLevel.WARNING
    on = reading.measured_on.isoformat()
    if reading.estimated and reading.source is not None:
        out.append(
            CheckResult(
                "RENAL_EGFR_ESTIMATED",
                level,
                f"No eGFR was reported on {on}: the renal checks used {reading.text}",
                reading.source,
                field="renal",
            )
        )
    if reading.comparator:
        limits = (
            (MTX_RENAL_CONTRAINDICATED_BELOW, MTX_RENAL_REDUCE_BELOW)
            if drug == codes.Drug.METHOTREXATE.value
            else (MMF_RENAL_BELOW,)
        )
        b, c = reading.value, reading.comparator
        undecided = [
            lim
            for lim in limits
            if (c in ("<", "<=") and b > lim) or (c == ">" and b < lim) or (c == ">=" and b < lim)
        ]
        if undecided:
            out.append(
                CheckResult(
                    "RENAL_RESULT_CENSORED",
                    level,
                    f"The renal result of {on} is censored ({reading.text}): its bound does not "
                    f"tell whether the eGFR is below "
                    f"{' or '.join(str(x) for x in undecided)} mL/min; the checks used the bound "
                    f"{reading.shown()}. Ask the laboratory for the value before prescribing",
                    RENAL_CENSORED,
                    field="renal",
                )
            )
    if not reading.current:
        out.append(
            CheckResult(
                "RENAL_NOT_CURRENT",
                level,
                f"The latest renal result ({reading.text}, {on}) is {reading.age_days} days old, "
                f"older than {reading.max_age_days} days: it is not current. Check renal "
                "function before relying on it",
                RENAL_STALENESS,
                field="renal",
            )
        )
    return out


def _check(row: Prescription, *, previous: Prescription | None) -> list[CheckResult]:
    """Run the clinical checks on an unsaved row; raise on a hard stop, return the warnings."""
    from clinical.prescription_checks import PrescriptionDraft, check_prescription, hard_stops

    if row.status != codes.PrescriptionStatus.ACTIVE.value:
        return []  # a hold or stop gives nothing: nothing to check
    draft = PrescriptionDraft(
        drug=row.drug,
        dose_mg=row.dose_mg,
        frequency=row.frequency or None,
        weekday=row.weekday or None,
        route=row.route or None,
        formulation=row.formulation or None,
        start_date=row.start_date,
        basis=row.basis or None,
        amount=row.basis_amount,
        override_reason=(row.override_reason or "").strip() or None,
        change=row.change,
    )
    ctx = _context(row.patient, previous=previous, today=row.patient.clinic.today(), row=row)
    results = check_prescription(draft, ctx)
    stops = hard_stops(results)
    if stops:
        errors: dict[str, list[ValidationError]] = {}
        for s in stops:
            errors.setdefault(s.field or "__all__", []).append(
                ValidationError(f"{s.message} [{s.code}; {s.source.cite()}]", code=s.code)
            )
        raise ValidationError(errors)
    notes = renal_notes(row.patient, row.drug, row.patient.clinic.today())  # issue #15
    return [r for r in results if r not in stops] + notes


def _save(row: Prescription, warnings: list[CheckResult]) -> PrescriptionOutcome:
    """Save a row that `_validated` has passed."""
    row.warnings = [warning_dict(w) for w in warnings]
    row.save()
    _after_change(row)
    return PrescriptionOutcome(row, warnings)


def _after_change(row: Prescription) -> None:
    """The monitoring plan depends on the prescription history: re-plan after commit."""
    from schedules.services import dispatch_replan

    dispatch_replan(row.patient_id)


def _dec(value, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except Exception as exc:
        raise ValidationError({field: f"{value!r} is not a number."}) from exc
    if not d.is_finite():
        raise ValidationError({field: "must be a finite number."})
    return d


def _start_row(
    *,
    patient: Patient,
    drug: str,
    dose_mg,
    frequency: str,
    weekday: str = "",
    route: str = "oral",
    formulation: str = "",
    start_date: date,
    basis: str = "",
    basis_amount=None,
    reason: str = "",
    override_reason: str = "",
    protocol: str = "",
    end_date: date | None = None,
    user=None,
) -> Prescription:
    row = Prescription(
        patient=patient,
        drug=drug,
        dose_mg=_dec(dose_mg, "dose_mg"),
        frequency=frequency,
        weekday=weekday or "",
        route=route or "oral",
        formulation=formulation or "",
        start_date=start_date,
        end_date=end_date,
        basis=basis or "",
        basis_amount=_dec(basis_amount, "basis_amount") if basis_amount not in (None, "") else None,
        reason=reason or "",
        override_reason=override_reason or "",
        protocol=protocol or "",
        status=codes.PrescriptionStatus.ACTIVE.value,
        change=Prescription.Change.START,
        created_by=_user(user),
    )
    current = [
        p
        for p in current_prescriptions(patient)
        if p.drug == drug and p.status != codes.PrescriptionStatus.STOPPED.value
    ]
    if current:
        raise ValidationError(
            {
                "drug": (
                    f"{patient} already has a current {row.get_drug_display().lower()} prescription "
                    f"({current[0]}); change its dose, hold, restart or stop it instead of starting another."
                )
            }
        )
    return row


def _validated(row: Prescription, *, previous: Prescription | None) -> list[CheckResult]:
    """Field validation and the clinical checks together, so every problem is reported at once
    and a clinical reason (e.g. "methotrexate is once weekly") comes before a generic one."""
    errors: dict[str, list[ValidationError]] = {}
    try:
        row.full_clean(exclude=["warnings", "supersedes"])
    except ValidationError as exc:
        errors = dict(exc.error_dict)
    try:
        warnings = _check(row, previous=previous)
    except ValidationError as exc:
        for field, errs in exc.error_dict.items():
            errors[field] = errs + errors.get(field, [])
        warnings = []
    if errors:
        raise ValidationError(errors)
    return warnings


def prescription_preview(**kwargs) -> list[CheckResult]:
    """Run every check of `prescription_start` without saving: raises on a hard stop."""
    return _validated(_start_row(**kwargs), previous=None)


@transaction.atomic
def prescription_start(**kwargs) -> PrescriptionOutcome:
    """Start a treatment (keyword arguments as `_start_row`). Hard stops raise ValidationError."""
    row = _start_row(**kwargs)
    return _save(row, _validated(row, previous=None))


def dose_from_basis(
    *,
    patient: Patient,
    drug: str,
    basis: str,
    amount,
    formulation: str = "",
    route: str = "",
    weekday: str = "",
    on_date: date | None = None,
    override_reason: str = "",
):
    """The calculator on the patient's latest measurement (`clinical.dosing.calculate_dose`),
    and latest eGFR (issue #15 item 5: the renal rules apply to the calculation too)."""
    from clinical.dosing import DoseRequest, calculate_dose
    from clinical.types import ClinicalInputError

    latest = patient.measurements.current().order_by("-measured_on", "-id").first()
    renal = (
        LabResult.objects.filter(patient=patient, analyte=codes.Analyte.EGFR.value, evaluable=True)
        .order_by("-collected_at")
        .first()
    )
    if latest is None and basis != codes.DoseBasis.FIXED.value:
        raise ValidationError(
            {"basis": "needs a weight (and height) measurement: record one first."}
        )
    try:
        return calculate_dose(
            DoseRequest(
                drug=drug,
                basis=basis,
                amount=_dec(amount, "basis_amount"),
                weight_kg=latest.weight_kg if latest else None,
                height_cm=latest.height_cm if latest else None,
                formula=codes.BSAFormula(latest.bsa_formula)
                if latest and latest.bsa_formula
                else None,
                birth_date=patient.birth_date,
                on_date=on_date or patient.clinic.today(),
                indication=patient.diagnosis,
                formulation=formulation or None,
                weekday=weekday or None,
                route=route or None,
                egfr=renal.value if renal is not None else None,
                override_reason=override_reason or None,
            )
        )
    except ClinicalInputError as exc:
        field = {"amount": "basis_amount"}.get(exc.field, exc.field)
        raise ValidationError({field: exc.reason}) from exc


def _successor(
    current: Prescription,
    *,
    change: str,
    status: str,
    effective_date: date,
    reason: str,
    user,
    **changes,
) -> Prescription:
    current = Prescription.objects.select_for_update().get(pk=current.pk)
    if not current.is_current:
        raise ValidationError(
            {"prescription": "has already been superseded; act on the current prescription."}
        )
    if not (reason or "").strip():
        raise ValidationError({"reason": "is required: say why (it is kept with the history)."})
    if effective_date < current.start_date:
        raise ValidationError(
            {
                "effective_date": f"is before the current prescription's start ({current.start_date})."
            }
        )
    row = Prescription(
        patient=current.patient,
        drug=current.drug,
        dose_mg=current.dose_mg,
        frequency=current.frequency,
        weekday=current.weekday,
        route=current.route,
        formulation=current.formulation,
        basis=current.basis,
        basis_amount=current.basis_amount,
        protocol=current.protocol,
        stable_marked_on=None,
        start_date=effective_date,
        status=status,
        change=change,
        supersedes=current,
        reason=reason.strip(),
        created_by=_user(user),
    )
    for name, value in changes.items():
        if value is not None:
            setattr(row, name, value)
    return row


@transaction.atomic
def prescription_change_dose(
    *,
    prescription: Prescription,
    dose_mg,
    effective_date: date,
    reason: str,
    user=None,
    basis: str | None = None,
    basis_amount=None,
    formulation: str | None = None,
    route: str | None = None,
    weekday: str | None = None,
    override_reason: str = "",
) -> PrescriptionOutcome:
    """A new dose (or route/formulation): the early monitoring phase restarts on an increase."""
    if prescription.status != codes.PrescriptionStatus.ACTIVE.value:
        raise ValidationError(
            {"status": f"is {prescription.status}: restart it before changing the dose."}
        )
    new_dose = _dec(dose_mg, "dose_mg")
    if new_dose > prescription.dose_mg:
        change = Prescription.Change.DOSE_INCREASE
    elif new_dose < prescription.dose_mg:
        change = Prescription.Change.DOSE_DECREASE
    elif (route and route != prescription.route) or (
        formulation and formulation != prescription.formulation
    ):
        change = Prescription.Change.ROUTE_CHANGE
    else:
        raise ValidationError({"dose_mg": "is the current dose: nothing changes."})
    row = _successor(
        prescription,
        change=change,
        status=codes.PrescriptionStatus.ACTIVE.value,
        effective_date=effective_date,
        reason=reason,
        user=user,
        dose_mg=new_dose,
        basis=basis,
        formulation=formulation,
        route=route,
        weekday=weekday,
        basis_amount=_dec(basis_amount, "basis_amount") if basis_amount not in (None, "") else None,
        override_reason=override_reason or "",
    )
    return _save(row, _validated(row, previous=prescription))


@transaction.atomic
def prescription_hold(
    *, prescription: Prescription, effective_date: date, reason: str, user=None
) -> PrescriptionOutcome:
    if prescription.status != codes.PrescriptionStatus.ACTIVE.value:
        raise ValidationError(
            {"status": f"is {prescription.status}: only an active prescription can be held."}
        )
    row = _successor(
        prescription,
        change=Prescription.Change.HOLD,
        status=codes.PrescriptionStatus.HELD.value,
        effective_date=effective_date,
        reason=reason,
        user=user,
    )
    return _save(row, _validated(row, previous=prescription))


@transaction.atomic
def prescription_restart(
    *,
    prescription: Prescription,
    effective_date: date,
    reason: str,
    user=None,
    dose_mg=None,
    override_reason: str = "",
) -> PrescriptionOutcome:
    """Restart after a hold (optionally at another dose, e.g. lower after raised liver tests)."""
    if prescription.status != codes.PrescriptionStatus.HELD.value:
        raise ValidationError(
            {"status": f"is {prescription.status}: only a held prescription can be restarted."}
        )
    row = _successor(
        prescription,
        change=Prescription.Change.RESTART,
        status=codes.PrescriptionStatus.ACTIVE.value,
        effective_date=effective_date,
        reason=reason,
        user=user,
        dose_mg=_dec(dose_mg, "dose_mg") if dose_mg not in (None, "") else None,
        override_reason=override_reason or "",
    )
    # Compare with the last active dose for the >50 % change check.
    last_active = next(
        (
            p
            for p in reversed(prescription.chain())
            if p.status == codes.PrescriptionStatus.ACTIVE.value
        ),
        None,
    )
    return _save(row, _validated(row, previous=last_active))


@transaction.atomic
def prescription_stop(
    *, prescription: Prescription, effective_date: date, reason: str, end_reason: str, user=None
) -> PrescriptionOutcome:
    if prescription.status == codes.PrescriptionStatus.STOPPED.value:
        raise ValidationError({"status": "is already stopped."})
    valid = {c.value for c in codes.TreatmentEndReason}
    if end_reason not in valid:
        raise ValidationError({"end_reason": f"must be one of {', '.join(sorted(valid))}."})
    row = _successor(
        prescription,
        change=Prescription.Change.STOP,
        status=codes.PrescriptionStatus.STOPPED.value,
        effective_date=effective_date,
        reason=reason,
        user=user,
        end_reason=end_reason,
        end_date=effective_date,
    )
    warnings = _validated(row, previous=prescription) + _stop_warnings(row)
    return _save(row, warnings)


def _stop_warnings(row: Prescription) -> list[CheckResult]:
    """The reference guideline's stopping rules (issue #15 item 12, REF §1): warnings only."""
    from clinical.prescription_checks import StopDraft, check_stop

    chain = row.supersedes.chain() if row.supersedes_id else []
    starts = [p.start_date for p in chain if p.change == Prescription.Change.START]
    ctx = _context(row.patient, previous=row.supersedes, today=row.patient.clinic.today())
    return check_stop(
        StopDraft(
            drug=row.drug,
            stop_date=row.start_date,
            end_reason=row.end_reason or None,
            course_start=min(starts) if starts else None,
        ),
        ctx,
    )


def _user(user):
    return user if getattr(user, "is_authenticated", False) else None
