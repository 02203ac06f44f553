"""Writing the access log. A failure to write is logged loudly and never turns an answer that
was already computed into a 500."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from audit.models import AccessLog

logger = logging.getLogger(__name__)


def _request_fields(request) -> dict:
    if request is None:
        return {}
    from accounts.security import client_ip

    match = getattr(request, "resolver_match", None)
    address = client_ip(request)
    return {
        "view": (match.view_name if match else "")[:200],
        "method": request.method or "",
        "path": request.get_full_path()[:500],
        "address": address,
    }


def _who(user) -> dict:
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    from patients.tenancy import clinic_id_of

    return {"user": user, "username": user.get_username(), "clinic_id": clinic_id_of(user)}


def record(action: str, *, request=None, user=None, username: str = "", **fields) -> None:
    if user is None and request is not None:
        user = getattr(request, "user", None)
    row = {**_request_fields(request), **_who(user), **fields}
    if username and not row.get("username"):
        row["username"] = username[:150]
    try:
        with transaction.atomic():  # a savepoint: a failure here never breaks the caller's
            AccessLog.objects.create(action=action, **row)
    except Exception:
        logger.exception("audit: could not record %s for %s", action, row.get("username"))


def record_reads(request, patients: Iterable[tuple[int, int | None]]) -> None:
    """One "read" row per (patient id, clinic id) the answer showed."""
    base = {**_request_fields(request), **_who(getattr(request, "user", None))}
    rows = [
        AccessLog(
            action=AccessLog.Action.READ,
            **{**base, "patient_id": pid, "clinic_id": cid or base.get("clinic_id")},
        )
        for pid, cid in dict.fromkeys(patients)
    ]
    if not rows:
        return
    try:
        # No savepoint: a web request's reads are recorded outside any transaction (and a
        # savepoint would cost the hot read paths two round trips).
        AccessLog.objects.bulk_create(rows)
    except Exception:
        logger.exception("audit: could not record %d patient reads", len(rows))
