"""The access log in the staff UI: read-only, a clinic's clinicians see their clinic's rows."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AccessLog
from patients import tenancy

AUDIT_ROLES = frozenset({tenancy.Role.CLINICIAN})


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "username", "patient_id", "view", "method", "address")
    list_filter = ("action", "at")
    search_fields = ("username", "path", "view", "address", "patient__mrn")
    date_hierarchy = "at"
    list_per_page = 100
    show_full_result_count = False

    def get_queryset(self, request):
        return tenancy.scope(super().get_queryset(request), request.user, "clinic_id")

    def has_module_permission(self, request) -> bool:
        m = tenancy.membership_of(request.user)
        return request.user.is_superuser or bool(m and m.role in AUDIT_ROLES)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
