"""Reads a clinic's records into `clinical.cohort`'s plain records and makes its report (issue 19).

Only the clinic's own patients are read: every query below is filtered by the clinic first, so
another clinic's courses cannot appear in its report whatever the filters say.
"""

from __future__ import annotations

from clinical import cohort
from patients.models import (
    AdverseEvent,
    Clinic,
    DiseaseAssessment,
    Measurement,
    Patient,
    Prescription,
)
from schedules.models import Alert


def cohort_records(clinic: Clinic) -> dict:
    """Every record the report needs, for the clinic's patients (a handful of queries)."""
    patients = Patient.objects.filter(clinic=clinic)
    ids = list(patients.values_list("id", flat=True))
    tz = clinic.tz
    alerts = (
        Alert.objects.filter(clinic=clinic, patient_id__in=ids)
        .exclude(status=Alert.Status.SUPERSEDED)
        .filter(rule__in=cohort.TRANSAMINASE_RULES | cohort.CYTOPENIA_RULES)
        .select_related("lab_result")
        .only("patient_id", "rule", "raised_at", "lab_result__collected_at")
    )
    return {
        "patients": [
            cohort.PatientRecord(p["id"], p["birth_date"], p["sex"], p["diagnosis"])
            for p in patients.values("id", "birth_date", "sex", "diagnosis")
        ],
        "prescriptions": [
            cohort.PrescriptionRecord(
                id=r["id"],
                patient_id=r["patient_id"],
                drug=r["drug"],
                status=r["status"],
                start_date=r["start_date"],
                dose_mg=r["dose_mg"],
                frequency=r["frequency"],
                route=r["route"],
                supersedes_id=r["supersedes_id"],
                end_reason=r["end_reason"],
            )
            for r in Prescription.objects.filter(patient_id__in=ids).values(
                "id",
                "patient_id",
                "drug",
                "status",
                "start_date",
                "dose_mg",
                "frequency",
                "route",
                "supersedes_id",
                "end_reason",
            )
        ],
        "measurements": [
            cohort.MeasurementRecord(m["patient_id"], m["measured_on"], m["weight_kg"], m["bsa_m2"])
            for m in Measurement.objects.filter(patient_id__in=ids).values(
                "patient_id", "measured_on", "weight_kg", "bsa_m2"
            )
        ],
        "assessments": [
            cohort.AssessmentRecord(a["patient_id"], a["assessed_on"], a["iga"])
            for a in DiseaseAssessment.objects.filter(patient_id__in=ids).values(
                "patient_id", "assessed_on", "iga"
            )
        ],
        "adverse_events": [
            cohort.AdverseEventRecord(
                e["patient_id"], e["onset_date"], e["kind"], e["led_to_stop"], e["prescription_id"]
            )
            for e in AdverseEvent.objects.filter(patient_id__in=ids).values(
                "patient_id", "onset_date", "kind", "led_to_stop", "prescription_id"
            )
        ],
        "lab_alerts": [
            cohort.LabAlertRecord(
                a.patient_id,
                (a.lab_result.collected_at if a.lab_result_id else a.raised_at)
                .astimezone(tz)
                .date(),
                a.rule,
            )
            for a in alerts
        ],
    }


def clinic_cohort_report(clinic: Clinic, **options) -> dict:
    """The clinic's cohort report on its local today; options as `clinical.cohort.ReportOptions`
    (raises `ClinicalInputError` naming the option at fault)."""
    opts = cohort.ReportOptions(today=clinic.today(), **options)
    report = cohort.cohort_report(**cohort_records(clinic), options=opts)
    report["clinic"] = clinic.name
    return report
