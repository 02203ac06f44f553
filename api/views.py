"""API v1 views: each validates its input, calls a service, and serialises the answer.

Every queryset is filtered to the requesting user's clinic, so another clinic's object answers
404. Roles: api/permissions.py. Error shape: api/exceptions.py.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import slugify
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    OpenApiTypes,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api import readers, renderers
from api import serializers as s
from api.authentication import TokenAuthentication
from api.exceptions import Conflict, django_error_items, error_items
from api.filters import (
    AlertFilter,
    FilterBackend,
    LabResultFilter,
    MonitoringEventFilter,
    PatientFilter,
    PrescriptionFilter,
)
from api.pagination import Pagination
from api.parsers import LimitedJSONParser
from api.permissions import ClinicRole, clinic_id, membership
from api.selectors import with_lab_results
from api.services import patient_create, patient_delete, patient_update
from api.throttling import TokenRateThrottle
from clinical.dosing import DoseRequest, calculate_dose
from clinical.types import ClinicalInputError
from clinical.units import resolve_analyte
from patients import lab_batch
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
from patients.prescriptions import (
    prescription_change_dose,
    prescription_hold,
    prescription_restart,
    prescription_start,
    prescription_stop,
    warning_dict,
)
from patients.services import (
    adverse_event_record,
    assessment_record,
    lab_result_record,
    measurement_record,
)
from reports.selectors import clinic_cohort_report
from schedules.models import Alert, MonitoringEvent
from schedules.services import alert_acknowledge, alert_resolve, event_complete_with_reason

# The lean read paths' answers (api/readers.py) are written by orjson (api/renderers.py): the
# same bytes as DRF's JSONRenderer, a tenth of the time. The browsable API stays.
LEAN_RENDERERS = [renderers.JSONRenderer, BrowsableAPIRenderer]


class ApiMixin:
    """What every API v1 view shares: auth, roles, throttling, JSON in, pagination."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    filter_backends = [FilterBackend, OrderingFilter]
    permission_classes = [ClinicRole]
    throttle_classes = [TokenRateThrottle]
    parser_classes = [LimitedJSONParser]
    pagination_class = Pagination
    resource = ""

    def clinic_id(self) -> int:
        return clinic_id(self.request)

    def patients(self):
        return Patient.objects.filter(clinic_id=self.clinic_id())

    def patient_from_url(self) -> Patient:
        return get_object_or_404(self.patients(), pk=self.kwargs["patient_id"])


def _raise_validation(exc: DjangoValidationError, rename: dict | None = None):
    """A service's refusal, as a 400 in the one error shape with the API's field names."""
    nested: dict[str, list] = {}
    for item in django_error_items(exc, rename):
        key = item["field"] or "non_field_errors"
        nested.setdefault(key, []).append(_detail(item["message"], item["code"]))
    raise ValidationError(nested)


def _detail(message, code):
    return ErrorDetail(message, code=code)


# --- Patients ------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="List patients (look one up with ?mrn=)"),
    retrieve=extend_schema(summary="A patient"),
    create=extend_schema(summary="Create a patient", request=s.PatientInputSerializer),
    update=extend_schema(summary="Replace a patient's details", request=s.PatientInputSerializer),
    partial_update=extend_schema(
        summary="Change some of a patient's details", request=s.PatientInputSerializer
    ),
    destroy=extend_schema(
        summary="Delete a patient with no clinical record (e.g. created by mistake)",
        responses={
            204: None,
            409: OpenApiResponse(s.ErrorSerializer, description="The patient has records."),
        },
    ),
)
class PatientViewSet(
    ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    resource = "patient"
    queryset = Patient.objects.none()  # for the schema; get_queryset() scopes it
    serializer_class = s.PatientSerializer
    filterset_class = PatientFilter
    ordering_fields = ["family_name", "given_name", "mrn", "birth_date", "created_at", "id"]
    ordering = ["family_name", "given_name", "id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return self.patients().order_by(*self.ordering)

    def create(self, request):
        data = self._input(request)
        try:
            patient = patient_create(clinic_id=self.clinic_id(), **data)
        except DjangoValidationError as exc:
            _raise_validation(exc)
        return Response(s.PatientSerializer(patient).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        patient = self.get_object()
        data = self._input(request, partial=partial)
        try:
            patient = patient_update(patient=patient, **data)
        except DjangoValidationError as exc:
            _raise_validation(exc)
        return Response(s.PatientSerializer(patient).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        patient = self.get_object()
        try:
            patient_delete(patient=patient)
        except DjangoValidationError as exc:
            raise Conflict(exc.messages[0], code="has_records") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _input(request, partial: bool = False) -> dict:
        ser = s.PatientInputSerializer(data=request.data, partial=partial)
        ser.is_valid(raise_exception=True)
        return dict(ser.validated_data)


# --- Measurements --------------------------------------------------------------------------
@extend_schema_view(
    get=extend_schema(
        summary="A patient's weights and heights (newest first)",
        responses=s.MeasurementSerializer(many=True),
    ),
    post=extend_schema(
        summary="Record a weight and height (BSA derived)",
        request=s.MeasurementInputSerializer,
        responses={201: s.MeasurementSerializer},
    ),
)
class PatientMeasurementsView(ApiMixin, GenericAPIView):
    resource = "measurement"
    queryset = Measurement.objects.none()  # for the schema; get_queryset() scopes it
    serializer_class = s.MeasurementSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["measured_on", "id"]
    ordering = ["-measured_on", "-id"]

    def get_queryset(self):
        return self.patient_from_url().measurements.all()

    def get(self, request, patient_id: int):
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def post(self, request, patient_id: int):
        patient = self.patient_from_url()
        ser = s.MeasurementInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            m = measurement_record(patient=patient, user=request.user, **ser.validated_data)
        except DjangoValidationError as exc:
            _raise_validation(exc)
        return Response(s.MeasurementSerializer(m).data, status=status.HTTP_201_CREATED)


# --- Outcomes: disease assessments and adverse events (issue 19) ----------------------------
@extend_schema_view(
    get=extend_schema(
        summary="A patient's disease assessments (IGA 0–4; newest first)",
        responses=s.AssessmentSerializer(many=True),
    ),
    post=extend_schema(
        summary="Record a disease assessment (IGA 0 clear – 4 severe, REF §7)",
        request=s.AssessmentInputSerializer,
        responses={201: s.AssessmentSerializer},
    ),
)
class PatientAssessmentsView(ApiMixin, GenericAPIView):
    resource = "assessment"
    queryset = DiseaseAssessment.objects.none()  # for the schema; get_queryset() scopes it
    serializer_class = s.AssessmentSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["assessed_on", "id"]
    ordering = ["-assessed_on", "-id"]

    def get_queryset(self):
        return self.patient_from_url().assessments.all()

    def get(self, request, patient_id: int):
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def post(self, request, patient_id: int):
        patient = self.patient_from_url()
        ser = s.AssessmentInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            a = assessment_record(patient=patient, user=request.user, **ser.validated_data)
        except DjangoValidationError as exc:
            _raise_validation(exc)
        return Response(s.AssessmentSerializer(a).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="A patient's adverse events (newest first)",
        responses=s.AdverseEventSerializer(many=True),
    ),
    post=extend_schema(
        summary="Record an adverse event (kind, onset, severity, whether it led to stopping)",
        request=s.AdverseEventInputSerializer,
        responses={201: s.AdverseEventSerializer},
    ),
)
class PatientAdverseEventsView(ApiMixin, GenericAPIView):
    resource = "adverse_event"
    queryset = AdverseEvent.objects.none()  # for the schema; get_queryset() scopes it
    serializer_class = s.AdverseEventSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["onset_date", "id"]
    ordering = ["-onset_date", "-id"]

    def get_queryset(self):
        return self.patient_from_url().adverse_events.all()

    def get(self, request, patient_id: int):
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def post(self, request, patient_id: int):
        patient = self.patient_from_url()
        ser = s.AdverseEventInputSerializer(
            data=request.data, prescriptions=Prescription.objects.filter(patient=patient)
        )
        ser.is_valid(raise_exception=True)
        try:
            e = adverse_event_record(patient=patient, user=request.user, **ser.validated_data)
        except DjangoValidationError as exc:
            _raise_validation(exc)
        return Response(s.AdverseEventSerializer(e).data, status=status.HTTP_201_CREATED)


# --- Cohort report (issue 19) ----------------------------------------------------------------
COHORT_PARAMS = set(s.CohortQuerySerializer().fields) | {"format"}


class CohortReportView(ApiMixin, APIView):
    """The clinic's own cohort table (clinical/cohort.py; definitions printed with it)."""

    resource = "report"
    filter_backends: list = []
    pagination_class = None
    renderer_classes = [renderers.JSONRenderer, renderers.CohortCSVRenderer, BrowsableAPIRenderer]

    def perform_content_negotiation(self, request, force=False):
        # An unknown ?format= is bad input (400 naming it), not a missing page (DRF's 404).
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            raise ValidationError(
                {"format": [_detail("must be json or csv (or leave it out).", "invalid_choice")]}
            ) from None

    @extend_schema(
        summary="The clinic's cohort report: Table 1, outcomes at weeks 12 and 24, adverse "
        "events, end reasons, lab alerts and drug survival (?format=csv for a download)",
        parameters=[s.CohortQuerySerializer],
        responses={
            (200, "application/json"): s.CohortReportSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request):
        unknown = sorted(set(request.query_params) - COHORT_PARAMS)
        if unknown:
            raise ValidationError(
                {
                    name: [
                        _detail(
                            f"is not a filter of this report (known: {', '.join(sorted(COHORT_PARAMS - {'format'}))}).",
                            "unknown_parameter",
                        )
                    ]
                    for name in unknown
                }
            )
        blank = sorted(k for k, v in request.query_params.items() if k != "format" and not v)
        if blank:
            raise ValidationError(
                {k: [_detail("is empty: give a value or leave it out.", "blank")] for k in blank}
            )
        ser = s.CohortQuerySerializer(data=request.query_params)
        ser.is_valid(raise_exception=True)
        d = dict(ser.validated_data)
        d["response_min_improvement"] = int(d["response_min_improvement"])
        clinic = Clinic.objects.get(pk=self.clinic_id())
        try:
            report = clinic_cohort_report(clinic, **d)
        except ClinicalInputError as exc:
            raise ValidationError({exc.field: [_detail(exc.reason, "invalid")]}) from exc
        response = Response(report)
        if (
            getattr(request, "accepted_renderer", None)
            and request.accepted_renderer.format == "csv"
        ):
            name = f"cohort-{slugify(clinic.name)}-{report['today']}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


# --- Monitoring plan -----------------------------------------------------------------------
@extend_schema_view(
    get=extend_schema(
        summary="A patient's monitoring plan: planned tests and reviews by date",
        responses=s.MonitoringEventSerializer(many=True),
    ),
)
class PatientPlanView(ApiMixin, GenericAPIView):
    resource = "plan"
    renderer_classes = LEAN_RENDERERS
    queryset = MonitoringEvent.objects.none()  # for the schema; get_queryset() scopes it
    serializer_class = s.MonitoringEventSerializer
    filterset_class = MonitoringEventFilter
    ordering_fields = ["target", "earliest", "latest", "id"]
    ordering = ["target", "id"]

    def get_queryset(self):
        # Scoped to the clinic by a join rather than a separate lookup of the patient: the plan
        # is read often (nurses, EHRs); whether the patient exists is asked only when it is empty.
        return MonitoringEvent.objects.filter(
            patient_id=self.kwargs["patient_id"], patient__clinic_id=self.clinic_id()
        )

    def get(self, request, patient_id: int):
        # The lean read path (api/readers.py): rows, not model instances through the serializer,
        # and the unfiltered plan's query written out; the answer is MonitoringEventSerializer's,
        # byte for byte.
        source = readers.plan_rows(
            request.query_params,
            self.clinic_id(),
            patient_id,
            self.ordering,
            general=lambda: self.filter_queryset(self.get_queryset()),
        )
        page = self.paginator.paginate_rows(source, request, view=self)
        if not page and not self.patients().filter(pk=patient_id).exists():
            raise Http404
        return self.get_paginated_response(readers.events_json(page))


@extend_schema_view(
    post=extend_schema(
        summary="Complete a baseline or routine test with a reason (not applicable for age, "
        "done at another hospital with its date): its reminders stop (issue #15)",
        request=s.EventCompleteSerializer,
        responses=s.MonitoringEventSerializer,
    )
)
class PlanEventCompleteView(ApiMixin, GenericAPIView):
    resource = "plan"
    write_access = "act"
    queryset = MonitoringEvent.objects.none()  # for the schema
    serializer_class = s.EventCompleteSerializer

    def post(self, request, patient_id: int, event_id: int):
        event = get_object_or_404(
            MonitoringEvent.objects.filter(
                patient_id=patient_id, patient__clinic_id=self.clinic_id()
            ),
            pk=event_id,
        )
        ser = s.EventCompleteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        try:
            event = event_complete_with_reason(
                event=event,
                user=request.user,
                reason=d["reason"],
                done_on=d.get("done_on"),
                note=d.get("note", ""),
            )
        except DjangoValidationError as exc:
            _raise_validation(exc)
        return Response(s.MonitoringEventSerializer(event).data)


# --- Timeline ------------------------------------------------------------------------------
TIMELINE_ENTRY = PolymorphicProxySerializer(
    component_name="TimelineEntry",
    serializers=s.TIMELINE_SERIALIZERS,
    resource_type_field_name="type",
    many=True,
)


class PatientTimelineView(ApiMixin, APIView):
    resource = "timeline"
    filter_backends: list = []  # since/until only
    pagination_class = None  # one patient's whole story, narrowed with since/until

    @extend_schema(
        summary="Everything about a patient in date order (oldest first)",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATE, description="From this date on."),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Up to this date."),
        ],
        responses=TIMELINE_ENTRY,
    )
    def get(self, request, patient_id: int):
        patient = self.patient_from_url()
        since, until = _date_param(request, "since"), _date_param(request, "until")
        entries = timeline_entries(patient, since=since, until=until)
        data = [s.TIMELINE_SERIALIZERS[r._timeline_type](r).data for r in entries]
        return Response(data)


def timeline_entries(patient, *, since=None, until=None) -> list:
    """Everything about a patient in date order (oldest first), as model rows carrying
    `_timeline_type`, `_timeline_date` and `_timeline_summary`: the API's timeline and the staff
    workspace's chart (workspace/) read the same entries."""
    entries = []

    def add(kind, rows, day, summary):
        for row in rows:
            d = day(row)
            if (since and d < since) or (until and d > until):
                continue
            row._timeline_type, row._timeline_date = kind, d
            row._timeline_summary = summary(row)
            entries.append(row)

    add(
        "measurement",
        patient.measurements.all(),
        lambda m: m.measured_on,
        lambda m: f"{m.weight_kg} kg, {m.height_cm} cm, BSA {m.bsa_m2} m² ({m.bsa_formula})",
    )
    add(
        "prescription",
        patient.prescriptions.select_related("superseded_by"),
        lambda p: p.start_date,
        lambda p: f"{p.get_change_display()}: {p}",
    )
    add(
        "lab_result",
        patient.lab_results.all(),
        lambda r: r.collected_at.date(),
        lambda r: f"{r.get_analyte_display()} {r.reported_value} {r.reported_unit}".strip(),
    )
    add(
        "alert",
        with_lab_results(list(_alerts(Alert.objects.filter(patient=patient)))),
        lambda a: a.raised_at.date(),
        lambda a: f"{a.severity}: {a.message}",
    )
    add(
        "assessment",
        patient.assessments.all(),
        lambda a: a.assessed_on,
        lambda a: f"IGA {a.iga}",
    )
    add(
        "adverse_event",
        patient.adverse_events.all(),
        lambda e: e.onset_date,
        lambda e: f"{e.get_kind_display()} ({e.severity})",
    )
    order = list(s.TIMELINE_SERIALIZERS)
    entries.sort(key=lambda r: (r._timeline_date, order.index(r._timeline_type), r.pk))
    return entries


def _date_param(request, name: str):
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return drf.DateField().run_validation(raw)
    except drf.ValidationError as exc:
        raise drf.ValidationError({name: exc.detail}) from exc


# --- Prescriptions -------------------------------------------------------------------------
PRESCRIPTION_CREATED = {201: s.PrescriptionSerializer}


@extend_schema_view(
    list=extend_schema(
        summary="Prescriptions (every state of every treatment; ?current=true for the current ones)"
    ),
    retrieve=extend_schema(summary="One prescription state"),
    create=extend_schema(
        summary="Start a treatment (every dosing check applies: 400 with the reasons, or 201 "
        "with warnings)",
        request=s.PrescriptionStartSerializer,
        responses=PRESCRIPTION_CREATED,
    ),
    change_dose=extend_schema(
        summary="Change the dose (a new prescription supersedes it)",
        request=s.PrescriptionChangeDoseSerializer,
        responses=PRESCRIPTION_CREATED,
    ),
    hold=extend_schema(
        summary="Hold the treatment",
        request=s.PrescriptionHoldSerializer,
        responses=PRESCRIPTION_CREATED,
    ),
    restart=extend_schema(
        summary="Restart a held treatment",
        request=s.PrescriptionRestartSerializer,
        responses=PRESCRIPTION_CREATED,
    ),
    stop=extend_schema(
        summary="Stop the treatment",
        request=s.PrescriptionStopSerializer,
        responses=PRESCRIPTION_CREATED,
    ),
)
class PrescriptionViewSet(
    ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    resource = "prescription"
    queryset = Prescription.objects.none()  # for the schema; get_queryset() scopes it
    serializer_class = s.PrescriptionSerializer
    filterset_class = PrescriptionFilter
    ordering_fields = ["start_date", "created_at", "id"]
    ordering = ["-start_date", "-id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return (
            Prescription.objects.filter(patient__clinic_id=self.clinic_id())
            .select_related("superseded_by")
            .order_by(*self.ordering)
        )

    def _answer(self, outcome):
        row = Prescription.objects.select_related("superseded_by").get(pk=outcome.prescription.pk)
        return Response(s.PrescriptionSerializer(row).data, status=status.HTTP_201_CREATED)

    def create(self, request):
        ser = s.PrescriptionStartSerializer(data=request.data, patients=self.patients())
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        baseline_iga = data.pop("baseline_iga", None)
        if baseline_iga is not None and data["drug"] == "folic_acid":
            raise ValidationError(
                {"baseline_iga": [_detail("is for methotrexate or mycophenolate.", "invalid")]}
            )
        try:
            with transaction.atomic():
                outcome = prescription_start(user=request.user, **data)
                if baseline_iga is not None:
                    # Issue 19: the baseline asked for at the start, kept as an assessment.
                    assessment_record(
                        patient=data["patient"],
                        assessed_on=min(data["start_date"], timezone.localdate()),
                        iga=baseline_iga,
                        notes="Baseline, recorded with the prescription.",
                        user=request.user,
                    )
        except DjangoValidationError as exc:
            _raise_validation(exc, {"assessed_on": "baseline_iga", "iga": "baseline_iga"})
        return self._answer(outcome)

    def _act(self, request, serializer_class, service):
        prescription = self.get_object()
        ser = serializer_class(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            outcome = service(prescription=prescription, user=request.user, **ser.validated_data)
        except DjangoValidationError as exc:
            _raise_validation(exc)
        return self._answer(outcome)

    @action(detail=True, methods=["post"], url_path="change-dose")
    def change_dose(self, request, pk=None):
        return self._act(request, s.PrescriptionChangeDoseSerializer, prescription_change_dose)

    @action(detail=True, methods=["post"])
    def hold(self, request, pk=None):
        return self._act(request, s.PrescriptionHoldSerializer, prescription_hold)

    @action(detail=True, methods=["post"])
    def restart(self, request, pk=None):
        return self._act(request, s.PrescriptionRestartSerializer, prescription_restart)

    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return self._act(request, s.PrescriptionStopSerializer, prescription_stop)


# --- Lab results ---------------------------------------------------------------------------
LAB_FIELD_NAMES = {"reported_value": "value", "reported_unit": "unit"}


@extend_schema_view(
    list=extend_schema(summary="Lab results"),
    retrieve=extend_schema(summary="One lab result (its current version)"),
    create=extend_schema(
        summary="Record one lab result (a replayed accession returns the stored one; changed "
        "content under the same accession is an amendment)",
        request=s.LabResultInputSerializer,
        responses={
            201: s.LabResultWriteSerializer,
            200: OpenApiResponse(
                s.LabResultWriteSerializer, description="Replayed or amended (see outcome)."
            ),
        },
    ),
    batch=extend_schema(
        summary="Record up to 1,000 lab results; each item is answered on its own",
        request=s.LabBatchInputSerializer,
        responses={200: s.LabBatchResponseSerializer},
    ),
    history=extend_schema(
        summary="Every version of a lab result (amendments)",
        responses=s.LabHistorySerializer(many=True),
    ),
)
class LabResultViewSet(
    ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    resource = "lab"
    queryset = LabResult.objects.none()  # for the schema; get_queryset() scopes it
    serializer_class = s.LabResultSerializer
    filterset_class = LabResultFilter
    ordering_fields = ["collected_at", "received_at", "id"]
    ordering = ["-collected_at", "-id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return LabResult.objects.filter(clinic_id=self.clinic_id()).order_by(*self.ordering)

    def _strict_unit(self) -> bool:
        # A person typing a result has a unit refused at once; a lab system's unknown unit is
        # stored as reported, not evaluable, and raises an alert for a human (issue #4).
        return membership(self.request).role != StaffMembership.Role.INTEGRATION

    def _source(self) -> str:
        return f"api:{self.request.user.username}"[:64]

    def create(self, request):
        ser = s.LabResultInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        patient = self._patient(d)
        try:
            try:
                code = resolve_analyte(d.get("analyte") or None, d.get("loinc") or None)
            except ClinicalInputError as exc:
                raise DjangoValidationError({exc.field: exc.reason}) from exc
            lab_batch.check_storable(
                analyte=code.value,
                value=d["value"],
                unit=d.get("unit"),
                reference_low=d.get("reference_low"),
                reference_high=d.get("reference_high"),
            )
            out = lab_result_record(
                patient=patient,
                analyte=d.get("analyte"),
                loinc=d.get("loinc"),
                value=d["value"],
                unit=d.get("unit"),
                collected_at=d["collected_at"],
                accession=d["accession"],
                reference_low=d.get("reference_low"),
                reference_high=d.get("reference_high"),
                source=self._source(),
                strict_unit=self._strict_unit(),
            )
        except DjangoValidationError as exc:
            _raise_validation(exc, LAB_FIELD_NAMES)
        out.result.outcome = out.outcome
        return Response(
            s.LabResultWriteSerializer(out.result).data,
            status=status.HTTP_201_CREATED if out.outcome == "created" else status.HTTP_200_OK,
        )

    def _patient(self, d) -> Patient:
        qs = self.patients()
        patient = None
        if d.get("patient") is not None:
            patient = qs.filter(pk=d["patient"]).first()
            if patient is None:
                raise ValidationError(
                    {
                        "patient": [
                            _detail(f"no patient {d['patient']} in your clinic.", "does_not_exist")
                        ]
                    }
                )
        if d.get("patient_mrn"):
            by_mrn = qs.filter(mrn=d["patient_mrn"]).first()
            if by_mrn is None:
                raise ValidationError(
                    {
                        "patient_mrn": [
                            _detail(
                                f"no patient with MRN {d['patient_mrn']!r} in your clinic.",
                                "does_not_exist",
                            )
                        ]
                    }
                )
            if patient is not None and patient.pk != by_mrn.pk:
                raise ValidationError(
                    {"patient_mrn": [_detail("names another patient than `patient`.", "mismatch")]}
                )
            patient = by_mrn
        return patient

    @action(detail=False, methods=["post"])
    def batch(self, request):
        envelope = s.LabBatchInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        raw_items = envelope.validated_data["results"]
        answers: list[dict | None] = [None] * len(raw_items)
        valid: list[tuple[int, dict]] = []
        # One serializer for every item (building one per item would copy its fields 1,000 times).
        item_serializer = s.LabResultInputSerializer()
        for index, raw in enumerate(raw_items):
            try:
                valid.append((index, dict(item_serializer.run_validation(raw))))
            except drf.ValidationError as exc:
                answers[index] = _batch_answer(
                    index, raw.get("accession"), "rejected", errors=list(error_items(exc.detail))
                )
        outcomes = lab_batch.lab_results_record_batch(
            clinic_id=self.clinic_id(),
            items=[d for _, d in valid],
            source=self._source(),
            strict_unit=self._strict_unit(),
            user=request.user,
        )
        for (index, d), out in zip(valid, outcomes, strict=True):
            if out.outcome == "rejected":
                answers[index] = _batch_answer(
                    index, d.get("accession"), "rejected", errors=django_error_items(out.error)
                )
            else:
                answers[index] = _batch_answer(
                    index, out.result.accession, out.outcome, result=out.result
                )
        summary = dict.fromkeys(("created", "replayed", "amended", "rejected"), 0)
        for a in answers:
            summary[a["outcome"]] += 1
        return Response({"summary": summary, "results": answers})

    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, pk=None):
        result = self.get_object()
        versions = result.history.order_by("history_date", "history_id")
        return Response(s.LabHistorySerializer(versions, many=True).data)


def _batch_answer(index, accession, outcome, *, result=None, errors=()):
    accession = accession if isinstance(accession, str) else None
    return {
        "index": index,
        "accession": accession,
        "outcome": outcome,
        "id": result.pk if result else None,
        "version": result.version if result else None,
        "evaluable": result.evaluable if result else None,
        "not_evaluable_reason": result.not_evaluable_reason if result else None,
        "errors": list(errors),
    }


# --- Alerts --------------------------------------------------------------------------------
def _alerts(qs):
    # The lab results behind each alert are attached in bulk (api.selectors.with_lab_results).
    return qs.select_related("acknowledged_by", "resolved_by")


@extend_schema_view(
    list=extend_schema(summary="Alerts (filter by patient, status, severity)"),
    retrieve=extend_schema(summary="One alert with the lab results behind it"),
    acknowledge=extend_schema(
        summary="Acknowledge an open alert, with a note",
        request=s.AlertActionSerializer,
        responses=s.AlertSerializer,
    ),
    resolve=extend_schema(
        summary="Resolve an open or acknowledged alert, with a note",
        request=s.AlertActionSerializer,
        responses=s.AlertSerializer,
    ),
)
class AlertViewSet(
    ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    resource = "alert"
    renderer_classes = LEAN_RENDERERS
    queryset = Alert.objects.none()  # for the schema; get_queryset() scopes it
    access_by_action = {"acknowledge": "act", "resolve": "act"}
    serializer_class = s.AlertSerializer
    filterset_class = AlertFilter
    ordering_fields = ["raised_at", "severity", "id"]
    ordering = ["-raised_at", "-id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        # Alert.clinic is the patient's clinic (kept equal by the database on PostgreSQL, by
        # Patient.save() elsewhere); the list is read from its (clinic, status) index.
        alerts = Alert.objects.filter(clinic_id=self.clinic_id())
        if self.action == "list":
            # Read as rows (api/readers.py: no related objects to select) and ordered by
            # OrderingFilter (`ordering` unless ?ordering= names another).
            return alerts
        return _alerts(alerts).order_by(*self.ordering)

    def list(self, request, *args, **kwargs):
        # The lean read path (api/readers.py): rows, not model instances through the serializer,
        # the lab results in one query and the ?status= list's query written out; the answer is
        # AlertSerializer's, byte for byte.
        source = readers.alert_rows(
            request.query_params,
            self.clinic_id(),
            self.ordering,
            general=lambda: self.filter_queryset(self.get_queryset()),
        )
        page = self.paginator.paginate_rows(source, request, view=self)
        linked = getattr(source, "linked", None)  # read with the page (readers.AlertSqlRows)
        return self.get_paginated_response(readers.alerts_json(page, linked))

    def retrieve(self, request, *args, **kwargs):
        alert = with_lab_results([self.get_object()])[0]
        return Response(self.get_serializer(alert).data)

    def _act(self, request, service):
        alert = self.get_object()
        ser = s.AlertActionSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            alert = service(alert=alert, user=request.user, note=ser.validated_data["note"])
        except DjangoValidationError as exc:
            _raise_validation(exc)
        alert = with_lab_results([self.get_queryset().get(pk=alert.pk)])[0]
        return Response(s.AlertSerializer(alert).data)

    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._act(request, alert_acknowledge)

    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._act(request, alert_resolve)


# --- Dose calculator -----------------------------------------------------------------------
class DoseCalculateView(ApiMixin, APIView):
    resource = "dosing"
    filter_backends: list = []
    write_access = "read"  # a calculation stores nothing

    @extend_schema(
        summary="Calculate a dose (stateless): BSA, raw dose, cap, rounding, what to give",
        request=s.DoseCalculationInputSerializer,
        responses={200: s.DoseCalculationSerializer},
    )
    def post(self, request):
        ser = s.DoseCalculationInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        on_date = d.get("on_date") or Clinic.objects.get(pk=self.clinic_id()).today()
        try:
            calc = calculate_dose(
                DoseRequest(
                    drug=d["drug"],
                    basis=d["basis"],
                    amount=d["amount"],
                    weight_kg=d["weight_kg"],
                    height_cm=d.get("height_cm"),
                    formula=d.get("formula"),
                    birth_date=d["birth_date"],
                    on_date=on_date,
                    indication=d["indication"],
                    formulation=d.get("formulation"),
                    route=d.get("route"),
                    weekday=d.get("weekday"),
                    egfr=d.get("egfr"),
                    override_reason=d.get("override_reason") or None,
                )
            )
        except ClinicalInputError as exc:
            raise ValidationError({exc.field: [_detail(exc.reason, "invalid")]}) from exc
        return Response(s.DoseCalculationSerializer(_dose_answer(calc)).data)


def _dose_answer(calc) -> dict:
    return {
        "drug": calc.drug.value,
        "basis": calc.basis.value,
        "frequency": calc.frequency.value,
        "formulation": calc.product.formulation.value,
        "route": calc.product.route.value,
        "age_years": calc.age_years,
        "bsa_m2": calc.bsa.value_m2 if calc.bsa else None,
        "bsa_formula": calc.bsa.formula.value if calc.bsa else None,
        "raw_dose_mg": calc.raw_dose_mg,
        "cap_mg": calc.cap_mg,
        "cap_rule": calc.cap_rule,
        "capped_dose_mg": calc.capped_dose_mg,
        "final_dose_mg": calc.final_dose_mg,
        "units": calc.units,
        "unit_label": calc.unit_label,
        "administration": calc.administration,
        "rounding_rule": calc.rounding_rule,
        "steps": [
            {"name": st.name, "value": st.value, "explanation": st.explanation} for st in calc.steps
        ],
        "warnings": [warning_dict(w) for w in calc.warnings],
    }
