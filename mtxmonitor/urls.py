from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mtxmonitor.rules_view import clinical_rules

admin.site.site_header = "mtxmonitor"
admin.site.site_title = "mtxmonitor"
admin.site.index_title = "Methotrexate and mycophenolate monitoring"

urlpatterns = [
    path("admin/clinical-rules/", clinical_rules, name="clinical-rules"),
    path("admin/", admin.site.urls),
    path("staff/reports/", include("reports.urls")),  # issue 19: the cohort report page
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("api.urls")),
]
