"""Staff pages of the reports app (mounted at /staff/reports/ by mtxmonitor/urls.py)."""

from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [path("cohort/", views.cohort_page, name="cohort")]
