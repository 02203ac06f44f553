"""Serializer fields the API needs beyond DRF's own."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset ("2026-03-02T08:15:00+01:00" or "...Z"); a naive time is refused
    rather than guessed in some time zone. Answers are in UTC ("...Z")."""

    default_error_messages = {
        "naive_datetime": "needs a time-zone offset (ISO 8601, e.g. 2026-03-02T08:15:00+01:00).",
    }

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive_datetime")
        try:
            return super().enforce_timezone(value)
        except OverflowError:
            # e.g. year 9999 at -14:00 does not fit once converted to UTC
            self.fail("invalid", format="ISO 8601 with an offset")


@extend_schema_field(
    {
        "oneOf": [{"type": "number"}, {"type": "string", "minLength": 1, "maxLength": 64}],
        "description": 'A number, or the text exactly as reported (e.g. "<10", "42", "haemolysed").',
    }
)
class LabValueField(serializers.Field):
    """A lab value as the lab reported it: a JSON number or the text; kept as text."""

    default_error_messages = {
        "invalid": "must be a number or the text as reported.",
        "blank": "may not be blank.",
        "max_length": "is longer than 64 characters.",
    }

    def to_internal_value(self, data) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal | float):
            self.fail("invalid")
        if isinstance(data, Decimal | float) and not Decimal(str(data)).is_finite():
            self.fail("invalid")
        if isinstance(data, str) and len(data) > 64:
            self.fail("max_length")
        text = data.strip() if isinstance(data, str) else str(data)
        if not text:
            self.fail("blank")
        if len(text) > 64:
            self.fail("max_length")
        if "\x00" in text:
            self.fail("invalid")
        return text

    def to_representation(self, value):
        return value


class StrictCharField(serializers.CharField):
    """Text exactly as the schema says: a string (DRF's CharField turns 42 into "42") of at most
    max_length characters as sent (DRF checks the length after trimming whitespace)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {self.max_length} characters.",
                code="max_length",
            )
        return super().to_internal_value(data)
