"""Records reads of patient records (issue 14, item 7): the admin's patient list, change and
history pages, and the API's patient, lab, alert and prescription answers, one row per patient
shown. Only successful reads (2xx GET) by a signed-in user are recorded; a 404 showed nothing.
"""

from __future__ import annotations

import json

from audit.log import record_reads

# API answers whose patients are named by URL argument.
_API_BY_URL = {
    "api:patient-detail": "pk",
    "api:patient-measurements": "patient_id",
    "api:patient-plan": "patient_id",
    "api:patient-timeline": "patient_id",
    # The clinic workspace's patient pages (issue 17): the chart and everything opened from it.
    "workspace:chart": "patient_id",
    "workspace:timeline": "patient_id",
    "workspace:prescribe-start": "patient_id",
    "workspace:prescribe-action": "patient_id",
    "workspace:lab-entry": "patient_id",
}
# API answers whose patients are in the body: (field holding the patient id).
_API_BY_BODY = {
    "api:patient-list": "id",
    "api:labresult-list": "patient",
    "api:labresult-detail": "patient",
    "api:labresult-history": "patient",
    "api:alert-list": "patient",
    "api:alert-detail": "patient",
    "api:prescription-list": "patient",
    "api:prescription-detail": "patient",
}
_ADMIN_PATIENT_PAGES = {"admin:patients_patient_change", "admin:patients_patient_history"}


def _body(response):
    data = getattr(response, "data", None)
    if data is None:
        try:
            data = json.loads(response.content)
        except (ValueError, AttributeError):
            return []
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"]
    if isinstance(data, list):
        return data
    return [data]


def _ids(values) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, dict):  # a nested patient
            v = v.get("id")
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            continue
    return out


def patients_shown(request, response) -> list[int]:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return []
    name = match.view_name
    if name in _API_BY_URL:
        return _ids([match.kwargs.get(_API_BY_URL[name])])
    if name in _API_BY_BODY:
        field = _API_BY_BODY[name]
        return _ids(item.get(field) for item in _body(response) if isinstance(item, dict))
    if name in _ADMIN_PATIENT_PAGES:
        return _ids([match.kwargs.get("object_id")])
    if name == "admin:patients_patient_changelist":
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        return [p.pk for p in cl.result_list] if cl is not None else []
    return []


class PatientReadAuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method in ("GET", "HEAD") and 200 <= response.status_code < 300:
            user = getattr(request, "user", None)
            if getattr(user, "is_authenticated", False):
                ids = patients_shown(request, response)
                if ids:
                    record_reads(request, _with_clinics(request, user, ids))
        return response


def _with_clinics(request, user, ids: list[int]) -> list[tuple[int, int | None]]:
    """Each patient with its clinic. The API shows only the user's own clinic's patients
    (api/permissions.py), so there it is the user's clinic, read without a query."""
    from patients.models import Patient
    from patients.tenancy import clinic_id_of

    if request.path_info.startswith("/api/") and not user.is_superuser:
        clinic_id = clinic_id_of(user)
        if clinic_id is not None:
            return [(pid, clinic_id) for pid in ids]

    clinics = dict(Patient.objects.filter(pk__in=ids).values_list("pk", "clinic_id"))
    return [(pid, clinics.get(pid)) for pid in ids if pid in clinics]
