"""The clinic staff's UI. Every model is scoped to the user's clinic (a superuser sees all).

Admin classes stay thin: validation is the models' `clean()` and the services in
`patients/services.py`, which call the clinical core.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from clinical import codes
from patients import choices, tenancy
from patients.admin_base import ClinicScopedMixin, ScopedAdmin
from patients.models import (
    AdverseEvent,
    Clinic,
    DiseaseAssessment,
    LabResult,
    Measurement,
    Patient,
    Prescription,
    StaffMembership,
)
from schedules.models import Alert, MonitoringEvent


# The base classes (clinic isolation, rights, read-only history) are in patients/admin_base.py.
# --- Inlines on the patient page ----------------------------------------------------------
class ScopedTabularInline(ClinicScopedMixin, admin.TabularInline):
    extra = 0
    show_change_link = True


class MeasurementInline(ScopedTabularInline):
    """Add a measurement here; a saved one is read-only (a correction supersedes it)."""

    model = Measurement
    fk_name = "patient"
    fields = ("measured_on", "weight_kg", "height_cm", "bsa_m2", "bsa_formula", "correction")
    readonly_fields = ("bsa_m2", "correction")
    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # append-only: existing rows are shown, new rows can be added

    @admin.display(description="correction")
    def correction(self, obj) -> str:
        return measurement_state(obj)


def measurement_state(obj) -> str:
    if obj is None or obj.pk is None:
        return ""
    try:
        nxt = obj.superseded_by
    except Measurement.DoesNotExist:
        nxt = None
    if nxt is not None:
        return f"superseded by {nxt} ({nxt.correction_reason})"
    if obj.supersedes_id:
        return f"corrects {obj.supersedes} ({obj.correction_reason})"
    return "current"


class ReadOnlyInline(ScopedTabularInline):
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CurrentMedicationInline(ReadOnlyInline):
    """The one current-medication list: the rows nobody superseded, not stopped (issue #13)."""

    model = Prescription
    fields = (
        "drug",
        "dose_mg",
        "frequency",
        "weekday",
        "route",
        "formulation",
        "state",
        "start_date",
        "reason",
    )
    readonly_fields = fields
    verbose_name = "current medication"
    verbose_name_plural = "Current medication"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(superseded_by__isnull=True)
            .exclude(status=codes.PrescriptionStatus.STOPPED.value)
            .order_by("drug", "-start_date")
        )

    @admin.display(description="state")
    def state(self, obj) -> str:
        return obj.state_label


class PrescriptionInline(ReadOnlyInline):
    model = Prescription
    fields = (
        "drug",
        "dose_mg",
        "frequency",
        "weekday",
        "route",
        "formulation",
        "state",
        "change",
        "start_date",
        "reason",
        "created_by",
    )
    readonly_fields = fields
    verbose_name_plural = "Prescriptions (whole history, newest first)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("superseded_by", "created_by")

    @admin.display(description="state")
    def state(self, obj) -> str:
        return obj.state_label


class LabResultInline(ReadOnlyInline):
    model = LabResult
    fields = (
        "collected_at",
        "analyte",
        "reported_value",
        "reported_unit",
        "value",
        "unit",
        "reference_high",
        "evaluable",
        "accession",
    )
    readonly_fields = fields
    verbose_name_plural = "Lab results"


def tests_text(tests: list[str]) -> str:
    from clinical.protocols import TEST_LABELS

    return ", ".join(TEST_LABELS.get(t, t) for t in tests)


class UpcomingMonitoringInline(ReadOnlyInline):
    model = MonitoringEvent
    fields = ("kind", "tests_display", "earliest", "target", "latest", "status", "explanation")
    readonly_fields = fields

    @admin.display(description="tests")
    def tests_display(self, obj) -> str:
        return tests_text(obj.tests)

    verbose_name_plural = "Upcoming monitoring"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status__in=MonitoringEvent.OPEN_STATUSES)


class OpenAlertInline(ReadOnlyInline):
    model = Alert
    fk_name = "patient"
    fields = ("severity", "rule", "message", "action", "status", "raised_at")
    readonly_fields = fields
    verbose_name_plural = "Open alerts"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status__in=Alert.ACTIVE_STATUSES)


class DiseaseAssessmentInline(ScopedTabularInline):
    model = DiseaseAssessment
    fields = ("assessed_on", "iga", "other_score_name", "other_score_value", "notes")


class AdverseEventInline(ScopedTabularInline):
    model = AdverseEvent
    fields = ("onset_date", "kind", "severity", "led_to_stop", "prescription", "description")


# --- Model admins -------------------------------------------------------------------------
@admin.register(Clinic)
class ClinicAdmin(ScopedAdmin):
    clinic_path = "id"
    list_display = (
        "name",
        "time_zone",
        "contact_email",
        "mtx_protocol",
        "mmf_protocol",
        "bsa_formula",
    )
    search_fields = ("name", "contact_email")
    list_filter = ("time_zone", "bsa_formula")


@admin.register(StaffMembership)
class StaffMembershipAdmin(ScopedAdmin):
    clinic_path = "clinic"
    list_display = ("user", "role", "clinic", "created_at")
    list_filter = ("role", "clinic")
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__email")
    autocomplete_fields = ("user",)


class RiskFactorFilter(admin.SimpleListFilter):
    title = "risk factor"
    parameter_name = "risk_factor"

    def lookups(self, request, model_admin):
        from patients.choices import RISK_FACTOR

        return RISK_FACTOR

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        # JSON "contains" is not on SQLite; a text match on the quoted code works everywhere.
        return queryset.filter(risk_factors__icontains=f'"{value}"')


class PatientForm(forms.ModelForm):
    """Risk factors as checkboxes of the known codes rather than raw JSON."""

    risk_factors = forms.MultipleChoiceField(
        choices=choices.RISK_FACTOR,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Any of these shortens the monitoring interval (see Clinical rules).",
    )

    class Meta:
        model = Patient
        fields = (
            "clinic",
            "mrn",
            "given_name",
            "family_name",
            "birth_date",
            "sex",
            "diagnosis",
            "risk_factors",
            "responsible_nurse",
        )


@admin.register(Patient)
class PatientAdmin(ScopedAdmin):
    form = PatientForm
    clinic_path = "clinic"
    list_display = (
        "mrn",
        "family_name",
        "given_name",
        "birth_date",
        "diagnosis",
        "responsible_nurse",
        "open_alerts",
        "next_test",
        "clinic",
    )
    list_filter = ("diagnosis", "sex", "clinic", RiskFactorFilter, "responsible_nurse")
    search_fields = ("mrn", "family_name", "given_name")
    date_hierarchy = "birth_date"
    inlines = [
        OpenAlertInline,
        UpcomingMonitoringInline,
        CurrentMedicationInline,
        MeasurementInline,
        PrescriptionInline,
        LabResultInline,
        DiseaseAssessmentInline,
        AdverseEventInline,
    ]

    def get_queryset(self, request):
        from django.db.models import Count, Min

        return (
            super()
            .get_queryset(request)
            .select_related("clinic", "responsible_nurse__user", "responsible_nurse__clinic")
            .annotate(
                _open_alerts=Count(
                    "alerts", filter=Q(alerts__status__in=Alert.ACTIVE_STATUSES), distinct=True
                ),
                _next_test=Min(
                    "monitoring_events__target",
                    filter=Q(monitoring_events__status__in=MonitoringEvent.OPEN_STATUSES),
                ),
            )
        )

    @admin.display(description="open alerts", ordering="_open_alerts")
    def open_alerts(self, obj) -> str:
        n = getattr(obj, "_open_alerts", 0)
        return format_html("<strong style='color:#b00'>{}</strong>", n) if n else "0"

    @admin.display(description="next test", ordering="_next_test")
    def next_test(self, obj):
        return getattr(obj, "_next_test", None)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superuser and "clinic" in form.base_fields:
            form.base_fields["clinic"].initial = tenancy.clinic_id_of(request.user)
        return form


class MeasurementForm(forms.ModelForm):
    class Meta:
        model = Measurement
        fields = (
            "patient",
            "measured_on",
            "weight_kg",
            "height_cm",
            "bsa_formula",
            "supersedes",
            "correction_reason",
        )


@admin.register(Measurement)
class MeasurementAdmin(ScopedAdmin):
    """Append-only: a saved measurement is read-only; "Correct" adds one that supersedes it."""

    form = MeasurementForm
    list_display = (
        "patient",
        "measured_on",
        "weight_kg",
        "height_cm",
        "bsa_m2",
        "bsa_formula",
        "state_display",
    )
    list_filter = ("bsa_formula", "measured_on")
    search_fields = ("patient__mrn", "patient__family_name")
    readonly_fields = ("bsa_m2",)
    autocomplete_fields = ("patient",)
    list_select_related = ("patient", "superseded_by", "supersedes")

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None:
            return False  # never edited in place: a correction supersedes it
        return super().has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        if obj is None:
            return MeasurementForm.Meta.fields
        return (
            "correct_display",
            "patient",
            "measured_on",
            "weight_kg",
            "height_cm",
            "bsa_m2",
            "bsa_formula",
            "state_display",
            "supersedes",
            "correction_reason",
            "recorded_by",
            "created_at",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return super().get_readonly_fields(request, obj)
        return [*self.get_fields(request, obj)]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "supersedes":
            field.queryset = field.queryset.filter(superseded_by__isnull=True).select_related(
                "patient"
            )
        return field

    @admin.display(description="state")
    def state_display(self, obj) -> str:
        return measurement_state(obj)

    @admin.display(description="correct")
    def correct_display(self, obj) -> str:
        if obj is None or obj.pk is None or measurement_state(obj).startswith("superseded"):
            return "—"
        url = reverse("admin:patients_measurement_add")
        return format_html(
            "<a class='button' href='{}?patient={}&amp;supersedes={}&amp;measured_on={}'>"
            "Record a correction</a> (a new measurement that supersedes this one, with a reason)",
            url,
            obj.patient_id,
            obj.pk,
            obj.measured_on,
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.recorded_by = request.user
            if obj.supersedes_id:
                obj._change_reason = f"correction: {obj.correction_reason}"
        super().save_model(request, obj, form, change)


@admin.register(LabResult)
class LabResultAdmin(ScopedAdmin):
    clinic_path = "clinic"
    list_display = (
        "patient",
        "analyte",
        "reported_value",
        "reported_unit",
        "value",
        "unit",
        "reference_high",
        "evaluable",
        "collected_at",
        "accession",
        "evaluated_at",
    )
    list_filter = ("analyte", "evaluable", "source", "collected_at")
    search_fields = ("patient__mrn", "patient__family_name", "accession", "loinc")
    readonly_fields = (
        "value",
        "unit",
        "comparator",
        "evaluable",
        "not_evaluable_reason",
        "version",
        "amended_at",
        "evaluated_version",
        "evaluated_at",
        "received_at",
    )
    autocomplete_fields = ("patient",)
    list_select_related = ("patient",)
    date_hierarchy = "collected_at"

    def save_model(self, request, obj, form, change):
        from patients.services import LAB_IDENTITY_FIELDS, dispatch_evaluation

        obj.source = obj.source or "admin"
        if change and set(form.changed_data) & set(LAB_IDENTITY_FIELDS):
            # Editing a stored result is an amendment: history kept, evaluated again.
            obj.version += 1
            obj.amended_at = timezone.now()
            obj.evaluated_version = None
        super().save_model(request, obj, form, change)
        dispatch_evaluation(obj.pk)


@admin.register(DiseaseAssessment)
class DiseaseAssessmentAdmin(ScopedAdmin):
    list_display = ("patient", "assessed_on", "iga", "other_score_name", "other_score_value")
    list_filter = ("iga",)
    search_fields = ("patient__mrn", "patient__family_name")
    autocomplete_fields = ("patient",)

    def save_model(self, request, obj, form, change):
        # Issue 19: an IGA in a response review's window completes the review: re-plan.
        from schedules.services import dispatch_replan

        if not obj.recorded_by_id:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)
        dispatch_replan(obj.patient_id)


@admin.register(AdverseEvent)
class AdverseEventAdmin(ScopedAdmin):
    list_display = ("patient", "onset_date", "kind", "severity", "led_to_stop", "prescription")
    list_filter = ("kind", "severity", "led_to_stop")
    search_fields = ("patient__mrn", "patient__family_name", "description")
    autocomplete_fields = ("patient",)


# --- Prescriptions: started through the checks, changed only by superseding ----------------
class PrescriptionStateFilter(admin.SimpleListFilter):
    """What a prescription is now: a superseded row is never "active" (issue #13)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("current", "Current (active or held)"),
            ("active", "Active"),
            ("held", "Held"),
            ("stopped", "Stopped"),
            ("superseded", "Superseded"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "superseded":
            return queryset.filter(superseded_by__isnull=False)
        queryset = queryset.filter(superseded_by__isnull=True)
        if value == "current":
            return queryset.exclude(status=codes.PrescriptionStatus.STOPPED.value)
        return queryset.filter(status=value)


class PrescriptionStartForm(forms.ModelForm):
    """The prescription form: every dosing check runs here; a hard stop is a field error.

    Leave the dose empty and give a basis (mg/kg or mg/m²) and amount to have it calculated
    from the latest measurement, rounded to the chosen product, with every step shown.
    """

    dose_mg = forms.DecimalField(
        label="Dose (mg)",
        required=False,
        max_digits=8,
        decimal_places=2,
        help_text="Methotrexate: per week. Mycophenolate: per dose. Empty: calculated from the "
        "basis and the latest measurement.",
    )

    class Meta:
        model = Prescription
        fields = (
            "patient",
            "drug",
            "basis",
            "basis_amount",
            "dose_mg",
            "frequency",
            "weekday",
            "route",
            "formulation",
            "start_date",
            "end_date",
            "protocol",
            "reason",
            "override_reason",
        )

    calculation = None
    check_warnings: list = []

    def _post_clean(self):
        pass  # validation is the service's (below), which also runs full_clean()

    def clean(self):
        from patients.prescriptions import dose_from_basis, prescription_preview

        data = super().clean()
        if self.errors:
            return data
        try:
            if data.get("dose_mg") is None:
                if not data.get("basis") or data.get("basis_amount") is None:
                    raise ValidationError(
                        {"dose_mg": "Give a dose, or a basis and amount to calculate it."}
                    )
                self.calculation = dose_from_basis(
                    patient=data["patient"],
                    drug=data["drug"],
                    basis=data["basis"],
                    amount=data["basis_amount"],
                    formulation=data.get("formulation") or "",
                    route=data.get("route") or "",
                    weekday=data.get("weekday") or "",
                    override_reason=data.get("override_reason") or "",  # issue #15
                )
                data["dose_mg"] = self.calculation.final_dose_mg
            self.check_warnings = prescription_preview(**self.service_kwargs(data))
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, msgs)
        return data

    @staticmethod
    def service_kwargs(data) -> dict:
        return {
            k: data.get(k)
            for k in (
                "patient",
                "drug",
                "dose_mg",
                "frequency",
                "weekday",
                "route",
                "formulation",
                "start_date",
                "basis",
                "basis_amount",
                "reason",
                "override_reason",
                "protocol",
                "end_date",
            )
        } | {
            k: data.get(k) or ""
            for k in (
                "weekday",
                "route",
                "formulation",
                "basis",
                "reason",
                "override_reason",
                "protocol",
            )
        }


class PrescriptionActionForm(forms.Form):
    effective_date = forms.DateField(help_text="YYYY-MM-DD")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept with the history."
    )
    dose_mg = forms.DecimalField(
        required=False,
        max_digits=8,
        decimal_places=2,
        help_text="Change dose: the new dose. Restart: optional (e.g. lower).",
    )
    override_reason = forms.CharField(required=False, help_text="Only to override a dose cap.")
    end_reason = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *choices.TREATMENT_END_REASON],
        help_text="Stop: why the treatment ended.",
    )


@admin.register(Prescription)
class PrescriptionAdmin(ScopedAdmin):
    list_display = (
        "patient",
        "drug",
        "dose_mg",
        "frequency",
        "weekday",
        "route",
        "formulation",
        "state_display",
        "change",
        "start_date",
        "is_current_display",
        "created_by",
    )
    list_filter = ("drug", PrescriptionStateFilter, "change", "route", "frequency")
    search_fields = ("patient__mrn", "patient__family_name", "reason")
    list_select_related = ("patient", "created_by", "superseded_by")
    autocomplete_fields = ("patient",)
    ACTIONS = ("change-dose", "hold", "restart", "stop", "mark-stable")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PrescriptionStartForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in Prescription._meta.fields] + [
            "chain_display",
            "actions_display",
            "titration_display",
            "state_display",
        ]

    def get_fields(self, request, obj=None):
        if obj is None:
            return PrescriptionStartForm.Meta.fields
        return (
            "actions_display",
            "patient",
            "drug",
            "dose_mg",
            "frequency",
            "weekday",
            "route",
            "formulation",
            "basis",
            "basis_amount",
            "state_display",
            "status",
            "change",
            "start_date",
            "end_date",
            "reason",
            "end_reason",
            "override_reason",
            "protocol",
            "stable_marked_on",
            "warnings",
            "created_by",
            "created_at",
            "chain_display",
            "titration_display",
        )

    @admin.display(description="current", boolean=True)
    def is_current_display(self, obj) -> bool:
        return obj.is_current

    @admin.display(description="state", ordering="status")
    def state_display(self, obj) -> str:
        return obj.state_label

    @admin.display(description="history of this treatment")
    def chain_display(self, obj) -> str:
        rows = format_html_join(
            "",
            "<li>{} — {}: {} mg, {} ({}) — {}</li>",
            (
                (
                    p.start_date,
                    p.get_change_display(),
                    p.dose_mg,
                    p.state_label,
                    p.created_by or "system",
                    p.reason,
                )
                for p in obj.chain()
            ),
        )
        return format_html("<ol>{}</ol>", rows)

    @admin.display(description="mycophenolate titration plan")
    def titration_display(self, obj) -> str:
        """The dated steps to the target dose (clinical.titration), for mycophenolate only."""
        from clinical.titration import ADULT_MMF, PAEDIATRIC_MMF, titration_plan
        from clinical.types import ClinicalInputError

        if obj.drug != "mycophenolate_mofetil":
            return "—"
        start = obj.chain()[0].start_date
        latest = obj.patient.measurements.current().order_by("-measured_on", "-id").first()
        egfr = (
            obj.patient.lab_results.filter(analyte="egfr", evaluable=True)
            .order_by("-collected_at")
            .values_list("value", flat=True)
            .first()
        )
        child = obj.patient.age_years(start) < 18
        try:
            steps = titration_plan(
                PAEDIATRIC_MMF if child else ADULT_MMF,
                start,
                bsa_m2=latest.bsa_m2 if latest else None,
                egfr=egfr,
            )
        except ClinicalInputError as exc:
            return f"Cannot plan: {exc.field}: {exc.reason}"
        protocol = PAEDIATRIC_MMF if child else ADULT_MMF
        rows = format_html_join(
            "",
            "<li>{}: {} mg × {}/day ({} mg/day) — {}</li>",
            (
                (
                    st.date,
                    st.mg_per_administration,
                    st.administrations_per_day,
                    st.mg_per_day,
                    st.reason,
                )
                for st in steps
            ),
        )
        return format_html(
            "<ol>{}</ol><p>{}: {}</p>", rows, protocol.description, protocol.source.cite()
        )

    @admin.display(description="actions")
    def actions_display(self, obj) -> str:
        if not obj.is_current:
            return format_html(
                "Superseded by <a href='../../{}/change/'>a later prescription</a>.",
                obj.superseded_by.pk,
            )
        allowed = {
            "active": ["change-dose", "hold", "stop", "mark-stable"],
            "held": ["restart", "stop"],
            "stopped": [],
        }[obj.status]
        return (
            format_html_join(
                " · ",
                "<a class='button' href='act/{}/'>{}</a>",
                ((a, a.replace("-", " ").capitalize()) for a in allowed),
            )
            or "—"
        )

    def save_model(self, request, obj, form, change):
        from patients.prescriptions import prescription_start

        if change:
            return super().save_model(request, obj, form, change)
        out = prescription_start(**form.service_kwargs(form.cleaned_data), user=request.user)
        # The admin goes on with `obj` (log entry, redirect): make it the row the service saved.
        obj.__dict__.update(out.prescription.__dict__)
        if form.calculation is not None:
            steps = "; ".join(f"{s.name}: {s.value}" for s in form.calculation.steps)
            self.message_user(
                request, f"Calculated: {form.calculation.administration}. {steps}", messages.INFO
            )
        for w in out.warnings:
            self.message_user(
                request, f"Warning {w.code}: {w.message} ({w.source.cite()})", messages.WARNING
            )

    def save_related(self, request, form, formsets, change):
        pass  # no inlines or m2m on a prescription

    def get_urls(self):
        return [
            path(
                "<int:pk>/act/<str:action>/",
                self.admin_site.admin_view(self.act_view),
                name="patients_prescription_act",
            ),
            *super().get_urls(),
        ]

    def act_view(self, request, pk: int, action: str):
        from patients import prescriptions as svc

        rx = self.get_queryset(request).filter(pk=pk).first()
        if rx is None or action not in self.ACTIONS:
            raise Http404("No such prescription or action.")
        if not self.has_change_permission(request, rx):
            raise PermissionDenied
        form = PrescriptionActionForm(
            request.POST or None, initial={"effective_date": rx.patient.clinic.today()}
        )
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            common = {
                "prescription": rx,
                "effective_date": d["effective_date"],
                "reason": d["reason"],
                "user": request.user,
            }
            try:
                if action == "mark-stable":
                    rx.stable_marked_on = d["effective_date"]
                    rx._change_reason = d["reason"]
                    rx.save()
                    svc._after_change(rx)
                    out = svc.PrescriptionOutcome(rx, [])
                elif action == "change-dose":
                    out = svc.prescription_change_dose(
                        **common, dose_mg=d["dose_mg"], override_reason=d["override_reason"]
                    )
                elif action == "hold":
                    out = svc.prescription_hold(**common)
                elif action == "restart":
                    out = svc.prescription_restart(
                        **common, dose_mg=d["dose_mg"], override_reason=d["override_reason"]
                    )
                else:
                    out = svc.prescription_stop(**common, end_reason=d["end_reason"])
            except ValidationError as exc:
                for field, msgs in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, msgs)
            else:
                for w in out.warnings:
                    self.message_user(
                        request,
                        f"Warning {w.code}: {w.message} ({w.source.cite()})",
                        messages.WARNING,
                    )
                self.message_user(
                    request, f"{action.replace('-', ' ').capitalize()} recorded.", messages.SUCCESS
                )
                return redirect("admin:patients_prescription_change", out.prescription.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": rx,
            "form": form,
            "action": action.replace("-", " "),
            "title": f"{action.replace('-', ' ').capitalize()}: {rx}",
        }
        return TemplateResponse(request, "admin/patients/prescription/act.html", context)
