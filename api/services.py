"""Patient writes for the API (create, update, delete), validated in full like every service.

They live here because patients/services.py is not this issue's; they can move there unchanged.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from patients.models import Patient

PATIENT_FIELDS = (
    "mrn",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "diagnosis",
    "risk_factors",
)


def _mrn_taken(patient: Patient) -> ValidationError:
    return ValidationError(
        {"mrn": ValidationError(f"{patient.mrn!r} is already used in this clinic.", code="unique")}
    )


def _save(patient: Patient) -> Patient:
    # full_clean() with the clinic excluded skips the (clinic, mrn) constraint: check it here so
    # the error names the field, and again at the database for a concurrent writer.
    patient.full_clean(exclude=["clinic", "responsible_nurse"])
    clash = Patient.objects.filter(clinic_id=patient.clinic_id, mrn=patient.mrn)
    if patient.pk:
        clash = clash.exclude(pk=patient.pk)
    if clash.exists():
        raise _mrn_taken(patient)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:
        raise _mrn_taken(patient) from exc
    return patient


@transaction.atomic
def patient_create(
    *,
    clinic_id: int,
    mrn: str,
    given_name: str,
    family_name: str,
    birth_date,
    sex: str,
    diagnosis: str,
    risk_factors: list[str] | None = None,
) -> Patient:
    return _save(
        Patient(
            clinic_id=clinic_id,
            mrn=mrn,
            given_name=given_name,
            family_name=family_name,
            birth_date=birth_date,
            sex=sex,
            diagnosis=diagnosis,
            risk_factors=list(risk_factors or []),
        )
    )


@transaction.atomic
def patient_update(*, patient: Patient, **changes) -> Patient:
    unknown = set(changes) - set(PATIENT_FIELDS)
    if unknown:
        raise ValueError(f"not patient fields: {sorted(unknown)}")
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    for name, value in changes.items():
        setattr(patient, name, list(value) if name == "risk_factors" else value)
    return _save(patient)


def patient_has_records(patient: Patient) -> bool:
    return any(
        rel.exists()
        for rel in (
            patient.prescriptions,
            patient.lab_results,
            patient.measurements,
            patient.assessments,
            patient.adverse_events,
            patient.alerts,
        )
    )


@transaction.atomic
def patient_delete(*, patient: Patient) -> None:
    """Only a patient with no clinical record at all (e.g. created by mistake) is deleted:
    clinical history is never destroyed through the API."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient_has_records(patient):
        raise ValidationError(
            "This patient has clinical records (prescriptions, lab results, measurements, "
            "assessments or alerts); they are kept, so the patient cannot be deleted.",
            code="has_records",
        )
    patient.monitoring_events.all().delete()
    patient.delete()
