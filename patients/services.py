"""Writes for patients, measurements and lab results: validate fully, then save.

Every write goes through `full_clean()` so the admin, the API and the demo loader refuse the
same bad input with the same field messages. Prescription writes: `patients/prescriptions.py`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinical.types import ClinicalInputError
from patients.models import LabResult, Measurement, Patient

log = logging.getLogger(__name__)


def _decimal_or_none(value, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({field: f"{value!r} is not a number."}) from exc
    if not d.is_finite():
        raise ValidationError({field: f"{value!r} is not a finite number."})
    return d


@transaction.atomic
def measurement_record(
    *, patient: Patient, measured_on, weight_kg, height_cm, bsa_formula: str = "", user=None
) -> Measurement:
    m = Measurement(
        patient=patient,
        measured_on=measured_on,
        weight_kg=_decimal_or_none(weight_kg, "weight_kg"),
        height_cm=_decimal_or_none(height_cm, "height_cm"),
        bsa_formula=bsa_formula or "",
        recorded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    m.full_clean(exclude=["bsa_m2"])
    m.save()
    return m


# --- Lab results ---------------------------------------------------------------------------
LAB_IDENTITY_FIELDS = (
    "analyte",
    "reported_value",
    "reported_unit",
    "reference_low",
    "reference_high",
    "collected_at",
)


@dataclass(frozen=True)
class LabRecordOutcome:
    result: LabResult
    outcome: Literal["created", "replayed", "amended"]


def dispatch_evaluation(result_id: int) -> None:
    """Ask a worker to evaluate a result once the transaction commits.

    If the broker is down the result is still stored (evaluated_version is behind version), and
    the periodic reconcile evaluates it when the broker is back: nothing is lost.
    """

    def send() -> None:
        from mtxmonitor.dispatch import publish
        from schedules.tasks import evaluate_lab_result

        # Broker down: logged, and the reconcile sweep evaluates it (mtxmonitor/dispatch.py).
        publish(evaluate_lab_result, result_id, what=f"evaluation of lab result {result_id}")

    transaction.on_commit(send)


def lab_result_record(
    *,
    patient: Patient,
    analyte: str | None,
    loinc: str | None = None,
    value,
    unit: str | None,
    collected_at: datetime,
    accession: str,
    reference_low=None,
    reference_high=None,
    source: str = "manual",
    strict_unit: bool = False,
    manual_key: str = "",
) -> LabRecordOutcome:
    """Store a result exactly as reported: create it, return the stored one on a replay, or amend.

    A replay (same accession, same content) changes nothing. A changed value under the same
    accession is an amendment: the row is updated (its history kept by django-simple-history),
    its version bumped, and it is evaluated again, superseding its earlier alerts.
    `strict_unit=True` (a person typing) refuses an unknown unit; otherwise (a lab system) it is
    stored as reported, marked not evaluable and raises an alert for a human (issue #4).
    `manual_key` (a hand-typed result, issue #17): with no accession, one is made from the key
    and the analyte (`manual_accession`) and the result is marked manual - the same key and
    analyte give the same accession, so a form sent twice is a replay, not a second result.
    """
    from clinical.units import resolve_analyte

    try:
        code = resolve_analyte(analyte or None, loinc or None)
    except ClinicalInputError as exc:
        raise ValidationError({exc.field: exc.reason}) from exc
    if collected_at is None:
        raise ValidationError({"collected_at": "is required."})
    if timezone.is_naive(collected_at):
        raise ValidationError({"collected_at": "needs a time-zone offset (ISO 8601, e.g. +01:00)."})
    accession = (accession or "").strip()
    if not accession and manual_key:
        accession, source = manual_accession(key=manual_key, analyte=code.value), "manual"
    if not accession:
        raise ValidationError({"accession": "is required."})
    value_text = "" if value is None else str(value).strip()
    if not value_text:
        raise ValidationError({"value": "is required (a number, or the text as reported)."})

    fields = {
        "analyte": code.value,
        "loinc": (loinc or "").strip(),
        "reported_value": value_text,
        "reported_unit": (unit or "").strip(),
        "reference_low": _decimal_or_none(reference_low, "reference_low"),
        "reference_high": _decimal_or_none(reference_high, "reference_high"),
        "collected_at": collected_at,
        "source": source,
    }
    if not fields["loinc"]:
        from clinical.units import PRIMARY_LOINC

        fields["loinc"] = PRIMARY_LOINC.get(code, "")

    for _attempt in range(2):
        try:
            with transaction.atomic():
                existing = (
                    LabResult.objects.select_for_update()
                    .filter(clinic_id=patient.clinic_id, accession=accession)
                    .first()
                )
                if existing is None:
                    result = LabResult(
                        patient=patient, clinic_id=patient.clinic_id, accession=accession, **fields
                    )
                    result._strict_unit = strict_unit
                    result.full_clean(exclude=["clinic"])
                    result.save()
                    dispatch_evaluation(result.pk)
                    return LabRecordOutcome(result, "created")
                if existing.patient_id != patient.pk:
                    raise ValidationError(
                        {
                            "accession": ValidationError(
                                f"{accession!r} is already used for another patient in this "
                                "clinic; an accession number identifies one result.",
                                code="accession_in_use",
                            )
                        }
                    )
                if _same_content(existing, fields):
                    return LabRecordOutcome(existing, "replayed")
                for name, val in fields.items():
                    setattr(existing, name, val)
                existing._strict_unit = strict_unit
                existing.full_clean(exclude=["clinic"])
                existing.version += 1
                existing.amended_at = timezone.now()
                existing.evaluated_version = None  # pending again (see LabResult.needs_evaluation)
                existing._change_reason = "amended by the lab (same accession, new content)"
                existing.save()
                dispatch_evaluation(existing.pk)
                return LabRecordOutcome(existing, "amended")
        except IntegrityError:
            # Another request stored the same accession between our read and our insert:
            # go round once more and treat it as a replay or an amendment.
            continue
    raise ValidationError({"accession": "could not be stored (concurrent writes); retry."})


def manual_accession(*, key: str, analyte: str) -> str:
    """'MANUAL-<key>-ALT': the accession of a hand-typed result that came without one."""
    key = "".join(ch for ch in key if ch.isalnum())[:32]
    if not key:
        raise ValidationError({"accession": "is required (no key to make a manual one from)."})
    return f"MANUAL-{key}-{analyte.upper()}"


def _same_content(existing: LabResult, fields: dict) -> bool:
    for name in LAB_IDENTITY_FIELDS:
        old, new = getattr(existing, name), fields[name]
        if isinstance(old, Decimal) or isinstance(new, Decimal):
            if (old is None) != (new is None) or (old is not None and Decimal(old) != Decimal(new)):
                return False
        elif old != new:
            return False
    return True


# --- Outcomes (issue 19; REF §7) -------------------------------------------------------------
def _recorded_by(user):
    return user if getattr(user, "is_authenticated", False) else None


@transaction.atomic
def assessment_record(
    *,
    patient: Patient,
    assessed_on,
    iga: int,
    other_score_name: str = "",
    other_score_value=None,
    notes: str = "",
    user=None,
):
    """Record a disease assessment (IGA 0 clear – 4 severe, optionally another named score)."""
    from patients.models import DiseaseAssessment

    value = _decimal_or_none(other_score_value, "other_score_value")
    name = (other_score_name or "").strip()
    if value is not None and not name:
        raise ValidationError({"other_score_name": "is required with other_score_value."})
    if name and value is None:
        raise ValidationError({"other_score_value": "is required with other_score_name."})
    a = DiseaseAssessment(
        patient=patient,
        assessed_on=assessed_on,
        iga=iga,
        other_score_name=name,
        other_score_value=value,
        notes=notes or "",
        recorded_by=_recorded_by(user),
    )
    a.full_clean()
    if a.assessed_on < patient.birth_date:
        raise ValidationError({"assessed_on": "is before the patient's birth date."})
    a.save()
    # An IGA inside a 12- or 24-week review's window completes that review (schedules.services
    # sync_plans): re-plan after commit.
    from schedules.services import dispatch_replan

    dispatch_replan(patient.pk)
    return a


@transaction.atomic
def adverse_event_record(
    *,
    patient: Patient,
    kind: str,
    onset_date,
    severity: str,
    led_to_stop: bool = False,
    description: str = "",
    prescription=None,
    user=None,
):
    """Record an adverse event, optionally against the prescription it happened on."""
    from patients.models import AdverseEvent

    e = AdverseEvent(
        patient=patient,
        prescription=prescription,
        kind=kind,
        onset_date=onset_date,
        severity=severity,
        led_to_stop=bool(led_to_stop),
        description=description or "",
        recorded_by=_recorded_by(user),
    )
    e.full_clean()
    if e.onset_date < patient.birth_date:
        raise ValidationError({"onset_date": "is before the patient's birth date."})
    e.save()
    return e


# Lab alert rules (clinical.labrules.RULES) → the adverse-event kind they document.
ALERT_RULE_ADVERSE_EVENT_KIND = {
    "LIVER_GT_3X_ULN": "transaminitis",
    "LIVER_GT_3X_ULN_CONFIRMED": "transaminitis",
    "LIVER_ABOVE_ULN_TWICE": "transaminitis",
    "LIVER_GT_ABSOLUTE": "transaminitis",
    "WBC_LOW": "cytopenia",
    "NEUTROPHILS_LOW": "cytopenia",
    "MMF_NEUTROPHILS_LOW": "cytopenia",
    "PLATELETS_LOW": "cytopenia",
    "LYMPHOCYTES_LOW": "cytopenia",
    "CREATININE_RISE": "renal",
    "CREATININE_RISE_CONFIRMED": "renal",
    "EGFR_LOW": "renal",
    "EGFR_LOW_CONFIRMED": "renal",
}


def adverse_event_from_alert(*, alert, user=None, severity: str = "moderate"):
    """Record the adverse event a lab alert documents (e.g. transaminitis from ALT > 3× ULN).

    Onset: the local date the result was collected; against the methotrexate or mycophenolate
    prescription in force then. Returns (event, created): an event of that kind on that date
    for the patient is not recorded twice. Raises ValidationError for an alert that documents
    no adverse event (e.g. a result that could not be evaluated).
    """
    from patients.models import AdverseEvent, Prescription

    kind = ALERT_RULE_ADVERSE_EVENT_KIND.get(alert.rule)
    if kind is None:
        raise ValidationError(
            {"rule": f"{alert.rule} does not document an adverse event (liver, blood count or "
             "renal findings do)."}
        )  # fmt: skip
    patient = alert.patient
    when = alert.lab_result.collected_at if alert.lab_result_id else alert.raised_at
    onset = when.astimezone(patient.clinic.tz).date()
    existing = AdverseEvent.objects.filter(patient=patient, kind=kind, onset_date=onset).first()
    if existing:
        return existing, False
    in_force = (
        Prescription.objects.filter(
            patient=patient,
            drug__in=("methotrexate", "mycophenolate_mofetil"),
            start_date__lte=onset,
        )
        .exclude(status="stopped")
        .order_by("-start_date", "-id")
        .first()
    )
    event = adverse_event_record(
        patient=patient,
        kind=kind,
        onset_date=onset,
        severity=severity,
        description=f"From alert {alert.rule}: {alert.message}"[:4000],
        prescription=in_force,
        user=user,
    )
    return event, True
