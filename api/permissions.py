"""Who may do what through the API: one clinic per user, and a role in it.

Tenancy: every queryset of a view is filtered to the user's clinic (`clinic_id_of`), so another
clinic's object is simply not found (404) - its existence is never confirmed.
Roles (StaffMembership.Role), by resource and access:

| resource     | read                         | write                 | act (ack/resolve) |
|--------------|------------------------------|-----------------------|-------------------|
| patient      | all four roles               | clinician             |                   |
| plan         | all four roles               |                       |                   |
| alert        | all four roles               |                       | clinician, nurse  |
| lab          | all four roles               | clinician, integration|                   |
| measurement  | clinician, nurse, viewer     | clinician             |                   |
| prescription | clinician, nurse, viewer     | clinician             |                   |
| timeline     | clinician, nurse, viewer     |                       |                   |
| dosing       | clinician, nurse, viewer     | (a calculation is a read: it stores nothing) |
| assessment   | clinician, nurse, viewer     | clinician             |                   |
| adverse event| clinician, nurse, viewer     | clinician, nurse      |                   |
| report       | clinician, nurse, viewer     |                       |                   |

A user without a clinic role (a superuser included) gets 403: the API acts only inside a clinic.
"""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from patients.models import StaffMembership
from patients.tenancy import membership_of

Role = StaffMembership.Role
ALL = frozenset(Role)
STAFF = frozenset({Role.CLINICIAN, Role.NURSE, Role.VIEWER})
CLINICIAN = frozenset({Role.CLINICIAN})

MATRIX: dict[str, dict[str, frozenset[str]]] = {
    "patient": {"read": ALL, "write": CLINICIAN},
    "plan": {"read": ALL},
    "alert": {"read": ALL, "act": frozenset({Role.CLINICIAN, Role.NURSE})},
    "lab": {"read": ALL, "write": frozenset({Role.CLINICIAN, Role.INTEGRATION})},
    "measurement": {"read": STAFF, "write": CLINICIAN},
    "prescription": {"read": STAFF, "write": CLINICIAN},
    "timeline": {"read": STAFF},
    "dosing": {"read": STAFF},
    # Outcomes (issue 19): an IGA is a clinician's assessment; a nurse may record an adverse
    # event as it is reported; the cohort report is a read (viewers included).
    "assessment": {"read": STAFF, "write": CLINICIAN},
    "adverse_event": {"read": STAFF, "write": frozenset({Role.CLINICIAN, Role.NURSE})},
    "report": {"read": STAFF},
}


def allowed(role: str, resource: str, access: str) -> bool:
    return role in MATRIX.get(resource, {}).get(access, frozenset())


def membership(request) -> StaffMembership | None:
    """The user's clinic membership, looked up once per request."""
    cached = getattr(request, "_api_membership", False)
    if cached is False:
        cached = membership_of(request.user)
        request._api_membership = cached
    return cached


def clinic_id(request) -> int:
    m = membership(request)
    if m is None:  # the permission class has refused such requests already
        raise PermissionDenied("You have no role in a clinic.", code="no_clinic_role")
    return m.clinic_id


class ClinicRole(permissions.BasePermission):
    """Allows a request when the user's role may perform the view's access on its resource.

    A view declares `resource` and, optionally, `access_by_action` (action name → access);
    otherwise safe methods are "read" and the others "write".
    """

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 (NotAuthenticated)
        m = membership(request)
        if m is None:
            raise PermissionDenied("You have no role in a clinic.", code="no_clinic_role")
        return allowed(m.role, view.resource, self.access(request, view))

    @staticmethod
    def access(request, view) -> str:
        action = getattr(view, "action", None)
        by_action = getattr(view, "access_by_action", {})
        if action in by_action:
            return by_action[action]
        if request.method in permissions.SAFE_METHODS:
            return "read"
        return getattr(view, "write_access", "write")
