"""The monitoring plan, the alert worklist and the notification ledger in the staff UI."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from patients import tenancy
from patients.admin_base import ScopedAdmin, ScopedModelAdmin
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
        else:
            fields += ["completion_reason", "completion_note", "completed_by", "completed_at"]
        return fields

    # --- issue #15: complete a baseline or routine test with a reason ---------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)

        class CompletionForm(form):
            def clean(self):
                from django.core.exceptions import ValidationError

                from schedules.services import validate_completion

                data = super().clean()
                reason = data.get("completion_reason")
                if reason and self.instance.status in MonitoringEvent.OPEN_STATUSES:
                    try:
                        data["completed_on"] = validate_completion(
                            self.instance,
                            reason=reason,
                            done_on=data.get("completed_on"),
                            note=(data.get("completion_note") or "").strip(),
                            today=self.instance.patient.clinic.today(),
                        )
                    except ValidationError as exc:
                        raise ValidationError(
                            {
                                ("completed_on" if k == "done_on" else f"completion_{k}"): v
                                for k, v in exc.message_dict.items()
                            }
                        ) from exc
                return data

        return CompletionForm

    def save_model(self, request, obj, form, change):
        from schedules.services import apply_completion, dispatch_replan

        if obj.completion_reason and "completion_reason" in form.changed_data:
            apply_completion(
                obj,
                reason=obj.completion_reason,
                done_on=form.cleaned_data["completed_on"],
                note=(obj.completion_note or "").strip(),
                user=request.user,
                today=obj.patient.clinic.today(),
            )
            obj._change_reason = f"completed with a reason by {request.user}"
        elif "completed_on" in form.changed_data and obj.completed_on:
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
        "acknowledge_note",
        "resolve_note",
        "actions_display",
    )
    fields = ("actions_display", *readonly_fields[:-1])
    # Acknowledge and resolve are steps with a required note (schedules.services), never a
    # field edit: the change page is read-only and the steps are buttons (issue #13).
    ACTIONS = ("acknowledge", "resolve")

    def has_add_permission(self, request, *args) -> bool:
        return False  # alerts come from the lab rules

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only: see may_act()

    def may_act(self, request, obj) -> bool:
        return tenancy.staff_may(request.user, "alert", "act") and self.object_in_clinic(
            request, obj
        )

    @staticmethod
    def steps_for(obj) -> list[str]:
        if obj.status == Alert.Status.OPEN:
            return ["acknowledge", "resolve"]
        if obj.status == Alert.Status.ACKNOWLEDGED:
            return ["resolve"]
        return []

    @admin.display(description="next step")
    def actions_display(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "—"
        steps = self.steps_for(obj)
        if not steps:
            return f"{obj.get_status_display()}: nothing left to do (read-only)."
        return format_html_join(
            " · ",
            "<a class='button' href='{}'>{}</a>",
            (
                (reverse("admin:schedules_alert_act", args=[obj.pk, step]), step.capitalize())
                for step in steps
            ),
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/act/<str:action>/",
                self.admin_site.admin_view(self.act_view),
                name="schedules_alert_act",
            ),
            *super().get_urls(),
        ]

    def act_view(self, request, pk: int, action: str):
        from schedules import services

        alert = self.get_queryset(request).filter(pk=pk).first()
        if alert is None or action not in self.ACTIONS:
            raise Http404("No such alert or step.")
        if not self.may_act(request, alert):
            raise PermissionDenied
        form = AlertStepForm(request.POST or None)
        if action not in self.steps_for(alert):
            form = None
        elif request.method == "POST" and form.is_valid():
            step = services.alert_acknowledge if action == "acknowledge" else services.alert_resolve
            try:
                step(alert=alert, user=request.user, note=form.cleaned_data["note"])
            except ValidationError as exc:
                for field, msgs in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, msgs)
            else:
                done = "acknowledged" if action == "acknowledge" else "resolved"
                self.message_user(request, f"Alert {done}.", messages.SUCCESS)
                return redirect("admin:schedules_alert_change", alert.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": alert,
            "form": form,
            "action": action,
            "title": f"{action.capitalize()}: {alert}",
        }
        return TemplateResponse(request, "admin/schedules/alert/act.html", context)
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


class AlertStepForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required: what was done or decided (kept with the alert's history).",
    )


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
class NotificationAdmin(ScopedModelAdmin):
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
        from audit.log import record  # issue 14: the Resend is in the access log

        record(
            "resend",
            request=request,
            detail={"notifications": ids, "queued": n},
            clinic_id=getattr(queryset.first(), "clinic_id", None),
        )
        skipped = len(ids) - n
        text = f"{n} notification(s) queued to be sent again (same content, new Message-ID)."
        if skipped:
            text += f" {skipped} not failed or sent (pending, sending or skipped) left as they are."
        self.message_user(request, text, messages.SUCCESS if n else messages.WARNING)


# --- Calendar feeds (issue 17 item 6) -----------------------------------------------------------
from django import forms  # noqa: E402

from patients.models import StaffMembership  # noqa: E402
from schedules.models import CalendarFeed  # noqa: E402


class CalendarFeedForm(forms.ModelForm):
    class Meta:
        model = CalendarFeed
        fields = ("clinic", "nurse")

    only_nurse = None  # set for a nurse: she makes her own feed only

    def clean(self):
        data = super().clean()
        clinic, nurse = data.get("clinic"), data.get("nurse")
        if self.only_nurse is not None and nurse != self.only_nurse:
            self.add_error(
                "nurse", "a nurse makes her own feed only (a clinic's feed: ask a clinician)."
            )
        elif clinic and nurse and nurse.clinic_id != clinic.pk:
            self.add_error("nurse", "must be a nurse of the feed's clinic.")
        return data


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ScopedModelAdmin):
    """Clinicians make and rotate their clinic's feeds; a nurse makes, sees and rotates her own.

    The URL (with its token) is shown once, in the message after it was made or rotated."""

    clinic_path = "clinic"
    form = CalendarFeedForm
    list_display = ("__str__", "kind", "clinic", "created_at", "rotated_at")
    list_filter = ("clinic",)
    actions = ["rotate_tokens"]

    def _nurse(self, request):
        m = tenancy.membership_of(request.user)
        if request.user.is_superuser or m is None or m.role != m.Role.NURSE:
            return None
        return m

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("clinic", "nurse__user")
        nurse = self._nurse(request)
        return qs.filter(nurse=nurse) if nurse else qs

    def has_add_permission(self, request, *args) -> bool:
        return tenancy.may_write(request.user, "calendarfeed") or bool(self._nurse(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        nurse = self._nurse(request)
        if nurse is not None:
            form = type("NurseCalendarFeedForm", (form,), {"only_nurse": nurse})
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        nurse = self._nurse(request)
        if nurse is not None and field is not None:
            # After the clinic scoping above: a nurse picks only herself and her clinic.
            if db_field.name == "nurse":
                field.queryset = StaffMembership.objects.filter(pk=nurse.pk)
                field.initial = nurse.pk
            elif db_field.name == "clinic":
                field.initial = nurse.clinic_id
        return field

    def has_change_permission(self, request, obj=None) -> bool:
        if tenancy.may_write(request.user, "calendarfeed"):
            return self.object_in_clinic(request, obj)
        nurse = self._nurse(request)
        return bool(nurse) and (obj is None or obj.nurse_id == nurse.pk)

    def has_delete_permission(self, request, obj=None) -> bool:
        return tenancy.may_write(request.user, "calendarfeed") and self.object_in_clinic(
            request, obj
        )

    def get_readonly_fields(self, request, obj=None):
        return ("clinic", "nurse", "created_at", "rotated_at") if obj else ()

    def save_model(self, request, obj, form, change):
        from schedules.calendar import feed_rotate, feed_url

        if change:
            return  # nothing is editable: rotate with the action
        feed, token = feed_rotate(clinic=obj.clinic, nurse=obj.nurse)
        obj.pk = feed.pk
        self.message_user(
            request,
            f"{feed}: {feed_url(feed, token)} — copy it now, it is shown only once.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Rotate the secret token (the old URL stops working)", permissions=["change"]
    )
    def rotate_tokens(self, request, queryset):
        from schedules.calendar import feed_rotate, feed_url

        for feed in queryset:
            feed, token = feed_rotate(clinic=feed.clinic, nurse=feed.nurse)
            self.message_user(
                request,
                f"{feed}: new URL {feed_url(feed, token)} — copy it now, it is shown only once; "
                "the old URL no longer works.",
                messages.SUCCESS,
            )
