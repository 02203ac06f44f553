from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from mtxmonitor.rules_view import clinical_rules

admin.site.site_header = "mtxmonitor"
admin.site.site_title = "mtxmonitor"
admin.site.index_title = "Methotrexate and mycophenolate monitoring"

urlpatterns = [
    path("admin/clinical-rules/", clinical_rules, name="clinical-rules"),
    path("admin/", admin.site.urls),
    path("staff/reports/", include("reports.urls")),  # issue 19: the cohort report page
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Vendored Swagger UI, its init script a same-origin file: runs under the CSP (issue #13).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("api.urls")),
    # Nurse and clinic iCalendar feeds, a secret token in the URL (issue 17 item 6).
    path("calendar/", include("schedules.urls")),
    # Second factor for staff (issue 14): /account/otp/ and /account/otp/setup/.
    path("account/", include("accounts.urls")),
    # Clinic workspace for clinicians and nurses (issue #17).
    path("staff/", include("workspace.urls")),
]
