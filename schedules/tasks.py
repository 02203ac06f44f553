"""Celery tasks: thin shells that take ids, load, and call a service.

Every task here is idempotent (safe to run twice, safe to redeliver after a worker dies), which
is why the project runs with acks_late (settings.CELERY_TASK_ACKS_LATE).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

log = logging.getLogger(__name__)

# As many as a batch queues per task (patients.lab_batch.EVALUATION_CHUNK): a chunk costs a fixed
# number of queries, so larger chunks are cheaper per result.
RECONCILE_CHUNK = 500


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=300, max_retries=8
)
def evaluate_lab_result(result_id: int) -> None:
    """Run the lab rules on one stored result (no-op if already evaluated at its version)."""
    _evaluate_one(result_id)


def _evaluate_one(result_id: int) -> None:
    """Evaluate one result; if the lab rules raise, flag it for a human instead of retrying it
    for ever (issue 14). A database that is away is retried (the task's autoretry)."""
    from schedules.services import evaluate_result, mark_not_evaluable

    try:
        evaluate_result(result_id)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        log.exception(
            "Evaluating lab result %s failed; marked not evaluable with an alert for a human.",
            result_id,
        )
        mark_not_evaluable(result_id, exc)


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=300, max_retries=8
)
def evaluate_lab_results(result_ids: list[int]) -> None:
    """A chunk of results (of a batch, or of the reconcile sweep), evaluated together."""
    from schedules.services import evaluate_results

    try:
        evaluate_results(result_ids)  # set-based: a fixed number of queries for the chunk
    except (OperationalError, InterfaceError):
        raise  # the database is away: retry the chunk with backoff
    except Exception:
        # Fall back to one at a time, so one bad row cannot stop the chunk; a row that fails on
        # its own is marked not evaluable with an alert for a human (never retried for ever).
        log.exception(
            "Evaluating a chunk of %d results failed; retrying one by one.", len(result_ids)
        )
        for result_id in result_ids:
            _evaluate_one(result_id)


@shared_task
def reconcile_unevaluated_results(chunk_size: int = RECONCILE_CHUNK, grace_seconds=None) -> int:
    """Fan out every result still unevaluated (stored while Redis or the worker was down).

    Results received in the last `grace_seconds` (MTXMONITOR_RECONCILE_GRACE_SECONDS, by
    database time) are left to the dispatch that is normally already on its way."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models.functions import Now

    from patients.models import LabResult

    if grace_seconds is None:
        grace_seconds = getattr(settings, "MTXMONITOR_RECONCILE_GRACE_SECONDS", 20)
    ids = list(
        LabResult.objects.filter(evaluated_version__isnull=True)
        .filter(received_at__lt=Now() - timedelta(seconds=grace_seconds))
        .order_by("received_at")
        .values_list("id", flat=True)[:50_000]
    )
    for start in range(0, len(ids), chunk_size):
        evaluate_lab_results.delay(ids[start : start + chunk_size])
    if ids:
        log.info("Reconcile queued %d unevaluated lab result(s).", len(ids))
    return len(ids)


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=300, max_retries=8
)
def replan_patient(patient_id: int) -> None:
    """Re-run the planner for one patient and sync its events (idempotent)."""
    from schedules.services import sync_plan

    sync_plan(patient_id)


REPLAN_CHUNK = 200  # patients per re-plan task (one transaction, a fixed number of queries)


@shared_task
def replan_stale(chunk_size: int = REPLAN_CHUNK, grace_seconds=None) -> int:
    """Beat, every MTXMONITOR_REPLAN_SECONDS: fan out every patient whose plan is older than its
    inputs (`Patient.plan_stale_since`, issue 14), in chunks, like the reminder sweep.

    A re-plan lost with the broker (methotrexate started while Redis was down) is redone here.
    Plans marked stale in the last `grace_seconds` (database time) are left to the dispatch
    already on its way. Returns how many patients were queued."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models.functions import Now

    from patients.models import Patient

    if grace_seconds is None:
        grace_seconds = getattr(settings, "MTXMONITOR_REPLAN_GRACE_SECONDS", 15)
    ids = list(
        Patient.objects.filter(plan_stale_since__lt=Now() - timedelta(seconds=grace_seconds))
        .order_by("plan_stale_since", "pk")
        .values_list("id", flat=True)[:50_000]
    )
    for start in range(0, len(ids), chunk_size):
        replan_patients.delay(ids[start : start + chunk_size])
    if ids:
        log.info("Re-plan sweep queued %d patient(s) with a stale plan.", len(ids))
    return len(ids)


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=300, max_retries=8
)
def replan_patients(patient_ids: list[int]) -> int:
    """Re-sync a chunk of plans in one transaction (idempotent; only those still stale)."""
    from django.db import transaction

    from patients.models import Patient
    from schedules.services import sync_plans

    def sync(ids: list[int]) -> int:
        with transaction.atomic():
            patients = list(
                Patient.objects.select_for_update(of=("self",))
                .select_related("clinic")
                .filter(pk__in=ids, plan_stale_since__isnull=False)
                .order_by("pk")  # every chunk locks in id order: no deadlock
            )
            if patients:
                sync_plans(patients)
        return len(patients)

    try:
        return sync(patient_ids)
    except (OperationalError, InterfaceError):
        raise  # the database is away: the task retries
    except Exception:
        log.exception("Re-planning %d patient(s) failed; one by one.", len(patient_ids))
    done = 0
    for patient_id in patient_ids:
        try:
            done += sync([patient_id])
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            # Not retried every minute: the next attempt is in an hour (the plan stays marked).
            log.exception(
                "The monitoring plan of patient %s could not be built; next attempt in an hour.",
                patient_id,
            )
            from datetime import timedelta

            from django.db.models.functions import Now

            Patient.objects.filter(pk=patient_id).update(
                plan_stale_since=Now() + timedelta(hours=1)
            )
    return done
