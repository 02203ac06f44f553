"""The plan's inputs changed: mark it stale, in the same transaction (issue 14).

Every save of a patient, prescription, measurement or disease assessment sets
`Patient.plan_stale_since` (database time, only where not set already), and a patient edit
also queues its re-plan. The periodic re-plan sweep (`schedules.tasks.replan_stale`) re-syncs
every stale plan, so a re-plan whose dispatch was lost (broker down) is redone within
MTXMONITOR_REPLAN_SECONDS. Lab results need no mark: an unevaluated result is found by the
reconcile, and its evaluation re-syncs the plan. Bulk writes that bypass `save()` (seed data,
benchmarks) sync the plans themselves.
"""

from __future__ import annotations

from django.db.models.functions import Now
from django.db.models.signals import post_save
from django.dispatch import receiver

from patients.models import DiseaseAssessment, Measurement, Patient, Prescription


def mark_plans_stale(patient_ids) -> None:
    ids = [i for i in patient_ids if i is not None]
    if ids:
        Patient.objects.filter(pk__in=ids, plan_stale_since__isnull=True).update(
            plan_stale_since=Now()
        )


@receiver(post_save, sender=Patient, dispatch_uid="plan_stale_patient")
def _patient_saved(sender, instance: Patient, created: bool, raw: bool = False, **kwargs):
    if raw:
        return
    update_fields = kwargs.get("update_fields")
    if update_fields and set(update_fields) <= {"plan_stale_since", "plan_synced_at"}:
        return
    mark_plans_stale([instance.pk])
    if not created:  # risk factors, birth date, sex, clinic: re-plan now
        from schedules.services import dispatch_replan

        dispatch_replan(instance.pk)


@receiver(post_save, sender=Prescription, dispatch_uid="plan_stale_prescription")
@receiver(post_save, sender=Measurement, dispatch_uid="plan_stale_measurement")
@receiver(post_save, sender=DiseaseAssessment, dispatch_uid="plan_stale_assessment")
def _input_saved(sender, instance, raw: bool = False, **kwargs):
    if not raw:
        mark_plans_stale([instance.patient_id])
