"""The access log (issue 14, item 7): who did what, when, to which patient, from where.

One row per patient read (a page of 50 patients is 50 rows), so "who saw patient X" and "what
did user Y see" are each one indexed query; logins, failed logins, lockouts, second-factor events,
API token changes and the admin's "Resend" are rows without a patient. Rows are never changed or
deleted by the application (the admin is read-only). The patient and clinic are kept as ids
without a constraint: a patient deleted later (only one with no clinical record may be) keeps
its trail.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessLog(models.Model):
    class Action(models.TextChoices):
        READ = "read", "read a patient's record"
        LOGIN = "login", "signed in"
        LOGIN_FAILED = "login_failed", "failed sign-in"
        LOCKED_OUT = "locked_out", "locked out"
        LOGOUT = "logout", "signed out"
        OTP_VERIFIED = "otp_verified", "gave a valid authenticator code"
        OTP_FAILED = "otp_failed", "gave a wrong authenticator code"
        OTP_ENROLLED = "otp_enrolled", "enrolled an authenticator"
        TOKEN_ISSUED = "token_issued", "API token issued"
        TOKEN_ROTATED = "token_rotated", "API token rotated"
        RESEND = "resend", "resent notifications"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who (empty for a failed sign-in with an unknown user name).",
    )
    username = models.CharField(max_length=150, blank=True, help_text="As given (or the user's).")
    clinic = models.ForeignKey(
        "patients.Clinic",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    view = models.CharField(
        max_length=200, blank=True, help_text="URL name, e.g. api:patient-detail."
    )
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "-at"], name="audit_clinic_at"),
            models.Index(fields=["patient", "-at"], name="audit_patient_at"),
            models.Index(fields=["user", "-at"], name="audit_user_at"),
        ]

    def __str__(self) -> str:
        who = self.username or (self.user_id and f"user {self.user_id}") or "?"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.action}"
