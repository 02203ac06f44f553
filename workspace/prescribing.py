"""Prescribing with a preview: what the calculator and the checks say, before anything is saved.

The preview never re-implements a check. It calls the same services that save
(`patients.prescriptions`): a start through `prescription_preview` (no write), a dose change or
restart through the service itself inside a transaction that is always rolled back (its
on-commit re-plan is discarded with it). What the user confirms is then saved by the same
service with the same arguments, so what was previewed is what is checked again on save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from clinical import codes
from clinical.dosing import DoseCalculation
from clinical.types import CheckResult
from patients import prescriptions as rx
from patients.models import LabResult, Patient, Prescription
from workspace import display

# The hard stops a clinician may lift with a recorded reason (clinical.prescription_checks
# marks them `overridable=True`: the dose caps of REF §4 below the absolute maximum and the
# mycophenolate renal maximum). A refused save reports only the code, so the workspace lists
# them; tests/workspace/test_prescribing.py checks each is lifted by an override reason.
OVERRIDABLE_STOPS = frozenset({"DOSE_ABOVE_CAP", "MMF_RENAL_MAX"})


@dataclass
class Finding:
    code: str
    text: str  # plain words
    source: str  # behind "why?"
    level: str  # "stop", "overridable", "warning", "confirm"


@dataclass
class Preview:
    calculation: DoseCalculation | None = None
    dose_mg: Decimal | None = None
    stops: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    needs_override: bool = False
    needs_baseline_confirm: bool = False

    @property
    def can_save(self) -> bool:
        return not any(f.level == "stop" for f in self.stops) and not self.field_errors


class _Rollback(Exception):
    pass


def _finding_from_check(w: CheckResult) -> Finding:
    return Finding(
        w.code, display.human(display.plain_message(w.message)), w.source.cite(), "warning"
    )


def _finding_from_dict(w: dict) -> Finding:
    text = display.human(display.plain_message(w["message"]))
    return Finding(w["code"], text, w["source"], "warning")


def _absorb(preview: Preview, exc: ValidationError) -> None:
    """A refused save: stops (overridable or not) and the field errors, in plain words."""
    for fld, errors in exc.error_dict.items():
        for e in errors:
            message = e.message % e.params if e.params else e.message
            code = e.code or ""
            if code and code.isupper():
                # "message [source] [CODE; source]" from patients.prescriptions._check
                source = ""
                tail = message.rsplit("[", 1)
                if len(tail) == 2 and ";" in tail[1]:
                    source = tail[1].split(";", 1)[1].strip(" ]")
                level = "overridable" if code in OVERRIDABLE_STOPS else "stop"
                text = display.human(display.plain_message(message))
                preview.stops.append(Finding(code, text, source, level))
                if level == "overridable":
                    preview.needs_override = True
            else:
                preview.field_errors.setdefault(fld, []).append(message)


def _add_warnings(preview: Preview, found: list[Finding]) -> None:
    seen = {w.code for w in preview.warnings}
    for f in found:
        if f.code not in seen:
            preview.warnings.append(f)
            seen.add(f.code)


def missing_baseline(patient: Patient, drug: str, start: date) -> tuple[list[str], str]:
    """The baseline blood tests (the protocol's "labs" group) with no evaluable result in their
    window before `start`, and the source; the planner then makes the baseline draw due on or
    before the start (clinical.planner, latest = start)."""
    from schedules.services import protocol_for

    if drug not in rx.MONITORED_DRUGS:
        return [], ""
    protocol = protocol_for(patient, codes.Drug(drug), None)
    items = [i for i in protocol.baseline_for(codes.Drug(drug)) if i.group == "labs"]
    if not items:
        return [], ""
    tz = patient.clinic.tz
    window = max(i.window_days for i in items)
    labs = LabResult.objects.filter(
        patient=patient,
        evaluable=True,
        analyte__in=[str(i.test) for i in items],
        collected_at__date__gte=start - timedelta(days=window + 1),
    ).values_list("analyte", "collected_at")
    have: dict[str, list[date]] = {}
    for analyte, at in labs:
        have.setdefault(analyte, []).append(at.astimezone(tz).date())
    missing = [
        str(i.test)
        for i in items
        if not any(
            start - timedelta(days=i.window_days) <= d <= start for d in have.get(str(i.test), [])
        )
    ]
    source = (items[0].source or protocol.source).cite()
    return missing, source


def _baseline(preview: Preview, patient: Patient, drug: str, start: date) -> None:
    if drug != codes.Drug.METHOTREXATE.value:
        return
    missing, source = missing_baseline(patient, drug, start)
    if missing:
        preview.needs_baseline_confirm = True
        preview.warnings.insert(
            0,
            Finding(
                "NO_BASELINE_BLOODS",
                f"No baseline bloods on record in the 4 weeks before the start "
                f"({display.tests(missing)} missing). Confirm to prescribe anyway: the baseline "
                f"draw is then due on or before the first dose ({display.day(start)}).",
                source,
                "confirm",
            ),
        )


def preview_start(patient: Patient, data: dict, user) -> Preview:
    """The calculator's result and every check of a new prescription, nothing saved."""
    p = Preview()
    try:
        p.calculation = rx.dose_from_basis(
            patient=patient,
            drug=data["drug"],
            basis=data["basis"],
            amount=data["amount"],
            formulation=data.get("formulation") or "",
            route=data.get("route") or "",
            weekday=data.get("weekday") or "",
            on_date=data["start_date"],
        )
    except ValidationError as exc:
        _absorb(p, exc)
        return p
    p.dose_mg = data.get("dose_mg") or p.calculation.final_dose_mg
    _add_warnings(p, [_finding_from_check(w) for w in p.calculation.warnings])
    try:
        warnings = rx.prescription_preview(**start_kwargs(patient, data, p.calculation, user))
    except ValidationError as exc:
        _absorb(p, exc)
    else:
        _add_warnings(p, [_finding_from_check(w) for w in warnings])
    _baseline(p, patient, data["drug"], data["start_date"])
    return p


def start_kwargs(patient: Patient, data: dict, calc: DoseCalculation, user) -> dict:
    """The arguments of `prescription_start` for what the calculator gave (its dose, product
    and route: a pen is subcutaneous whatever the form's default)."""
    return {
        "patient": patient,
        "drug": data["drug"],
        "dose_mg": data.get("dose_mg") or calc.final_dose_mg,
        "frequency": frequency_for(data["drug"]),
        "weekday": data.get("weekday") or "",
        "route": calc.route.value,
        "formulation": calc.formulation.value,
        "start_date": data["start_date"],
        "basis": data["basis"],
        "basis_amount": data["amount"],
        "reason": data.get("reason") or "",
        "override_reason": data.get("override_reason") or "",
        "protocol": "",
        "user": user,
    }


def frequency_for(drug: str) -> str:
    """Methotrexate (and folic acid here) once weekly; mycophenolate twice daily (REF §1, §4)."""
    if drug == codes.Drug.MYCOPHENOLATE_MOFETIL.value:
        return codes.Frequency.TWICE_DAILY.value
    return codes.Frequency.ONCE_WEEKLY.value


def dry_run(service, **kwargs) -> Preview:
    """Run a saving service and roll it back: its warnings or its refusal, nothing kept."""
    p = Preview()
    try:
        with transaction.atomic():
            outcome = service(**kwargs)
            p.dose_mg = outcome.prescription.dose_mg
            _add_warnings(p, [_finding_from_check(w) for w in outcome.warnings])
            raise _Rollback
    except _Rollback:
        pass
    except ValidationError as exc:
        _absorb(p, exc)
    return p


def calculate_for_change(patient: Patient, current: Prescription, data: dict, p: Preview):
    """The calculator on the new amount (same drug, product and weekday as the current one)."""
    try:
        p.calculation = rx.dose_from_basis(
            patient=patient,
            drug=current.drug,
            basis=data["basis"],
            amount=data["amount"],
            formulation=data.get("formulation") or current.formulation,
            route=current.route,
            weekday=current.weekday,
            on_date=data["effective_date"],
        )
    except ValidationError as exc:
        _absorb(p, exc)
        return None
    _add_warnings(p, [_finding_from_check(w) for w in p.calculation.warnings])
    return data.get("dose_mg") or p.calculation.final_dose_mg


def saved_warnings(prescription: Prescription) -> list[Finding]:
    return [_finding_from_dict(w) for w in prescription.warnings or []]


def regimen_words(patient: Patient, p: Prescription) -> str:
    """'3 × 2.5 mg tablets (7.5 mg) once weekly on Mondays, oral': what is given, in words."""
    from clinical.dosing import DoseRequest, calculate_dose

    try:
        calc = calculate_dose(
            DoseRequest(
                drug=p.drug,
                basis=codes.DoseBasis.FIXED.value,
                amount=p.dose_mg,
                birth_date=patient.birth_date,
                on_date=patient.clinic.today(),
                indication=patient.diagnosis,
                formulation=p.formulation or None,
                weekday=p.weekday or None,
                route=p.route or None,
            )
        )
        text = calc.administration
        if calc.final_dose_mg != p.dose_mg:  # never show a rounded dose as the prescribed one
            raise ValueError
    except Exception:
        day = f" on {p.get_weekday_display()}s" if p.weekday else ""
        text = f"{display.number(p.dose_mg)} mg {p.get_frequency_display().lower()}{day}"
    return f"{p.get_drug_display()}: {text}, {display.words(p.route)}"
