"""Who may use the workspace, and the one way a page finds a clinic's record.

Every page acts inside the user's clinic (`patients.tenancy`): a record of another clinic is
not found (404), its existence never confirmed, for every role. Writes follow the staff UI's
role matrix (`patients.tenancy.WRITE_ROLES`): a viewer reads, a nurse records labs and handles
alerts, a clinician also prescribes.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from patients.models import Patient, Prescription
from patients.tenancy import STAFF_UI_ROLES, may_write, membership_of
from schedules.models import Alert


def staff_page(view):
    """A workspace page: logged in, with a clinician, nurse or viewer role in a clinic."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        m = membership_of(request.user)
        if m is None or m.role not in STAFF_UI_ROLES:
            raise PermissionDenied(
                "The workspace shows one clinic's records: you have no clinician, nurse or "
                "viewer role in a clinic."
            )
        request.membership = m
        request.clinic = m.clinic
        with timezone.override(m.clinic.tz):  # dates shown in the clinic's zone
            return view(request, *args, **kwargs)

    return wrapper


def require_write(request, model_name: str) -> None:
    if not may_write(request.user, model_name):
        raise PermissionDenied(
            f"Your role ({request.membership.get_role_display()}) cannot do this."
        )


def can(request, model_name: str) -> bool:
    return may_write(request.user, model_name)


def clinic_patient(request, patient_id: int) -> Patient:
    return get_object_or_404(
        Patient.objects.select_related("clinic", "responsible_nurse__user"),
        pk=patient_id,
        clinic_id=request.membership.clinic_id,
    )


def clinic_prescription(request, patient: Patient, prescription_id: int) -> Prescription:
    return get_object_or_404(Prescription, pk=prescription_id, patient=patient)


def clinic_alert(request, alert_id: int) -> Alert:
    alert = (
        Alert.objects.select_related("patient", "lab_result", "acknowledged_by", "resolved_by")
        .filter(pk=alert_id, clinic_id=request.membership.clinic_id)
        .first()
    )
    if alert is None:
        raise Http404("No such alert in your clinic.")
    return alert
