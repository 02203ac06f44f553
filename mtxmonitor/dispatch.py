"""Queueing a Celery task from a request, after its commit, without ever failing the request.

Store first (issue 14): what a task does is also found from the database by a periodic sweep
(unevaluated results: the reconcile; plans older than their inputs: the re-plan sweep; pending
e-mails: the retry sweep), so a publish that fails costs a delay, never the data. This module
makes the failure cheap as well:

- one attempt, no retry loop, bounded by the broker's socket timeouts
  (settings.MTXMONITOR_BROKER_TIMEOUT_SECONDS);
- after a failure, publishing is skipped for MTXMONITOR_BROKER_BACKOFF_SECONDS in this process
  (a circuit breaker), so a frozen Redis costs one timeout per process per back-off period,
  not one per request;
- every failure and every skip is logged (one warning per back-off period).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

_state = {"down_until": float("-inf")}
_lock = threading.Lock()


def backoff_seconds() -> float:
    return float(getattr(settings, "MTXMONITOR_BROKER_BACKOFF_SECONDS", 10))


def broker_suspended() -> bool:
    return time.monotonic() < _state["down_until"]


def reset() -> None:
    """Forget an earlier failure (tests; a process that knows the broker is back)."""
    _state["down_until"] = float("-inf")


def publish(task, *args, what: str, **kwargs) -> bool:
    """`task.apply_async(args, kwargs)` once; False (logged) if the broker is unavailable.

    `what` says what is left to the sweeps, for the log line (e.g. "evaluation of 3 results").
    """
    if broker_suspended():
        log.info("Broker unavailable (backing off): not queued: %s; the sweep will.", what)
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
        return True
    except Exception as exc:
        with _lock:
            _state["down_until"] = time.monotonic() + backoff_seconds()
        log.warning(
            "Could not queue %s (%s: %s); left to the periodic sweep. Not publishing for %.0f s.",
            what,
            type(exc).__name__,
            exc,
            backoff_seconds(),
        )
        return False
