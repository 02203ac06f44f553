"""Who may do what through the API: one clinic per user, and a role in it.

Tenancy: every queryset of a view is filtered to the user's clinic (`clinic_id_of`), so another
clinic's object is simply not found (404) - its existence is never confirmed.
Roles (StaffMembership.Role), by resource and access:

| resource     | read                         | write                 | act (ack/resolve) |
|--------------|------------------------------|-----------------------|-------------------|
| patient      | all four roles               | clinician             |                   |
| plan         | all four roles               |                       | clinician, nurse (complete with a reason) |
| alert        | all four roles               |                       | clinician, nurse  |
| lab          | all four roles               | clinician, nurse, integration |           |
| measurement  | clinician, nurse, viewer     | clinician, nurse      |                   |
| prescription | clinician, nurse, viewer     | clinician             |                   |
| timeline     | clinician, nurse, viewer     |                       |                   |
| dosing       | clinician, nurse, viewer     | (a calculation is a read: it stores nothing) |
| assessment   | clinician, nurse, viewer     | clinician             |                   |
| adverse event| clinician, nurse, viewer     | clinician, nurse      |                   |
| report       | clinician, nurse, viewer     |                       |                   |

A user without a clinic role (a superuser included) gets 403: the API acts only inside a clinic.
The table itself is `patients.tenancy.RIGHTS`, which the staff UI (the Django admin) uses too.
"""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from patients import tenancy
from patients.models import StaffMembership
from patients.tenancy import RIGHTS, membership_of

# The one table of rights, shared with the staff UI (patients/tenancy.py).
MATRIX = RIGHTS
ALL, STAFF, CLINICIAN = tenancy.ALL, tenancy.STAFF, tenancy.CLINICIAN


def allowed(role: str, resource: str, access: str) -> bool:
    return tenancy.allowed(role, resource, access)


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
