"""Query filters (django-filter). A value that is not valid for its filter is a 400 naming it."""

from __future__ import annotations

import datetime as dt
import functools

import django_filters as df
from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import extend_schema_field

from clinical import codes
from patients.models import LabResult, Patient, Prescription
from schedules.models import Alert, MonitoringEvent


def _choices(enum) -> list[tuple[str, str]]:
    return [(m.value, m.value) for m in enum]


class StrictBooleanField(forms.Field):
    """true/false (or 1/0); anything else is an error, not "no filter" as django-filter has it."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError("must be true or false.", code="invalid") from None


class BooleanFilter(df.BooleanFilter):
    field_class = StrictBooleanField


class UtcDateTimeField(IsoDateTimeField):
    """ISO 8601 with an offset, converted to UTC (PostgreSQL refuses offsets beyond ±15:59,
    e.g. +21:33, which Python accepts); a naive time is refused rather than guessed."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError("is not an ISO 8601 date-time.", code="invalid")
        if timezone.is_naive(parsed):
            raise forms.ValidationError(
                "needs a time-zone offset (ISO 8601, e.g. 2026-03-02T08:15:00+01:00).",
                code="naive_datetime",
            )
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError("is out of range.", code="invalid") from None


class DateTimeFilter(df.IsoDateTimeFilter):
    field_class = UtcDateTimeField


MAX_ID = 2**63 - 1


class IdFilter(df.NumberFilter):
    """A record id: a whole number from 1, else a 400 (not a database error)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


IdFilter = extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})(IdFilter)


class StrictFilterSet(df.FilterSet):
    """A parameter given empty (`?status=`) is an error for every typed filter: it is neither a
    value nor absent. (A text filter's empty value means "no filter", as usual.)

    Subclasses declare only filters whose form fields are fixed (no queryset or request read
    when the field is made), which lets the form class be built once per filterset class."""

    def get_form_class(self):
        # django-filter builds a new form class on every request - a form field per filter
        # (with its label translated) and a new type - about a third of its cost on a filtered
        # list. The fields depend only on the class's declared filters, and every form copies
        # its fields on creation, so one class per filterset class answers the same.
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = cls._form_class = super().get_form_class()
        return form_class

    def is_valid(self):
        valid = super().is_valid()
        for name, flt in self.filters.items():
            if isinstance(flt, df.CharFilter) and not isinstance(flt, df.ChoiceFilter):
                continue
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            if any(v == "" for v in values):
                self.form.add_error(name, forms.ValidationError("may not be empty.", code="blank"))
                valid = False
        return valid


class PatientFilter(StrictFilterSet):
    mrn = df.CharFilter(field_name="mrn", lookup_expr="exact", help_text="Exact MRN.")
    diagnosis = df.ChoiceFilter(choices=_choices(codes.Diagnosis))
    sex = df.ChoiceFilter(choices=_choices(codes.Sex))
    family_name = df.CharFilter(lookup_expr="istartswith", help_text="Starts with (any case).")

    class Meta:
        model = Patient
        fields = ["mrn", "diagnosis", "sex", "family_name"]


class PrescriptionFilter(StrictFilterSet):
    patient = IdFilter(field_name="patient_id")
    drug = df.ChoiceFilter(choices=_choices(codes.Drug))
    status = df.ChoiceFilter(choices=_choices(codes.PrescriptionStatus))
    current = BooleanFilter(
        field_name="superseded_by",
        lookup_expr="isnull",
        help_text="true: only the current state of each treatment (nothing supersedes it).",
    )

    class Meta:
        model = Prescription
        fields = ["patient", "drug", "status", "current"]


class LabResultFilter(StrictFilterSet):
    patient = IdFilter(field_name="patient_id")
    patient_mrn = df.CharFilter(field_name="patient__mrn", help_text="The patient's MRN.")
    analyte = df.ChoiceFilter(choices=_choices(codes.Analyte))
    accession = df.CharFilter()
    evaluable = BooleanFilter()
    pending_evaluation = BooleanFilter(
        field_name="evaluated_version",
        lookup_expr="isnull",
        help_text="true: stored but not yet evaluated by the lab rules.",
    )
    collected_after = DateTimeFilter(field_name="collected_at", lookup_expr="gte")
    collected_before = DateTimeFilter(field_name="collected_at", lookup_expr="lt")

    class Meta:
        model = LabResult
        fields = ["patient", "patient_mrn", "analyte", "accession", "evaluable"]


class AlertFilter(StrictFilterSet):
    patient = IdFilter(field_name="patient_id")
    # distinct=False (django-filter's MultipleChoiceFilter defaults to SELECT DISTINCT, for
    # filters across a to-many relation): these test the alert's own columns, so no row can
    # repeat, and DISTINCT over every column made both the COUNT and the page sort-and-unique
    # every matching alert.
    status = df.MultipleChoiceFilter(
        choices=[(v, v) for v in Alert.Status.values],
        help_text="One or more (repeat the parameter).",
        distinct=False,
    )
    severity = df.MultipleChoiceFilter(choices=_choices(codes.AlertSeverity), distinct=False)
    rule = df.CharFilter()
    lab_result = IdFilter(field_name="lab_result_id")
    raised_after = DateTimeFilter(field_name="raised_at", lookup_expr="gte")
    raised_before = DateTimeFilter(field_name="raised_at", lookup_expr="lt")

    class Meta:
        model = Alert
        fields = ["patient", "status", "severity", "rule", "lab_result"]


class MonitoringEventFilter(StrictFilterSet):
    # distinct=False: the event's own column (see AlertFilter).
    status = df.MultipleChoiceFilter(
        choices=[(v, v) for v in MonitoringEvent.Status.values], distinct=False
    )
    kind = df.ChoiceFilter(choices=_choices(codes.EventKind))
    drug = df.ChoiceFilter(choices=_choices(codes.Drug))
    open = BooleanFilter(method="filter_open", help_text="true: only events still to be done.")

    class Meta:
        model = MonitoringEvent
        fields = ["status", "kind", "drug"]

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        q = {"status__in": MonitoringEvent.OPEN_STATUSES}
        return queryset.filter(**q) if value else queryset.exclude(**q)


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, with only the filters a request names bound (none: skipped).

    django-filter copies every filter of the filterset and builds and validates a form field for
    each on every request, named or not (7 for the alert list; `?status=open` names one). An
    absent parameter filters nothing and cannot be invalid (no filter here is required), so
    binding only the named ones gives the same rows and the same errors, in the same order."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        named = frozenset(n for n in filterset_class.base_filters if n in request.query_params)
        if not named:
            return queryset
        filterset = _narrowed(filterset_class, named)(
            **self.get_filterset_kwargs(request, queryset, view)
        )
        if not filterset.is_valid() and self.raise_exception:
            raise translate_validation(filterset.errors)
        return filterset.qs


@functools.cache
def _narrowed(filterset_class: type[df.FilterSet], names: frozenset[str]) -> type[df.FilterSet]:
    """`filterset_class` with only the filters `names`, in their declared order (one class per
    combination, made once; at most 2^filters of them)."""
    narrowed = type(filterset_class.__name__, (filterset_class,), {})
    narrowed.base_filters = {n: f for n, f in filterset_class.base_filters.items() if n in names}
    return narrowed
