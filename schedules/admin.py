"""The monitoring plan, the alert worklist and the notification ledger in the staff UI."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from patients.admin import ScopedAdmin
from schedules.models import Alert, MonitoringEvent, Notification, Reminder


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

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None and obj.status in MonitoringEvent.OPEN_STATUSES:
            # Staff record a test done elsewhere (chest X-ray, serology) or a review held.
            fields.remove("completed_on")
        return fields

    def save_model(self, request, obj, form, change):
        from schedules.services import dispatch_replan

        if "completed_on" in form.changed_data and obj.completed_on:
            obj.status = MonitoringEvent.Status.DONE
            obj._change_reason = f"recorded done by {request.user}"
        super().save_model(request, obj, form, change)
        dispatch_replan(obj.patient_id)

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

    # --- issue 19: an alert's finding recorded as an adverse event (outcomes registry) -------
    actions = ["record_adverse_event"]

    @admin.action(description="Record as adverse event (e.g. transaminitis from a liver alert)")
    def record_adverse_event(self, request, queryset):
        from django.core.exceptions import ValidationError

        from patients.services import adverse_event_from_alert
        from patients.tenancy import may_write

        if not may_write(request.user, "adverseevent"):
            self.message_user(request, "Your role may not record adverse events.", messages.ERROR)
            return
        made = kept = 0
        for alert in queryset.select_related("patient__clinic", "lab_result"):
            try:
                _event, created = adverse_event_from_alert(alert=alert, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{alert.patient}: {exc.messages[0]}", messages.WARNING)
                continue
            made, kept = made + created, kept + (not created)
        if made or kept:
            self.message_user(
                request,
                f"{made} adverse event(s) recorded (severity moderate: change it on the event if "
                f"needed); {kept} already recorded for that patient, kind and date.",
                messages.SUCCESS,
            )

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


class NotificationReminderInline(admin.TabularInline):
    """The reminders a digest carried (read-only: the ledger is written by the sweep)."""

    model = Reminder
    fk_name = "notification"
    fields = ("phase", "patient", "event", "target", "latest", "due_on", "key")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "Reminders in this e-mail"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ScopedAdmin):
    """The notification ledger: every e-mail, its state, attempts and last error (issue #5)."""

    clinic_path = "clinic"
    list_display = (
        "created_at",
        "kind",
        "for_date",
        "to_email",
        "patient",
        "state_badge",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )
    list_filter = ("state", "kind", "clinic")
    search_fields = ("to_email", "key", "patient__mrn", "message_id")
    list_select_related = ("patient",)
    readonly_fields = [f.name for f in Notification._meta.fields]
    inlines = [NotificationReminderInline]
    actions = ["resend"]

    def has_add_permission(self, request, *args) -> bool:
        return False

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj) -> str:
        colour = {"failed": "#b00", "pending": "#b60", "sending": "#06b"}.get(obj.state, "#333")
        return format_html("<strong style='color:{}'>{}</strong>", colour, obj.get_state_display())

    @admin.action(
        description="Resend selected failed or sent notifications", permissions=["change"]
    )
    def resend(self, request, queryset):
        from schedules.mail import resend

        ids = list(queryset.values_list("id", flat=True))
        n = resend(ids)
        skipped = len(ids) - n
        text = f"{n} notification(s) queued to be sent again (same content, new Message-ID)."
        if skipped:
            text += f" {skipped} not failed or sent (pending, sending or skipped) left as they are."
        self.message_user(request, text, messages.SUCCESS if n else messages.WARNING)
