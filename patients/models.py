"""Clinics, staff, patients and their treatment history.

Clinical records never lose history: every model that holds one keeps a django-simple-history
table (who, when, what changed), and a prescription is never edited in place — a dose change,
hold, restart or stop is a new row that supersedes the previous one (see `Prescription`).
The clinical rules themselves (BSA, dose checks, unit conversion) live in `clinical/`.
"""

from __future__ import annotations

import zoneinfo
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinical import codes
from patients import choices


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/London).")


def validate_not_future(value: date) -> None:
    if value > timezone.localdate():
        raise ValidationError("must not be in the future.")


class Clinic(models.Model):
    name = models.CharField(max_length=200, unique=True)
    time_zone = models.CharField(
        max_length=64,
        default="Europe/London",
        validators=[validate_time_zone],
        help_text="IANA time zone: decides the clinic's 'today' and when reminders are sent.",
    )
    contact_email = models.EmailField(help_text="Escalations of overdue tests go here.")
    bsa_formula = models.CharField(
        "BSA formula",
        max_length=20,
        choices=choices.BSA_FORMULA,
        default=codes.BSAFormula.MOSTELLER.value,
        help_text="Default body-surface-area formula (REF §5); Mosteller unless chosen.",
    )
    mtx_protocol = models.CharField(
        "methotrexate protocol",
        max_length=40,
        default="eular_3e_2009",
        help_text="Default monitoring protocol for methotrexate (a prescription can use another).",
    )
    mmf_protocol = models.CharField(
        "mycophenolate protocol",
        max_length=40,
        default="bsr_2017",
        help_text="Default monitoring protocol for mycophenolate mofetil.",
    )
    reminder_hour = models.PositiveSmallIntegerField(
        default=8,
        validators=[MaxValueValidator(23)],
        help_text="Local hour at which the daily reminder digest is sent.",
    )
    upcoming_lead_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days before a test's target date that nurses hear it is coming up."
    )
    overdue_repeat_days = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1)],
        help_text="An overdue test is reminded again every this many days until done.",
    )
    escalate_after_days = models.PositiveSmallIntegerField(
        default=14, help_text="Days overdue after which the clinic contact is told as well."
    )
    measurement_max_age_days = models.PositiveSmallIntegerField(
        default=90,
        help_text="A weight/height older than this warns on a weight- or BSA-based dose.",
    )
    measurement_max_age_days_under_2 = models.PositiveSmallIntegerField(
        default=30, help_text="The same limit for children under 2 years."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def today(self) -> date:
        """The clinic's local date now (not the server's)."""
        return timezone.now().astimezone(self.tz).date()

    def clean(self) -> None:
        errors = {}
        for field, drug in (
            ("mtx_protocol", codes.Drug.METHOTREXATE),
            ("mmf_protocol", codes.Drug.MYCOPHENOLATE_MOFETIL),
        ):
            problem = protocol_problem(getattr(self, field), drug)
            if problem:
                errors[field] = problem
        if errors:
            raise ValidationError(errors)


def protocol_problem(code: str, drug: codes.Drug) -> str | None:
    """Why `code` is not a monitoring protocol for `drug` (None when it is)."""
    from clinical.protocols import PROTOCOLS

    protocol = PROTOCOLS.get(code)
    if protocol is None:
        return f"unknown protocol {code!r}; known: {', '.join(sorted(PROTOCOLS))}."
    if drug not in protocol.drugs:
        return f"{protocol.name} does not cover {drug.value.replace('_', ' ')}."
    return None


class StaffMembership(models.Model):
    """A user's single role in a single clinic: what they may see and do there."""

    class Role(models.TextChoices):
        CLINICIAN = "clinician", "Clinician"
        NURSE = "nurse", "Nurse"
        VIEWER = "viewer", "Viewer"
        INTEGRATION = "integration", "Integration (lab system / EHR)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="staff")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["clinic", "user__username"]

    def __str__(self) -> str:
        name = self.user.get_full_name() or self.user.username
        return f"{name} ({self.get_role_display()}, {self.clinic})"


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField(
        "MRN", max_length=64, help_text="Medical record number, unique in the clinic."
    )
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    birth_date = models.DateField(validators=[validate_not_future])
    sex = models.CharField(max_length=10, choices=choices.SEX)
    diagnosis = models.CharField(max_length=40, choices=choices.DIAGNOSIS)
    risk_factors = models.JSONField(
        default=list,
        blank=True,
        help_text="Codes of the risk factors that change monitoring: "
        + ", ".join(c.value for c in codes.RiskFactor),
    )
    responsible_nurse = models.ForeignKey(
        StaffMembership,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patients",
        limit_choices_to={"role": StaffMembership.Role.NURSE},
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Issue 14: the monitoring plan's freshness. Set (database time) in the same transaction as
    # any change to the plan's inputs (schedules.signals); cleared by every plan sync, which
    # holds the patient's row lock. The periodic re-plan sweep re-syncs every patient with it
    # set, so a re-plan lost with the broker is redone within minutes.
    plan_stale_since = models.DateTimeField(null=True, blank=True, editable=False)
    plan_synced_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords(excluded_fields=["plan_stale_since", "plan_synced_at"])

    class Meta:
        ordering = ["family_name", "given_name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_mrn_unique_in_clinic")
        ]

    @classmethod
    def from_db(cls, db, field_names, values):
        patient = super().from_db(db, field_names, values)
        patient._stored_clinic_id = patient.__dict__.get("clinic_id")
        return patient

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        moved = (
            self.pk is not None
            and getattr(self, "_stored_clinic_id", self.clinic_id) != self.clinic_id
            and (update_fields is None or "clinic" in update_fields or "clinic_id" in update_fields)
        )
        with transaction.atomic():
            super().save(*args, **kwargs)
            if moved:
                # A patient moved to another clinic takes its alerts along (Alert.clinic is a
                # copy for the clinic's alert list; on PostgreSQL the foreign key on (patient,
                # clinic) cascades this by itself).
                self.alerts.update(clinic_id=self.clinic_id)
        self._stored_clinic_id = self.clinic_id

    def __str__(self) -> str:
        return f"{self.mrn} {self.initials}"

    @property
    def initials(self) -> str:
        return f"{self.given_name[:1]}{self.family_name[:1]}".upper()

    def age_years(self, on: date | None = None) -> int:
        on = on or self.clinic.today()
        years = on.year - self.birth_date.year
        return years - ((on.month, on.day) < (self.birth_date.month, self.birth_date.day))

    def clean(self) -> None:
        errors: dict[str, str] = {}
        valid = {c.value for c in codes.RiskFactor}
        if not isinstance(self.risk_factors, list) or not all(
            isinstance(r, str) for r in self.risk_factors
        ):
            errors["risk_factors"] = "must be a list of risk-factor codes."
        else:
            unknown = sorted(set(self.risk_factors) - valid)
            if unknown:
                errors["risk_factors"] = (
                    f"unknown risk factor(s) {', '.join(unknown)}; known: {', '.join(sorted(valid))}."
                )
            elif len(set(self.risk_factors)) != len(self.risk_factors):
                errors["risk_factors"] = "lists a risk factor twice."
        if self.responsible_nurse_id and self.clinic_id:
            nurse = self.responsible_nurse
            if nurse.clinic_id != self.clinic_id:
                errors["responsible_nurse"] = "must be a nurse of the patient's own clinic."
            elif nurse.role != StaffMembership.Role.NURSE:
                errors["responsible_nurse"] = "must have the nurse role."
        if errors:
            raise ValidationError(errors)


class MeasurementQuerySet(models.QuerySet):
    def current(self):
        """The measurements no correction replaced (what a dose may be calculated from)."""
        return self.filter(superseded_by__isnull=True)


class Measurement(models.Model):
    """Weight and height on a date; the body-surface area is derived and stored with its formula.

    Append-only (issue #13): a stored measurement is never edited, since a dose may have been
    calculated from it. A correction is a new measurement that `supersedes` the wrong one, with
    a `correction_reason`; both stay, with their history.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="measurements")
    measured_on = models.DateField(validators=[validate_not_future])
    weight_kg = models.DecimalField(
        "weight (kg)",
        max_digits=6,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    height_cm = models.DecimalField(
        "height (cm)",
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1"))],
    )
    bsa_m2 = models.DecimalField("BSA (m²)", max_digits=5, decimal_places=3, editable=False)
    bsa_formula = models.CharField(
        "BSA formula",
        max_length=20,
        choices=choices.BSA_FORMULA,
        blank=True,
        help_text="Blank: the clinic's default formula.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    supersedes = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
        help_text="A correction: the measurement this one replaces (kept unchanged).",
    )
    correction_reason = models.TextField(
        blank=True, help_text="Why the measurement it supersedes was wrong (required then)."
    )

    history = HistoricalRecords()
    objects = MeasurementQuerySet.as_manager()

    class Meta:
        ordering = ["-measured_on", "-id"]
        get_latest_by = "measured_on"

    def __str__(self) -> str:
        return f"{self.measured_on}: {self.weight_kg} kg, {self.height_cm} cm"

    def _derive_bsa(self) -> None:
        from clinical.bsa import compute_bsa

        formula = self.bsa_formula or self.patient.clinic.bsa_formula
        result = compute_bsa(self.weight_kg, self.height_cm, codes.BSAFormula(formula))
        self.bsa_formula = result.formula.value
        self.bsa_m2 = result.value_m2

    def clean(self) -> None:
        from clinical.bsa import check_plausible
        from clinical.types import ClinicalInputError

        # The patient may not be saved yet (the Add-patient page's inline measurement): check
        # against the patient being added, not skip the check (issue #13).
        patient = self.patient if Measurement.patient.is_cached(self) else None
        if patient is None and self.patient_id:
            patient = self.patient
        if patient is None or patient.birth_date is None:
            return
        self._clean_correction(patient)
        if self.weight_kg is None or self.height_cm is None:
            return
        if self.weight_kg <= 0 or self.height_cm <= 0:
            return  # the field validators name the field
        try:
            check_plausible(
                self.weight_kg,
                self.height_cm,
                patient.birth_date,
                self.measured_on or patient.clinic.today(),
            )
        except ClinicalInputError as exc:
            field = exc.field if exc.field in {"weight_kg", "height_cm"} else "measured_on"
            raise ValidationError({field: exc.reason}) from exc
        if self.measured_on and self.measured_on < patient.birth_date:
            raise ValidationError({"measured_on": "is before the patient's birth date."})

    def _clean_correction(self, patient) -> None:
        if self.supersedes_id is None:
            if self.correction_reason.strip():
                raise ValidationError(
                    {"supersedes": "name the measurement this one corrects (or clear the reason)."}
                )
            return
        errors = {}
        if not self.correction_reason.strip():
            errors["correction_reason"] = "is required: say why the earlier measurement was wrong."
        if self.supersedes.patient_id != patient.pk:
            errors["supersedes"] = "is another patient's measurement."
        elif self.supersedes.pk == self.pk:
            errors["supersedes"] = "cannot be the measurement itself."
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        stored = self.pk and Measurement.objects.filter(pk=self.pk).exists()
        if stored and not kwargs.get("force_insert"):
            raise ValidationError(
                "A measurement is never edited (a dose may have been calculated from it): "
                "record a correction that supersedes it, with a reason."
            )
        self._derive_bsa()
        super().save(*args, **kwargs)


class Prescription(models.Model):
    """One state of one drug treatment. Never edited: a change is a new row that supersedes it.

    The chain `supersedes` → ... holds the whole history of a treatment course: the current row
    is the one nobody supersedes. Who/when/why of every step: `created_by`, `created_at`,
    `change`, `reason`.
    """

    class Change(models.TextChoices):
        START = "start", "Start"
        DOSE_INCREASE = "dose_increase", "Dose increase"
        DOSE_DECREASE = "dose_decrease", "Dose decrease"
        ROUTE_CHANGE = "route_change", "Route or formulation change"
        HOLD = "hold", "Hold"
        RESTART = "restart", "Restart"
        STOP = "stop", "Stop"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="prescriptions")
    drug = models.CharField(max_length=30, choices=choices.DRUG)
    dose_mg = models.DecimalField(
        "dose (mg)",
        max_digits=8,
        decimal_places=2,
        help_text="Per administration: methotrexate per week; mycophenolate per dose.",
    )
    dose_unit = models.CharField(max_length=10, default="mg", editable=False)
    frequency = models.CharField(max_length=20, choices=choices.FREQUENCY)
    weekday = models.CharField(
        max_length=10,
        choices=choices.WEEKDAY,
        blank=True,
        help_text="Methotrexate (and weekly folic acid): the day of the week, written in full.",
    )
    route = models.CharField(max_length=20, choices=choices.ROUTE, default=codes.Route.ORAL.value)
    formulation = models.CharField(max_length=30, choices=choices.FORMULATION, blank=True)
    basis = models.CharField(
        "dose basis",
        max_length=20,
        choices=choices.DOSE_BASIS,
        blank=True,
        help_text="How the dose was derived (for weight- or BSA-based checks).",
    )
    basis_amount = models.DecimalField(
        "basis amount",
        max_digits=8,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="mg/m² or mg/kg when the dose is weight- or BSA-based.",
    )
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True, help_text="Planned end, if any.")
    status = models.CharField(
        max_length=10,
        choices=choices.PRESCRIPTION_STATUS,
        default=codes.PrescriptionStatus.ACTIVE.value,
    )
    change = models.CharField(max_length=20, choices=Change.choices, default=Change.START)
    supersedes = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
        help_text="The prescription this one replaces (its history is kept unchanged).",
    )
    reason = models.TextField(blank=True, help_text="Why it was started or changed.")
    end_reason = models.CharField(
        max_length=40,
        choices=choices.TREATMENT_END_REASON,
        blank=True,
        help_text="Why the treatment ended (on a stop).",
    )
    override_reason = models.TextField(
        blank=True, help_text="A clinician's recorded reason for overriding a dose cap."
    )
    protocol = models.CharField(
        max_length=40, blank=True, help_text="Monitoring protocol; blank: the clinic's default."
    )
    stable_marked_on = models.DateField(
        null=True, blank=True, help_text="A clinician marked the dose stable on this date."
    )
    warnings = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="The dosing warnings shown when it was saved (code, message, source).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    # Fields that may change on a saved row (everything else is history).
    MUTABLE_FIELDS = frozenset({"stable_marked_on"})

    class Meta:
        ordering = ["-start_date", "-id"]
        indexes = [models.Index(fields=["patient", "drug"])]

    def __str__(self) -> str:
        day = f" on {self.get_weekday_display()}s" if self.weekday else ""
        return f"{self.get_drug_display()} {self.dose_mg:g} mg {self.get_frequency_display().lower()}{day} ({self.state_label})"

    @property
    def successor(self) -> Prescription | None:
        """The prescription that replaced this one (a dose change, hold, restart or stop)."""
        try:
            return self.superseded_by
        except Prescription.DoesNotExist:
            return None

    @property
    def is_current(self) -> bool:
        return self.successor is None

    @property
    def state_label(self) -> str:
        """'active', 'held', 'stopped' for the current row; 'superseded by …' for any other
        (a superseded row keeps the status it had, which is no longer true: issue #13)."""
        nxt = self.successor
        if nxt is None:
            return self.get_status_display().lower()
        return (
            f"superseded by {nxt.get_change_display().lower()} to {nxt.dose_mg:g} mg "
            f"on {nxt.start_date:%Y-%m-%d}"
        )

    def chain(self) -> list[Prescription]:
        """This prescription and every one it superseded, oldest first."""
        rows = [self]
        while rows[-1].supersedes_id:
            rows.append(rows[-1].supersedes)
        return rows[::-1]

    def clean(self) -> None:
        monitored = {codes.Drug.METHOTREXATE.value, codes.Drug.MYCOPHENOLATE_MOFETIL.value}
        if self.protocol and self.drug in monitored:
            problem = protocol_problem(self.protocol, codes.Drug(self.drug))
            if problem:
                raise ValidationError({"protocol": problem})

    def save(self, *args, **kwargs) -> None:
        if self.pk and not kwargs.get("force_insert"):
            old = Prescription.objects.filter(pk=self.pk).values().first()
            if old:
                changed = {
                    f.attname
                    for f in self._meta.concrete_fields
                    if f.attname in old and old[f.attname] != getattr(self, f.attname)
                } - self.MUTABLE_FIELDS
                if changed:
                    raise ValidationError(
                        "A prescription is never edited: record a dose change, hold, restart or "
                        f"stop instead (tried to change {', '.join(sorted(changed))})."
                    )
        super().save(*args, **kwargs)


class LabResult(models.Model):
    """A lab result exactly as reported, plus its value in the canonical unit when evaluable.

    The (clinic, accession) pair is unique: a replay returns the stored row, a changed value under
    the same accession is an amendment (history kept, re-evaluated, earlier alerts superseded).
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="lab_results")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+", editable=False)
    analyte = models.CharField(max_length=20, choices=choices.ANALYTE)
    loinc = models.CharField("LOINC", max_length=20, blank=True)
    reported_value = models.CharField(max_length=64, help_text='As reported, e.g. "42", "<10".')
    reported_unit = models.CharField(max_length=40, blank=True)
    comparator = models.CharField(max_length=2, blank=True, editable=False)
    value = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        editable=False,
        help_text="In the canonical unit; empty when not evaluable.",
    )
    unit = models.CharField("canonical unit", max_length=40, blank=True, editable=False)
    evaluable = models.BooleanField(default=False, editable=False)
    not_evaluable_reason = models.CharField(max_length=200, blank=True, editable=False)
    reference_low = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    reference_high = models.DecimalField(
        "reference high (ULN)",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="In the reported unit; converted with the value.",
    )
    reference_low_canonical = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, editable=False
    )
    reference_high_canonical = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, editable=False
    )
    collected_at = models.DateTimeField()
    accession = models.CharField(max_length=64)
    source = models.CharField(
        max_length=64, default="manual", help_text="Lab system, API, admin, demo."
    )
    received_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Bumped on amendment."
    )
    amended_at = models.DateTimeField(null=True, blank=True, editable=False)
    evaluated_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="The version the lab rules evaluated; empty while an evaluation is pending.",
    )
    evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-collected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "accession"], name="lab_accession_unique_in_clinic"
            )
        ]
        indexes = [
            models.Index(fields=["patient", "analyte", "collected_at"]),
            # Used by the reconcile task: results not yet evaluated at their current version.
            models.Index(
                fields=["received_at"],
                name="lab_pending_evaluation",
                condition=models.Q(evaluated_version__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_analyte_display()} {self.reported_value} {self.reported_unit} ({self.accession})"

    @property
    def needs_evaluation(self) -> bool:
        return self.evaluated_version is None or self.evaluated_version != self.version

    def normalise(self) -> None:
        """Fill the canonical fields from what was reported (clinical.units); never guesses."""
        from clinical.units import normalise

        n = normalise(codes.Analyte(self.analyte), self.reported_value, self.reported_unit)
        self.evaluable = n.evaluable
        self.value = n.value
        self.unit = n.unit
        self.comparator = n.comparator or ""
        self.not_evaluable_reason = n.reason or ""
        self.reference_low_canonical = self._convert_reference(self.reference_low)
        self.reference_high_canonical = self._convert_reference(self.reference_high)

    def _convert_reference(self, limit: Decimal | None) -> Decimal | None:
        from clinical.units import normalise

        if limit is None:
            return None
        n = normalise(codes.Analyte(self.analyte), str(limit), self.reported_unit)
        return n.value if n.evaluable else None

    def clean(self) -> None:
        from clinical.units import normalise

        errors: dict[str, str] = {}
        if self.patient_id:
            self.clinic_id = self.patient.clinic_id
        if self.collected_at and self.collected_at > timezone.now() + timezone.timedelta(minutes=5):
            errors["collected_at"] = "is in the future."
        elif self.collected_at:
            problem = self._collected_at_problem()
            if problem:
                errors["collected_at"] = problem
        if getattr(self, "_strict_unit", True) and self.analyte and self.reported_value:
            n = normalise(codes.Analyte(self.analyte), "1", self.reported_unit)
            if not n.evaluable:
                errors["reported_unit"] = (
                    f"{self.reported_unit!r} is not a known unit for {self.get_analyte_display()}; "
                    f"use {n.unit} or a known equivalent."
                )
        if (
            self.reference_low is not None
            and self.reference_high is not None
            and self.reference_low > self.reference_high
        ):
            errors["reference_high"] = "is below reference_low."
        if errors:
            raise ValidationError(errors)
        if self.analyte and self.reported_value:
            # An absurd magnitude (e.g. ALT 999999999999) must be refused, not crash the save.
            from patients.lab_batch import storage_problems

            self.normalise()
            problem = storage_problems(self)
            if problem:
                raise problem

    # Issue 14: a result "collected" before its patient was born (or in 1900) is an entry error;
    # accepted, it could never be evaluated (the lab rules need the age at collection).
    MAX_AGE_YEARS = 120

    def _collected_at_problem(self) -> str | None:
        from clinical.timeutil import local_date

        oldest = timezone.now() - timezone.timedelta(days=round(365.25 * self.MAX_AGE_YEARS))
        if self.collected_at < oldest:
            return (
                f"{self.collected_at.date().isoformat()} is more than {self.MAX_AGE_YEARS} years "
                "ago; check the date."
            )
        if self.patient_id:
            patient = self.patient
            tz = patient.clinic.time_zone if patient.clinic_id else "UTC"
            collected_on = local_date(self.collected_at, tz)
            if patient.birth_date and collected_on < patient.birth_date:
                return (
                    f"{collected_on.isoformat()} is before the patient's birth date "
                    f"({patient.birth_date.isoformat()}); check the date."
                )
        return None

    def save(self, *args, **kwargs) -> None:
        if self.patient_id and not self.clinic_id:
            self.clinic_id = self.patient.clinic_id
        self.normalise()
        super().save(*args, **kwargs)


class DiseaseAssessment(models.Model):
    """Disease activity over time (REF §7): IGA 0 clear – 4 severe, at baseline and reviews."""

    class IGA(models.IntegerChoices):
        CLEAR = 0, "0 – clear"
        ALMOST_CLEAR = 1, "1 – almost clear"
        MILD = 2, "2 – mild"
        MODERATE = 3, "3 – moderate"
        SEVERE = 4, "4 – severe"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="assessments")
    assessed_on = models.DateField(validators=[validate_not_future])
    iga = models.PositiveSmallIntegerField("IGA", choices=IGA.choices)
    other_score_name = models.CharField(
        max_length=40, blank=True, help_text="e.g. EASI, PASI, CDASI"
    )
    other_score_value = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-assessed_on", "-id"]

    def __str__(self) -> str:
        return f"{self.assessed_on}: IGA {self.iga}"


class AdverseEvent(models.Model):
    class Kind(models.TextChoices):
        GASTROINTESTINAL = "gastrointestinal", "Nausea / GI upset"
        TRANSAMINITIS = "transaminitis", "Raised liver enzymes"
        CYTOPENIA = "cytopenia", "Cytopenia"
        INFECTION = "infection", "Infection"
        MUCOSITIS = "mucositis", "Mucositis / mouth ulcers"
        FATIGUE = "fatigue", "Fatigue"
        RENAL = "renal", "Renal impairment"
        PULMONARY = "pulmonary", "Pneumonitis / pulmonary"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"
        LIFE_THREATENING = "life_threatening", "Life-threatening"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="adverse_events")
    prescription = models.ForeignKey(
        Prescription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="adverse_events",
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    description = models.TextField(blank=True)
    onset_date = models.DateField(validators=[validate_not_future])
    severity = models.CharField(max_length=20, choices=Severity.choices)
    led_to_stop = models.BooleanField("led to stopping", default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-onset_date", "-id"]

    def __str__(self) -> str:
        return f"{self.onset_date}: {self.get_kind_display()} ({self.severity})"

    def clean(self) -> None:
        if (
            self.prescription_id
            and self.patient_id
            and self.prescription.patient_id != self.patient_id
        ):
            raise ValidationError({"prescription": "belongs to another patient."})
