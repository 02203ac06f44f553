"""Input and output shapes of API v1. Inputs parse and type-check; the services decide.

Field names and code values are the public contract (README "REST API"): add, never rename.
Code vocabularies come from `clinical.codes`, so the API strings are the stored codes.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import AwareDateTimeField, LabValueField, StrictCharField
from clinical import codes
from clinical.protocols import PROTOCOLS
from patients.lab_batch import MAX_BATCH
from patients.models import (
    AdverseEvent,
    DiseaseAssessment,
    LabResult,
    Measurement,
    Patient,
    Prescription,
)
from schedules.models import Alert, MonitoringEvent


def _choices(enum) -> list[str]:
    return [m.value for m in enum]


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True, help_text="The input field (dotted path), or null."
    )
    code = serializers.CharField(help_text="Stable, machine-readable code.")
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    errors = ErrorItemSerializer(many=True)


class WarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    source = serializers.CharField(help_text="The guideline and section the check comes from.")
    field = serializers.CharField(allow_null=True, required=False)


# --- Patients ------------------------------------------------------------------------------
class PatientSerializer(serializers.ModelSerializer):
    sex = serializers.ChoiceField(choices=_choices(codes.Sex))
    diagnosis = serializers.ChoiceField(choices=_choices(codes.Diagnosis))
    risk_factors = serializers.ListField(
        child=serializers.ChoiceField(choices=_choices(codes.RiskFactor)),
        help_text="Risk factors that change monitoring.",
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "mrn",
            "given_name",
            "family_name",
            "birth_date",
            "sex",
            "diagnosis",
            "risk_factors",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PatientInputSerializer(serializers.Serializer):
    mrn = StrictCharField(max_length=64, help_text="Medical record number, unique in the clinic.")
    given_name = StrictCharField(max_length=100)
    family_name = StrictCharField(max_length=100)
    birth_date = serializers.DateField()
    sex = serializers.ChoiceField(choices=_choices(codes.Sex))
    diagnosis = serializers.ChoiceField(choices=_choices(codes.Diagnosis))
    risk_factors = serializers.ListField(
        child=serializers.ChoiceField(choices=_choices(codes.RiskFactor)),
        required=False,
        max_length=len(codes.RiskFactor),
        help_text="Codes, each at most once.",
    )


# --- Measurements --------------------------------------------------------------------------
class MeasurementSerializer(serializers.ModelSerializer):
    bsa_formula = serializers.ChoiceField(choices=_choices(codes.BSAFormula))

    class Meta:
        model = Measurement
        fields = [
            "id",
            "patient",
            "measured_on",
            "weight_kg",
            "height_cm",
            "bsa_m2",
            "bsa_formula",
            "created_at",
        ]
        read_only_fields = fields


class MeasurementInputSerializer(serializers.Serializer):
    measured_on = serializers.DateField()
    weight_kg = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0.01"))
    height_cm = serializers.DecimalField(max_digits=5, decimal_places=1, min_value=Decimal("0.1"))
    bsa_formula = serializers.ChoiceField(
        choices=_choices(codes.BSAFormula),
        required=False,
        help_text="Default: the clinic's formula (Mosteller unless it chose another).",
    )


# --- Prescriptions -------------------------------------------------------------------------
class PrescriptionSerializer(serializers.ModelSerializer):
    drug = serializers.ChoiceField(choices=_choices(codes.Drug))
    frequency = serializers.ChoiceField(choices=_choices(codes.Frequency))
    weekday = serializers.ChoiceField(choices=["", *_choices(codes.Weekday)])
    route = serializers.ChoiceField(choices=_choices(codes.Route))
    formulation = serializers.ChoiceField(choices=["", *_choices(codes.Formulation)])
    basis = serializers.ChoiceField(choices=["", *_choices(codes.DoseBasis)])
    status = serializers.ChoiceField(choices=_choices(codes.PrescriptionStatus))
    change = serializers.ChoiceField(choices=Prescription.Change.values)
    end_reason = serializers.ChoiceField(choices=["", *_choices(codes.TreatmentEndReason)])
    superseded_by = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()
    warnings = WarningSerializer(many=True)

    class Meta:
        model = Prescription
        fields = [
            "id",
            "patient",
            "drug",
            "dose_mg",
            "dose_unit",
            "frequency",
            "weekday",
            "route",
            "formulation",
            "basis",
            "basis_amount",
            "start_date",
            "end_date",
            "status",
            "change",
            "supersedes",
            "superseded_by",
            "current",
            "reason",
            "end_reason",
            "override_reason",
            "protocol",
            "stable_marked_on",
            "warnings",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_superseded_by(self, obj) -> int | None:
        return _successor_id(obj)

    def get_current(self, obj) -> bool:
        """True for the head of its treatment chain (nothing supersedes it)."""
        return _successor_id(obj) is None


def _successor_id(obj: Prescription) -> int | None:
    # Views load the reverse one-to-one with select_related("superseded_by"): no query here.
    cache = obj._state.fields_cache
    if "superseded_by" in cache:
        successor = cache["superseded_by"]
    else:
        successor = Prescription.objects.filter(supersedes=obj).only("pk").first()
    return successor.pk if successor else None


class PrescriptionStartSerializer(serializers.Serializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.none())
    drug = serializers.ChoiceField(choices=_choices(codes.Drug))
    dose_mg = serializers.DecimalField(
        max_digits=8,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="Per administration: methotrexate per week; mycophenolate per dose; "
        "prednisolone/prednisone per dose (once daily: per day).",
    )
    frequency = serializers.ChoiceField(choices=_choices(codes.Frequency))
    weekday = serializers.ChoiceField(
        choices=_choices(codes.Weekday),
        required=False,
        allow_null=True,
        help_text="Methotrexate: the one day of the week, written in full.",
    )
    route = serializers.ChoiceField(choices=_choices(codes.Route), required=False, allow_null=True)
    formulation = serializers.ChoiceField(
        choices=_choices(codes.Formulation), required=False, allow_null=True
    )
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)
    basis = serializers.ChoiceField(
        choices=_choices(codes.DoseBasis), required=False, allow_null=True
    )
    basis_amount = serializers.DecimalField(
        max_digits=8,
        decimal_places=3,
        required=False,
        allow_null=True,
        min_value=Decimal("0.001"),
        help_text="mg/m² or mg/kg when the dose is weight- or BSA-based.",
    )
    reason = StrictCharField(required=False, allow_blank=True, max_length=2000)
    override_reason = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="A clinician's reason for overriding an overridable hard stop (e.g. a cap).",
    )
    protocol = serializers.ChoiceField(
        choices=sorted(PROTOCOLS),
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Monitoring protocol; default: the clinic's for the drug.",
    )
    baseline_iga = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=4,
        help_text="Methotrexate or mycophenolate: the IGA at the start (0 clear – 4 severe), "
        "recorded as an assessment on the start date; the cohort report's baseline (REF §7).",
    )

    def __init__(self, *args, patients=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patients is not None:
            self.fields["patient"].queryset = patients


class PrescriptionChangeDoseSerializer(serializers.Serializer):
    dose_mg = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"))
    effective_date = serializers.DateField()
    reason = StrictCharField(max_length=2000)
    basis = serializers.ChoiceField(
        choices=_choices(codes.DoseBasis), required=False, allow_null=True
    )
    basis_amount = serializers.DecimalField(
        max_digits=8, decimal_places=3, required=False, allow_null=True, min_value=Decimal("0.001")
    )
    formulation = serializers.ChoiceField(
        choices=_choices(codes.Formulation), required=False, allow_null=True
    )
    route = serializers.ChoiceField(choices=_choices(codes.Route), required=False, allow_null=True)
    weekday = serializers.ChoiceField(
        choices=_choices(codes.Weekday), required=False, allow_null=True
    )
    override_reason = StrictCharField(required=False, allow_blank=True, max_length=2000)


class PrescriptionHoldSerializer(serializers.Serializer):
    effective_date = serializers.DateField()
    reason = StrictCharField(max_length=2000)


class PrescriptionRestartSerializer(serializers.Serializer):
    effective_date = serializers.DateField()
    reason = StrictCharField(max_length=2000)
    dose_mg = serializers.DecimalField(
        max_digits=8,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=Decimal("0.01"),
        help_text="Restart at another dose (default: the dose it was held at).",
    )
    override_reason = StrictCharField(required=False, allow_blank=True, max_length=2000)


class PrescriptionStopSerializer(serializers.Serializer):
    effective_date = serializers.DateField()
    reason = StrictCharField(max_length=2000)
    end_reason = serializers.ChoiceField(choices=_choices(codes.TreatmentEndReason))


# --- Lab results ---------------------------------------------------------------------------
class LabResultSerializer(serializers.ModelSerializer):
    analyte = serializers.ChoiceField(choices=_choices(codes.Analyte))
    value = serializers.CharField(source="reported_value", help_text="As reported.")
    unit = serializers.CharField(source="reported_unit", help_text="As reported.")
    canonical_value = serializers.DecimalField(
        source="value",
        max_digits=12,
        decimal_places=4,
        allow_null=True,
        help_text="In canonical_unit; null when not evaluable.",
    )
    canonical_unit = serializers.CharField(source="unit")
    collected_at = AwareDateTimeField()

    class Meta:
        model = LabResult
        fields = [
            "id",
            "patient",
            "analyte",
            "loinc",
            "value",
            "unit",
            "comparator",
            "canonical_value",
            "canonical_unit",
            "evaluable",
            "not_evaluable_reason",
            "reference_low",
            "reference_high",
            "reference_low_canonical",
            "reference_high_canonical",
            "collected_at",
            "accession",
            "source",
            "received_at",
            "version",
            "amended_at",
            "evaluated_version",
            "evaluated_at",
        ]
        read_only_fields = fields


class LabResultWriteSerializer(LabResultSerializer):
    outcome = serializers.ChoiceField(
        choices=["created", "replayed", "amended"],
        help_text="created (201), replayed (200: the stored result, unchanged) or amended (200).",
    )

    class Meta(LabResultSerializer.Meta):
        fields = [*LabResultSerializer.Meta.fields, "outcome"]
        read_only_fields = fields


class LabResultInputSerializer(serializers.Serializer):
    patient = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The patient's id (or give patient_mrn).",
    )
    patient_mrn = StrictCharField(
        required=False,
        allow_null=True,
        max_length=64,
        help_text="The patient's MRN in your clinic (or patient).",
    )
    analyte = StrictCharField(
        required=False,
        allow_null=True,
        max_length=60,
        help_text="ALT, AST, albumin, creatinine, eGFR, WBC, neutrophils, lymphocytes, "
        "eosinophils, platelets, haemoglobin, MCV (case-insensitive; common synonyms too). "
        "Or give loinc.",
    )
    loinc = StrictCharField(
        required=False, allow_null=True, max_length=20, help_text="LOINC code (or analyte)."
    )
    value = LabValueField()
    unit = StrictCharField(
        max_length=40,
        allow_blank=True,
        help_text="UCUM or a common spelling: U/L, ukat/L, µkat/L, g/L, g/dL, umol/L, mg/dL, "
        "10*9/L, 10^9/L, x10E9/L, 10*3/uL, fL, mL/min/{1.73_m2}.",
    )
    reference_low = serializers.DecimalField(
        max_digits=12, decimal_places=4, required=False, allow_null=True
    )
    reference_high = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        required=False,
        allow_null=True,
        help_text="The laboratory's upper limit of normal, in the reported unit.",
    )
    collected_at = AwareDateTimeField(help_text="ISO 8601 with an offset.")
    accession = StrictCharField(max_length=64, help_text="Unique per result in your clinic.")

    def validate(self, attrs):
        if attrs.get("patient") is None and not attrs.get("patient_mrn"):
            raise serializers.ValidationError(
                {
                    "patient": serializers.ErrorDetail(
                        "is required (or patient_mrn).", code="required"
                    )
                }
            )
        if not attrs.get("analyte") and not attrs.get("loinc"):
            raise serializers.ValidationError(
                {"analyte": serializers.ErrorDetail("is required (or loinc).", code="required")}
            )
        return attrs


class LabBatchInputSerializer(serializers.Serializer):
    results = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=MAX_BATCH,
        help_text=f"Up to {MAX_BATCH} results, each with the fields of LabResultInputRequest "
        "(as for POST /api/v1/labs/). Each item is validated and answered on its own: an invalid "
        "item is rejected in the answer, never the whole batch.",
    )


class LabBatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position in the request's results.")
    accession = serializers.CharField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["created", "replayed", "amended", "rejected"])
    id = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    evaluable = serializers.BooleanField(allow_null=True)
    not_evaluable_reason = serializers.CharField(allow_null=True)
    errors = ErrorItemSerializer(many=True, help_text="Why a rejected item was refused.")


class LabBatchSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    replayed = serializers.IntegerField()
    amended = serializers.IntegerField()
    rejected = serializers.IntegerField()


class LabBatchResponseSerializer(serializers.Serializer):
    summary = LabBatchSummarySerializer()
    results = LabBatchItemSerializer(many=True)


class LabHistorySerializer(serializers.Serializer):
    version = serializers.IntegerField()
    value = serializers.CharField(source="reported_value")
    unit = serializers.CharField(source="reported_unit")
    reference_low = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    reference_high = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    collected_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField(source="history_date")
    change = serializers.SerializerMethodField()
    reason = serializers.CharField(source="history_change_reason", allow_null=True)

    def get_change(self, obj) -> str:
        return {"+": "created", "~": "changed", "-": "deleted"}.get(obj.history_type, "changed")


# --- Monitoring plan -----------------------------------------------------------------------
class MonitoringEventSerializer(serializers.ModelSerializer):
    drug = serializers.ChoiceField(choices=_choices(codes.Drug))
    kind = serializers.ChoiceField(choices=_choices(codes.EventKind))
    status = serializers.ChoiceField(choices=MonitoringEvent.Status.values)
    tests = serializers.ListField(child=serializers.CharField())
    completion_reason = serializers.CharField(
        help_text="issue #15: why it was completed without a result here (empty: it was not); "
        "one of not_applicable_for_age, done_elsewhere, not_indicated."
    )

    class Meta:
        model = MonitoringEvent
        fields = [
            "id",
            "patient",
            "prescription",
            "drug",
            "kind",
            "tests",
            "earliest",
            "target",
            "latest",
            "status",
            "completed_on",
            "phase",
            "interval_days",
            "explanation",
            "protocol",
            "source",
            "alert",
            "completion_reason",
            "completion_note",
        ]
        read_only_fields = fields


class EventCompleteSerializer(serializers.Serializer):
    """issue #15: complete a baseline or routine test with a reason."""

    reason = serializers.ChoiceField(
        choices=MonitoringEvent.CompletionReason.choices,
        help_text="not_applicable_for_age and not_indicated: baseline tests only; done_elsewhere "
        "needs done_on.",
    )
    done_on = serializers.DateField(
        required=False, allow_null=True, help_text="When it was done at the other hospital."
    )
    note = StrictCharField(required=False, allow_blank=True, max_length=2000)


# --- Alerts --------------------------------------------------------------------------------
class AlertLabResultSerializer(serializers.ModelSerializer):
    analyte = serializers.ChoiceField(choices=_choices(codes.Analyte))
    value = serializers.CharField(source="reported_value")
    unit = serializers.CharField(source="reported_unit")
    canonical_value = serializers.DecimalField(
        source="value", max_digits=12, decimal_places=4, allow_null=True
    )
    canonical_unit = serializers.CharField(source="unit")

    class Meta:
        model = LabResult
        fields = [
            "id",
            "analyte",
            "value",
            "unit",
            "canonical_value",
            "canonical_unit",
            "reference_high",
            "collected_at",
            "accession",
            "version",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    severity = serializers.ChoiceField(choices=_choices(codes.AlertSeverity))
    status = serializers.ChoiceField(choices=Alert.Status.values)
    lab_results = serializers.SerializerMethodField(help_text="The results behind the finding.")
    acknowledged_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    resolved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    details = serializers.DictField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "patient",
            "rule",
            "severity",
            "status",
            "message",
            "action",
            "source",
            "details",
            "lab_result",
            "result_version",
            "lab_results",
            "raised_at",
            "acknowledged_by",
            "acknowledged_at",
            "acknowledge_note",
            "resolved_by",
            "resolved_at",
            "resolve_note",
            "superseded_by",
        ]
        read_only_fields = fields

    @extend_schema_field(AlertLabResultSerializer(many=True))
    def get_lab_results(self, obj):
        rows = getattr(obj, "lab_results_shown", None)
        if rows is None:  # not loaded in bulk by the view (api.selectors.with_lab_results)
            from api.selectors import with_lab_results

            rows = with_lab_results([obj])[0].lab_results_shown
        # One nested serializer for all alerts: building a ModelSerializer's fields per alert
        # cost more than the rest of the list together.
        nested = self.__dict__.get("_lab_serializer")
        if nested is None:
            nested = self.__dict__["_lab_serializer"] = AlertLabResultSerializer()
        return [nested.to_representation(r) for r in rows]


class AlertActionSerializer(serializers.Serializer):
    note = StrictCharField(max_length=4000, help_text="What was done or decided (required).")


# --- Dose calculator -----------------------------------------------------------------------
class DoseCalculationInputSerializer(serializers.Serializer):
    drug = serializers.ChoiceField(
        choices=[
            codes.Drug.METHOTREXATE.value,
            codes.Drug.MYCOPHENOLATE_MOFETIL.value,
            codes.Drug.PREDNISOLONE.value,  # issue #15: corticosteroids, per day
            codes.Drug.PREDNISONE.value,
        ]
    )
    basis = serializers.ChoiceField(choices=_choices(codes.DoseBasis))
    amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        help_text="Methotrexate per week; mycophenolate per administration; prednisolone and "
        "prednisone per day (mg/m², mg/kg or mg).",
    )
    weight_kg = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0.01"))
    height_cm = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        required=False,
        allow_null=True,
        min_value=Decimal("0.1"),
        help_text="Required for mg_per_m2.",
    )
    formula = serializers.ChoiceField(
        choices=_choices(codes.BSAFormula),
        required=False,
        allow_null=True,
        help_text="BSA formula; default mosteller.",
    )
    birth_date = serializers.DateField()
    indication = serializers.ChoiceField(choices=_choices(codes.Diagnosis))
    formulation = serializers.ChoiceField(
        choices=_choices(codes.Formulation),
        required=False,
        allow_null=True,
        help_text="Default: the drug's usual oral product (or for the route).",
    )
    route = serializers.ChoiceField(choices=_choices(codes.Route), required=False, allow_null=True)
    weekday = serializers.ChoiceField(
        choices=_choices(codes.Weekday),
        required=False,
        allow_null=True,
        help_text="Methotrexate: the one day of the week.",
    )
    egfr = serializers.DecimalField(
        max_digits=7,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=Decimal("0"),
        help_text="mL/min/1.73 m²: methotrexate refused below 30, 50 % band 30–59; "
        "mycophenolate renal cap below 25.",
    )
    on_date = serializers.DateField(required=False, help_text="Default: today in your clinic.")
    override_reason = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="A clinician's reason lifting an overridable refusal (a child's dose above "
        "the paediatric ceiling, 10 mg methotrexate tablets for a child).",
    )


class DoseStepSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField()
    explanation = serializers.CharField()


class DoseCalculationSerializer(serializers.Serializer):
    drug = serializers.CharField()
    basis = serializers.CharField()
    frequency = serializers.CharField()
    formulation = serializers.CharField()
    route = serializers.CharField()
    age_years = serializers.IntegerField()
    bsa_m2 = serializers.DecimalField(max_digits=6, decimal_places=3, allow_null=True)
    bsa_formula = serializers.CharField(allow_null=True)
    raw_dose_mg = serializers.DecimalField(max_digits=14, decimal_places=4)
    cap_mg = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True)
    cap_rule = serializers.CharField(allow_null=True)
    capped_dose_mg = serializers.DecimalField(max_digits=14, decimal_places=4)
    final_dose_mg = serializers.DecimalField(max_digits=14, decimal_places=4)
    units = serializers.DecimalField(max_digits=14, decimal_places=4)
    unit_label = serializers.CharField()
    administration = serializers.CharField(help_text="What to give, in words.")
    rounding_rule = serializers.CharField()
    steps = DoseStepSerializer(many=True)
    warnings = WarningSerializer(many=True)


# --- Timeline ------------------------------------------------------------------------------
def _entry(name: str, base: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """A timeline entry: the record's own fields plus type, date and summary."""

    attrs = {
        "type": serializers.ChoiceField(choices=[name], source="_timeline_type"),
        "date": serializers.DateField(source="_timeline_date"),
        "summary": serializers.CharField(source="_timeline_summary"),
        "Meta": type(
            "Meta",
            (base.Meta,),
            {
                "fields": ["type", "date", "summary", *base.Meta.fields],
                "read_only_fields": ["type", "date", "summary", *base.Meta.fields],
            },
        ),
    }
    cls_name = "Timeline" + "".join(part.capitalize() for part in name.split("_")) + "Serializer"
    return type(cls_name, (base,), attrs)


class AssessmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = DiseaseAssessment
        fields = [
            "id",
            "patient",
            "assessed_on",
            "iga",
            "other_score_name",
            "other_score_value",
            "notes",
            "created_at",
        ]
        read_only_fields = fields


class AdverseEventSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=AdverseEvent.Kind.values)
    severity = serializers.ChoiceField(choices=AdverseEvent.Severity.values)

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
            "patient",
            "prescription",
            "kind",
            "description",
            "onset_date",
            "severity",
            "led_to_stop",
            "created_at",
        ]
        read_only_fields = fields


class AssessmentInputSerializer(serializers.Serializer):
    assessed_on = serializers.DateField()
    iga = serializers.IntegerField(
        min_value=0,
        max_value=4,
        help_text="Investigator Global Assessment: 0 clear, 1 almost clear, 2 mild, "
        "3 moderate, 4 severe (REF §7).",
    )
    other_score_name = StrictCharField(
        required=False, allow_blank=True, max_length=40, help_text="e.g. EASI, PASI, CDASI."
    )
    other_score_value = serializers.DecimalField(
        max_digits=7, decimal_places=2, required=False, allow_null=True
    )
    notes = StrictCharField(required=False, allow_blank=True, max_length=2000)


class AdverseEventInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AdverseEvent.Kind.values)
    onset_date = serializers.DateField()
    severity = serializers.ChoiceField(choices=AdverseEvent.Severity.values)
    led_to_stop = serializers.BooleanField(
        required=False, default=False, help_text="Did it lead to stopping the treatment?"
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=4000)
    prescription = serializers.PrimaryKeyRelatedField(
        queryset=Prescription.objects.none(),
        required=False,
        allow_null=True,
        help_text="The patient's prescription it happened on (optional: otherwise the report "
        "attributes it by date).",
    )

    def __init__(self, *args, prescriptions=None, **kwargs):
        super().__init__(*args, **kwargs)
        if prescriptions is not None:
            self.fields["prescription"].queryset = prescriptions


# --- Cohort report (issue 19) ----------------------------------------------------------------
class CohortQuerySerializer(serializers.Serializer):
    drug = serializers.ChoiceField(
        choices=[codes.Drug.METHOTREXATE.value, codes.Drug.MYCOPHENOLATE_MOFETIL.value],
        required=False,
        help_text="Default: both.",
    )
    diagnosis = serializers.ChoiceField(choices=_choices(codes.Diagnosis), required=False)
    min_age_at_start_years = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal(0), required=False
    )
    max_age_at_start_years = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
        help_text="Exclusive: 4 selects children under 4 at the start.",
    )
    started_from = serializers.DateField(required=False)
    started_to = serializers.DateField(required=False)
    response_min_improvement = serializers.ChoiceField(
        choices=[1, 2], required=False, default=2, help_text="IGA grades that make a response."
    )
    percent_rounding = serializers.ChoiceField(
        choices=["half_up", "truncate"], required=False, default="half_up"
    )
    suppress_small = serializers.BooleanField(
        required=False,
        default=False,
        help_text="For sharing outside the clinic: counts ≤ 7 redacted, others rounded to 5.",
    )


class CohortCellSerializer(serializers.Serializer):
    n = serializers.JSONField(help_text='A count, or "[REDACTED]".')
    of = serializers.JSONField(help_text='The denominator, or "[REDACTED]".')
    percent = serializers.JSONField(help_text="One decimal place, per percent_rounding.")


class CohortMeanSerializer(serializers.Serializer):
    n = serializers.JSONField()
    mean = serializers.JSONField()
    sd = serializers.JSONField()


class CohortMedianSerializer(serializers.Serializer):
    n = serializers.JSONField()
    median = serializers.JSONField()
    q1 = serializers.JSONField()
    q3 = serializers.JSONField()


class CohortCountSerializer(serializers.Serializer):
    n = serializers.JSONField()


class CohortTable1Serializer(serializers.Serializer):
    n = serializers.JSONField()
    age_at_start_years = CohortMeanSerializer()
    sex = serializers.DictField(child=CohortCellSerializer())
    baseline_iga = CohortMeanSerializer()
    baseline_iga_missing = CohortCountSerializer()
    start_before_birth = CohortCountSerializer(help_text="Data errors to correct (age taken as 0).")
    starting_dose_mg_per_kg_week = CohortMedianSerializer()
    starting_dose_mg_per_m2_week = CohortMedianSerializer()
    route = serializers.DictField(child=CohortCellSerializer())
    duration_months = CohortMedianSerializer()
    drug = serializers.DictField(child=CohortCellSerializer())


class CohortTimePointSerializer(serializers.Serializer):
    response = CohortCellSerializer()
    iga_0_1 = CohortCellSerializer()
    response_still_on_treatment = CohortCellSerializer()
    iga_0_1_still_on_treatment = CohortCellSerializer()
    still_on_treatment = CohortCellSerializer()
    stopped_before = CohortCountSerializer()
    no_assessment_in_window = CohortCountSerializer()
    no_baseline = CohortCountSerializer()
    pending = CohortCountSerializer()


class CohortAdverseEventsSerializer(serializers.Serializer):
    any = CohortCellSerializer()
    led_to_stop = CohortCellSerializer()
    by_kind = serializers.DictField(child=CohortCellSerializer())


class CohortLabAlertsSerializer(serializers.Serializer):
    transaminase_above_3x_uln = CohortCellSerializer()
    cytopenia = CohortCellSerializer()


class CohortOutcomesSerializer(serializers.Serializer):
    week_12 = CohortTimePointSerializer()
    week_24 = CohortTimePointSerializer()
    response_at_any_review = CohortCellSerializer()
    adverse_events = CohortAdverseEventsSerializer()
    stopped = CohortCellSerializer()
    still_on_treatment = CohortCellSerializer()
    end_reasons = serializers.DictField(
        child=CohortCellSerializer(), help_text="Keyed by end reason code."
    )
    lab_alerts = CohortLabAlertsSerializer()


class CohortReportSerializer(serializers.Serializer):
    n = serializers.JSONField(help_text="Treatment courses in the report.")
    clinic = serializers.CharField()
    today = serializers.DateField(help_text="The clinic's local date the report was made on.")
    filters = serializers.DictField()
    definitions = serializers.DictField(child=serializers.CharField())
    table1 = CohortTable1Serializer()
    outcomes = CohortOutcomesSerializer()
    drug_survival = serializers.JSONField(
        help_text="Kaplan–Meier of time to stopping: overall and by_end_reason, each "
        "{n, median_months, steps: [{months, survival, at_risk, events, censored}]}; "
        '"[REDACTED]" with suppress_small.'
    )


TIMELINE_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    "measurement": _entry("measurement", MeasurementSerializer),
    "prescription": _entry("prescription", PrescriptionSerializer),
    "lab_result": _entry("lab_result", LabResultSerializer),
    "alert": _entry("alert", AlertSerializer),
    "assessment": _entry("assessment", AssessmentSerializer),
    "adverse_event": _entry("adverse_event", AdverseEventSerializer),
}
