"""The monitoring plan, the alert worklist and the notification ledger in the staff UI."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from patients.admin import ScopedAdmin
from schedules.models import Alert, MonitoringEvent, Notification


@admin.register(MonitoringEvent)
class MonitoringEventAdmin(ScopedAdmin):
    list_display = (
        "patient",
        "kind",
        "drug",
        "tests_list",
        "earliest",
        "target",
        "latest",
        "status",
        "completed_on",
        "explanation",
    )
    list_filter = ("status", "kind", "drug", "protocol")
    search_fields = ("patient__mrn", "patient__family_name", "explanation")
    date_hierarchy = "target"
    list_select_related = ("patient",)
    readonly_fields = (
        "patient",
        "prescription",
        "drug",
        "key",
        "kind",
        "tests",
        "earliest",
        "target",
        "latest",
        "status",
        "completed_on",
        "phase",
        "explanation",
        "protocol",
        "source",
        "alert",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request, *args) -> bool:
        return False  # events come from the planner

    @admin.display(description="tests")
    def tests_list(self, obj) -> str:
        return ", ".join(obj.tests)


class AlertAgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [("1", "under 1 day"), ("7", "1–7 days"), ("old", "over 7 days")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "1":
            return queryset.filter(raised_at__gte=now - timedelta(days=1))
        if self.value() == "7":
            return queryset.filter(
                raised_at__lt=now - timedelta(days=1), raised_at__gte=now - timedelta(days=7)
            )
        if self.value() == "old":
            return queryset.filter(raised_at__lt=now - timedelta(days=7))
        return queryset


SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@admin.register(Alert)
class AlertAdmin(ScopedAdmin):
    """The alert worklist: open alerts first by severity, then the oldest first."""

    list_display = (
        "severity_badge",
        "patient",
        "rule",
        "message",
        "action",
        "status",
        "age",
        "raised_at",
        "acknowledged_by",
    )
    list_filter = ("status", "severity", AlertAgeFilter, "rule")
    search_fields = ("patient__mrn", "patient__family_name", "rule", "message")
    list_select_related = ("patient", "acknowledged_by")
    readonly_fields = (
        "patient",
        "lab_result",
        "result_version",
        "rule",
        "severity",
        "status",
        "message",
        "action",
        "source",
        "details",
        "raised_at",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_by",
        "resolved_at",
        "superseded_by",
    )
    fields = (*readonly_fields, "acknowledge_note", "resolve_note")

    def has_add_permission(self, request, *args) -> bool:
        return False  # alerts come from the lab rules

    def get_queryset(self, request):
        from django.db.models import Case, IntegerField, Value, When

        return (
            super()
            .get_queryset(request)
            .annotate(
                _severity_rank=Case(
                    *(When(severity=s, then=Value(r)) for s, r in SEVERITY_RANK.items()),
                    output_field=IntegerField(),
                )
            )
            .order_by("_severity_rank", "raised_at")
        )

    def changelist_view(self, request, extra_context=None):
        # Open the worklist on what needs a human: open alerts, unless the user filtered.
        if not request.GET and request.method == "GET":
            q = request.GET.copy()
            q["status__exact"] = "open"
            request.GET = q
            request.META["QUERY_STRING"] = q.urlencode()
        return super().changelist_view(request, extra_context)

    @admin.display(description="severity", ordering="_severity_rank")
    def severity_badge(self, obj) -> str:
        colour = {"critical": "#b00", "warning": "#b60", "info": "#06b"}.get(obj.severity, "#333")
        return format_html("<strong style='color:{}'>{}</strong>", colour, obj.severity.upper())

    @admin.display(description="age")
    def age(self, obj) -> str:
        delta = timezone.now() - obj.raised_at
        if delta.days >= 1:
            return f"{delta.days} d"
        return f"{delta.seconds // 3600} h"

    def save_model(self, request, obj, form, change):
        from schedules import services

        if "acknowledge_note" in form.changed_data and obj.acknowledge_note.strip():
            services.alert_acknowledge(alert=obj, user=request.user, note=obj.acknowledge_note)
        if "resolve_note" in form.changed_data and obj.resolve_note.strip():
            services.alert_resolve(alert=obj, user=request.user, note=obj.resolve_note)


@admin.register(Notification)
class NotificationAdmin(ScopedAdmin):
    clinic_path = "clinic"
    list_display = (
        "created_at",
        "kind",
        "to_email",
        "patient",
        "state",
        "attempts",
        "sent_at",
        "last_error",
    )
    list_filter = ("state", "kind", "clinic")
    search_fields = ("to_email", "key", "patient__mrn", "message_id")
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["resend"]

    def has_add_permission(self, request, *args) -> bool:
        return False

    @admin.action(description="Resend selected failed notifications")
    def resend(self, request, queryset):
        n = queryset.filter(state=Notification.State.FAILED).update(
            state=Notification.State.PENDING, next_attempt_at=timezone.now(), attempts=0
        )
        self.message_user(request, f"{n} notification(s) queued again.", messages.SUCCESS)
