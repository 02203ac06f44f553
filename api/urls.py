"""API v1 routes (mounted at /api/v1/ by mtxmonitor/urls.py)."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from api import views
from api.exceptions import json_not_found

app_name = "api"

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("prescriptions", views.PrescriptionViewSet, basename="prescription")
router.register("labs", views.LabResultViewSet, basename="labresult")
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = [
    *router.urls,
    path(
        "patients/<int:patient_id>/measurements/",
        views.PatientMeasurementsView.as_view(),
        name="patient-measurements",
    ),
    path("patients/<int:patient_id>/plan/", views.PatientPlanView.as_view(), name="patient-plan"),
    path(  # issue #15
        "patients/<int:patient_id>/plan/<int:event_id>/complete/",
        views.PlanEventCompleteView.as_view(),
        name="plan-event-complete",
    ),
    path(
        "patients/<int:patient_id>/timeline/",
        views.PatientTimelineView.as_view(),
        name="patient-timeline",
    ),
    path(
        "patients/<int:patient_id>/assessments/",
        views.PatientAssessmentsView.as_view(),
        name="patient-assessments",
    ),
    path(
        "patients/<int:patient_id>/adverse-events/",
        views.PatientAdverseEventsView.as_view(),
        name="patient-adverse-events",
    ),
    path("reports/cohort/", views.CohortReportView.as_view(), name="report-cohort"),
    path("dosing/calculate/", views.DoseCalculateView.as_view(), name="dosing-calculate"),
    # Anything else under /api/v1/: a 404 in the API's error shape, not an HTML page.
    re_path(r"^[\s\S]*$", json_not_found),
]
