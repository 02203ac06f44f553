"""The clinic workspace, mounted at /staff/ (mtxmonitor/urls.py)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from workspace import views

app_name = "workspace"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="workspace/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.today, name="today"),
    path("work/<slug:kind>/", views.work_list, name="work-list"),
    path("patients/", views.patient_list, name="patients"),
    path("patients/<int:patient_id>/", views.chart, name="chart"),
    path("patients/<int:patient_id>/timeline/", views.timeline, name="timeline"),
    path(
        "patients/<int:patient_id>/prescribe/",
        views.prescribe_start,
        name="prescribe-start",
    ),
    path(
        "patients/<int:patient_id>/prescriptions/<int:prescription_id>/<slug:action>/",
        views.prescribe_action,
        name="prescribe-action",
    ),
    path("patients/<int:patient_id>/labs/<slug:panel>/", views.lab_entry, name="lab-entry"),
    path("calendar/", views.calendar, name="calendar"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/acknowledge/", views.alerts_bulk_acknowledge, name="alerts-acknowledge"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert"),
    path("alerts/<int:alert_id>/<slug:action>/", views.alert_act, name="alert-act"),
]
