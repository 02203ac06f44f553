"""Celery tasks: thin shells that take ids, load, and call a service.

Every task here is idempotent (safe to run twice, safe to redeliver after a worker dies), which
is why the project runs with acks_late (settings.CELERY_TASK_ACKS_LATE).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

log = logging.getLogger(__name__)

# As many as a batch queues per task (patients.lab_batch.EVALUATION_CHUNK): a chunk costs a fixed
# number of queries, so larger chunks are cheaper per result.
RECONCILE_CHUNK = 500


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=300, max_retries=8
)
def evaluate_lab_result(result_id: int) -> None:
    """Run the lab rules on one stored result (no-op if already evaluated at its version)."""
    from schedules.services import evaluate_result

    evaluate_result(result_id)


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=300, max_retries=8
)
def evaluate_lab_results(result_ids: list[int]) -> None:
    """A chunk of results (of a batch, or of the reconcile sweep), evaluated together."""
    from schedules.services import evaluate_result, evaluate_results

    try:
        evaluate_results(result_ids)  # set-based: a fixed number of queries for the chunk
    except OperationalError:
        raise  # the database is away: retry the chunk with backoff
    except Exception:
        # Fall back to one at a time, so one bad row cannot stop the chunk; it stays pending
        # and the reconcile sweep tries it again.
        log.exception(
            "Evaluating a chunk of %d results failed; retrying one by one.", len(result_ids)
        )
        for result_id in result_ids:
            try:
                evaluate_result(result_id)
            except Exception:
                log.exception("Evaluating lab result %s failed; it stays pending.", result_id)


@shared_task
def reconcile_unevaluated_results(chunk_size: int = RECONCILE_CHUNK) -> int:
    """Fan out every result still unevaluated (stored while Redis or the worker was down)."""
    from patients.models import LabResult

    ids = list(
        LabResult.objects.filter(evaluated_version__isnull=True)
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
