"""Who may see and do what, by clinic and role. One place for the admin and the API (issue #13).

A user has at most one `StaffMembership` (one clinic, one role); a superuser sees every clinic in
the staff UI (the API acts only inside a clinic and refuses a user without a role).

`RIGHTS` is the one table of rights: the API's views name a resource and an access
(api/permissions.py), the staff UI's model admins do the same through `ADMIN_RESOURCES`, so a
role that the API refuses a write is refused the same write in the admin.
"""

from __future__ import annotations

from django.db.models import QuerySet

from patients.models import StaffMembership

Role = StaffMembership.Role
ALL = frozenset(Role)
STAFF = frozenset({Role.CLINICIAN, Role.NURSE, Role.VIEWER})
CLINICIAN = frozenset({Role.CLINICIAN})
CLINICIAN_NURSE = frozenset({Role.CLINICIAN, Role.NURSE})
NOBODY: frozenset[str] = frozenset()

# resource -> access -> the roles allowed it. "read" lists; "write" creates (and, where a record
# may change at all, changes) records; "act" is a life-cycle step (acknowledge/resolve an alert,
# record a monitoring event done, resend an e-mail).
RIGHTS: dict[str, dict[str, frozenset[str]]] = {
    # Shared with the API (api/permissions.py documents these as a table).
    "patient": {"read": ALL, "write": CLINICIAN},
    "plan": {"read": ALL, "act": CLINICIAN_NURSE},
    "alert": {"read": ALL, "act": CLINICIAN_NURSE},
    # A nurse records what she measures and the results she is given (a hand-typed panel in the
    # workspace, issue #17) in every door, the API's included.
    "lab": {"read": ALL, "write": frozenset({Role.CLINICIAN, Role.NURSE, Role.INTEGRATION})},
    "measurement": {"read": STAFF, "write": CLINICIAN_NURSE},
    "prescription": {"read": STAFF, "write": CLINICIAN},
    "timeline": {"read": STAFF},
    "dosing": {"read": STAFF},
    # Staff UI only.
    # Outcomes (issue 19): an IGA is a clinician's assessment; a nurse may record an adverse
    # event as it is reported; the cohort report is a read (viewers included).
    "assessment": {"read": STAFF, "write": CLINICIAN},
    "adverse_event": {"read": STAFF, "write": CLINICIAN_NURSE},
    "report": {"read": STAFF},
    "notification": {"read": STAFF, "act": CLINICIAN_NURSE},
    "staff": {"read": STAFF, "write": NOBODY},
    "clinic": {"read": STAFF, "write": NOBODY},
    # Calendar feeds (issue 17 item 6): a clinician makes and rotates the clinic's and any of its
    # nurses' feeds; a nurse only her own (schedules/admin.py, the workspace's Calendar page).
    "calendar": {"read": STAFF, "write": CLINICIAN},
}

# The staff UI's models: (resource, the access that adding or changing one needs).
ADMIN_RESOURCES: dict[str, tuple[str, str]] = {
    "clinic": ("clinic", "write"),
    "staffmembership": ("staff", "write"),
    "patient": ("patient", "write"),
    "measurement": ("measurement", "write"),
    "prescription": ("prescription", "write"),
    "labresult": ("lab", "write"),
    "diseaseassessment": ("assessment", "write"),
    "adverseevent": ("adverse_event", "write"),
    "monitoringevent": ("plan", "act"),
    "alert": ("alert", "act"),
    "notification": ("notification", "act"),
    "calendarfeed": ("calendar", "write"),
}
STAFF_UI_ROLES = STAFF


def allowed(role: str | None, resource: str, access: str) -> bool:
    """May this role perform this access on this resource? Unknown resources: nobody."""
    return role in RIGHTS.get(resource, {}).get(access, NOBODY)


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


def role_of(user) -> str | None:
    m = membership_of(user)
    return m.role if m else None


def scope(qs: QuerySet, user, clinic_path: str) -> QuerySet:
    """Only the rows of the user's own clinic (all rows for a superuser; none without a role)."""
    if user.is_superuser:
        return qs
    clinic_id = clinic_id_of(user)
    if clinic_id is None:
        return qs.none()
    return qs.filter(**{clinic_path: clinic_id})


def staff_may(user, model_name: str, access: str | None = None) -> bool:
    """The staff UI's right to `access` (default: add/change) a model, from `RIGHTS`.

    A superuser may; a model missing from `ADMIN_RESOURCES` may be changed by nobody else.
    """
    if user.is_superuser:
        return True
    if model_name not in ADMIN_RESOURCES:
        return False
    resource, change_access = ADMIN_RESOURCES[model_name]
    role = role_of(user)
    return role in STAFF_UI_ROLES and allowed(role, resource, access or change_access)


def may_write(user, model_name: str) -> bool:
    """Kept for callers of the old name: the staff UI's add/change right."""
    return staff_may(user, model_name)
