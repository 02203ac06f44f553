"""Monitoring events (the plan), alerts (findings that need a human) and notifications (e-mails).

The planner and the lab rules that produce these rows are pure functions in `clinical/`;
`schedules/services.py` syncs their output here idempotently.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from clinical import codes
from patients.choices import DRUG, choices
from patients.models import Clinic, LabResult, Patient, Prescription, StaffMembership


class MonitoringEvent(models.Model):
    """A planned lab draw or review with its window, produced by `clinical.planner`."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        UPCOMING = "upcoming", "Upcoming"
        DUE = "due", "Due"
        OVERDUE = "overdue", "Overdue"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        # issue #15: a response review not recorded, reminded and escalated once: listed as
        # missed, no longer reminded.
        MISSED = "missed", "Missed"

    OPEN_STATUSES = (Status.PLANNED, Status.UPCOMING, Status.DUE, Status.OVERDUE)

    class CompletionReason(models.TextChoices):
        """Why a test was completed without a result here (issue #15)."""

        NOT_APPLICABLE_FOR_AGE = "not_applicable_for_age", "Not applicable for age"
        DONE_ELSEWHERE = "done_elsewhere", "Done at another hospital"
        NOT_INDICATED = "not_indicated", "Not indicated (clinician's decision)"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="monitoring_events")
    prescription = models.ForeignKey(
        Prescription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The prescription in force when it was planned.",
    )
    drug = models.CharField(max_length=30, choices=DRUG)
    key = models.CharField(
        max_length=200, help_text="The planner's stable identity for this event (idempotent sync)."
    )
    kind = models.CharField(max_length=20, choices=choices(codes.EventKind))
    tests = models.JSONField(default=list)
    earliest = models.DateField()
    target = models.DateField()
    latest = models.DateField(help_text="Overdue after this local date.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    completed_on = models.DateField(null=True, blank=True)
    phase = models.CharField(max_length=60, blank=True)
    interval_days = models.PositiveSmallIntegerField(null=True, blank=True)
    explanation = models.TextField(help_text="Why this event exists, with its source.")
    protocol = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=300, blank=True)
    alert = models.ForeignKey(
        "Alert",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="repeat_events",
        help_text="For a confirmatory repeat: the alert that asked for it.",
    )
    # issue #15: completed with a reason (not applicable, done elsewhere) by a person.
    completion_reason = models.CharField(
        max_length=30, choices=CompletionReason.choices, blank=True
    )
    completion_note = models.TextField(blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["target", "id"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "key"], name="event_key_unique_per_patient")
        ]
        indexes = [
            # Used by the reminder sweep: open events by date.
            models.Index(fields=["status", "target"], name="event_open_by_target"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target} ({self.status})"


class Alert(models.Model):
    """A finding that needs a human: open → acknowledged (who, when, note) → resolved."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        SUPERSEDED = "superseded", "Superseded (result amended)"

    ACTIVE_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED)

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="alerts")
    # The patient's clinic, copied onto the alert so that a clinic's alert list (the API's, the
    # nurses' poll) is read from one index, (clinic, status, newest first), instead of joining
    # every alert of that status in every clinic to its patient. Set from the patient when the
    # alert is saved (save(), schedules.services); kept equal to the patient's by Patient.save()
    # and, on PostgreSQL, by a foreign key on (patient, clinic) that cascades a patient's move to
    # another clinic and refuses any other value (migration schedules/0004).
    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        related_name="alerts",
        editable=False,
        help_text="The patient's clinic (a copy, kept equal by the database).",
    )
    lab_result = models.ForeignKey(
        LabResult,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alerts",
        help_text="The result that raised it.",
    )
    result_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version of the result evaluated (amendments bump it)."
    )
    related_results = models.ManyToManyField(
        LabResult, blank=True, related_name="+", help_text="Every result behind the finding."
    )
    rule = models.CharField(max_length=60)
    severity = models.CharField(max_length=10, choices=choices(codes.AlertSeverity))
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)
    message = models.TextField()
    action = models.TextField(help_text="The recommended action.")
    source = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True, help_text="ULN used, thresholds, values.")
    raised_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolve_note = models.TextField(blank=True)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            # One alert per result version and rule, however often evaluation runs.
            models.UniqueConstraint(
                fields=["lab_result", "result_version", "rule"],
                name="alert_unique_per_result_version_rule",
                condition=models.Q(lab_result__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["status", "severity", "raised_at"]),
            # GET /api/v1/alerts/?status=open, newest first (the default order): the page is read
            # from the index in order and stops after one page, and the count is the index's
            # entries of that clinic and status - not every open alert of every clinic joined to
            # its patient (the index before, migration 0003, had no clinic).
            models.Index(
                fields=["clinic", "status", "-raised_at", "-id"], name="alert_clinic_status_newest"
            ),
        ]

    def save(self, *args, **kwargs):
        if self.clinic_id is None and self.patient_id is not None:
            self.clinic_id = self.patient.clinic_id
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.severity}: {self.rule} ({self.status})"


class Notification(models.Model):
    """Every e-mail sent or to be sent, keyed so that no retry or re-run sends it twice."""

    class Kind(models.TextChoices):
        DIGEST = "digest", "Daily digest (upcoming, due, overdue)"
        CRITICAL = "critical", "Critical alert"
        ESCALATION = "escalation", "Escalation to the clinic"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # Nothing left to say when it was first claimed (every event done or re-dated, the
        # alert superseded): kept as the record of that day's digest, never sent.
        SKIPPED = "skipped", "Skipped (nothing left to send)"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="notifications")
    key = models.CharField(
        max_length=200, unique=True, help_text="What, for whom, which occurrence."
    )
    kind = models.CharField(max_length=15, choices=Kind.choices)
    recipient = models.ForeignKey(
        StaffMembership,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    to_email = models.EmailField()
    patient = models.ForeignKey(
        Patient, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    alert = models.ForeignKey(
        Alert, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    events = models.ManyToManyField(MonitoringEvent, blank=True, related_name="notifications")
    items = models.JSONField(default=list, blank=True, help_text="What the e-mail reports.")
    subject = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    for_date = models.DateField(
        null=True, blank=True, help_text="Digest and escalation: the clinic-local day it is for."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Used by the sender sweep: what is pending (or stuck sending) and due to be tried.
            models.Index(fields=["state", "next_attempt_at"], name="notification_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to_email} ({self.state})"


class Reminder(models.Model):
    """One reminder occurrence for one recipient: the unit a daily digest carries (issue #5).

    The key (phase, event, which occurrence, for whom) is unique, so a second sweep, a second
    worker or a redelivered task finds the row already there. A reminder waits (no
    `notification`) until its recipient's next digest is claimed for sending, which attaches
    it; if its event was done, cancelled or re-dated first, it is dropped with the reason.
    Rules: `clinical.reminders`.
    """

    class Phase(models.TextChoices):
        UPCOMING = "upcoming", "Coming up"
        DUE = "due", "Due"
        OVERDUE = "overdue", "Overdue"
        ESCALATION = "escalation", "Escalated to the clinic"

    key = models.CharField(
        max_length=200, unique=True, help_text="What, for whom, which occurrence."
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(MonitoringEvent, on_delete=models.CASCADE, related_name="reminders")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    phase = models.CharField(max_length=12, choices=Phase.choices)
    recipient = models.ForeignKey(
        StaffMembership,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The responsible nurse; empty: the clinic contact.",
    )
    target = models.DateField(help_text="The event's target date when this was queued.")
    latest = models.DateField(help_text="The event's latest date when this was queued.")
    due_on = models.DateField(help_text="The clinic-local day this occurrence fell due.")
    notification = models.ForeignKey(
        Notification,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reminders",
        help_text="The e-mail that carries it; empty while it waits for the next digest.",
    )
    dropped = models.CharField(
        max_length=200, blank=True, help_text="Why it was never sent (the event changed first)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            # Used by digest composition and claiming: reminders still waiting for an e-mail.
            models.Index(
                fields=["clinic", "recipient", "due_on"],
                name="reminder_waiting",
                condition=models.Q(notification__isnull=True, dropped=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_phase_display()} {self.due_on} ({self.key})"


# --- Calendar feeds (issue 17 item 6) -----------------------------------------------------------
class CalendarFeed(models.Model):
    """A secret iCalendar URL for one nurse's patients or for a whole clinic.

    Only the SHA-256 of the token is stored: the URL is shown once, when the token is made or
    rotated (`schedules.calendar.feed_rotate`), and a rotated token's old URL is a 404 at once.
    A nurse's feed belongs to the nurse's clinic; it stops (404) if she leaves it or the role.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="calendar_feeds")
    nurse = models.OneToOneField(
        StaffMembership,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="calendar_feed",
        limit_choices_to={"role": StaffMembership.Role.NURSE},
        help_text="Empty: the clinic's feed (every patient of the clinic).",
    )
    token_hash = models.CharField(
        max_length=64, unique=True, editable=False, help_text="SHA-256 of the secret token (hex)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the token was last replaced."
    )

    class Meta:
        ordering = ["clinic", "nurse"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic"],
                condition=models.Q(nurse__isnull=True),
                name="one_clinic_calendar_feed_per_clinic",
            )
        ]

    @property
    def kind(self) -> str:
        return "nurse" if self.nurse_id else "clinic"

    def __str__(self) -> str:
        if self.nurse_id:
            user = self.nurse.user
            return f"Calendar of {user.get_full_name() or user.username} ({self.clinic})"
        return f"Calendar of {self.clinic}"


class CalendarEntry(models.Model):
    """The SEQUENCE a monitoring event has in every calendar feed, and what it was given for.

    Written when a feed is built: an event whose day or state differs from `fingerprint` gets
    the next sequence (`clinical.calendar_feed.next_sequence`), with a compare-and-set so two
    feeds built at once bump it once. Shared by every feed that shows the event.
    """

    event = models.OneToOneField(
        MonitoringEvent, on_delete=models.CASCADE, primary_key=True, related_name="calendar_entry"
    )
    sequence = models.PositiveIntegerField(default=0)
    fingerprint = models.CharField(max_length=60)
    changed_at = models.DateTimeField(help_text="When the sequence was last set.")

    def __str__(self) -> str:
        return f"event {self.event_id}: sequence {self.sequence} ({self.fingerprint})"
