"""Who may see and do what, by clinic and role. One place for the admin and the API.

A user has at most one `StaffMembership` (one clinic, one role); a superuser sees every clinic.
"""

from __future__ import annotations

from django.db.models import QuerySet

from patients.models import StaffMembership

Role = StaffMembership.Role

# What each role may do to each kind of record in the staff UI (the API has its own matrix
# in api/permissions.py built on the same roles). "view" is implied by any membership.
WRITE_ROLES: dict[str, frozenset[str]] = {
    "patient": frozenset({Role.CLINICIAN}),
    "measurement": frozenset({Role.CLINICIAN, Role.NURSE}),
    "prescription": frozenset({Role.CLINICIAN}),
    "labresult": frozenset({Role.CLINICIAN, Role.NURSE}),
    "diseaseassessment": frozenset({Role.CLINICIAN, Role.NURSE}),
    "adverseevent": frozenset({Role.CLINICIAN, Role.NURSE}),
    "monitoringevent": frozenset({Role.CLINICIAN, Role.NURSE}),
    "alert": frozenset({Role.CLINICIAN, Role.NURSE}),
    "notification": frozenset({Role.CLINICIAN, Role.NURSE}),
    "staffmembership": frozenset(),
    "clinic": frozenset(),
    # Calendar feeds (issue 17 item 6): a nurse may also rotate her own (schedules/admin.py).
    "calendarfeed": frozenset({Role.CLINICIAN}),
}
STAFF_UI_ROLES = frozenset({Role.CLINICIAN, Role.NURSE, Role.VIEWER})


def membership_of(user) -> StaffMembership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.membership
    except StaffMembership.DoesNotExist:
        return None


def clinic_id_of(user) -> int | None:
    m = membership_of(user)
    return m.clinic_id if m else None


def scope(qs: QuerySet, user, clinic_path: str) -> QuerySet:
    """Only the rows of the user's own clinic (all rows for a superuser; none without a role)."""
    if user.is_superuser:
        return qs
    clinic_id = clinic_id_of(user)
    if clinic_id is None:
        return qs.none()
    return qs.filter(**{clinic_path: clinic_id})


def may_write(user, model_name: str) -> bool:
    if user.is_superuser:
        return True
    m = membership_of(user)
    return bool(m) and m.role in WRITE_ROLES.get(model_name, frozenset())
