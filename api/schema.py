"""OpenAPI generation (drf-spectacular): every operation documents the errors it can answer, all
in the one error shape (api/exceptions.py), so a client can code against them and the schema
fuzzing can hold the API to them."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: each error names its field and a stable code.",
    "401": "No or invalid credentials (Authorization: Token <key>).",
    "403": "Your role does not allow this, or you have no role in a clinic.",
    "404": "Not found (or in another clinic), or no such page.",
    "409": "Conflicts with the current state.",
    "413": "The request body is too large.",
    "429": "Too many requests for this token: wait Retry-After seconds.",
}


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        from api.serializers import ErrorSerializer

        codes = ["400", "401", "403", "429"]
        has_body = self.method in ("POST", "PUT", "PATCH")
        if has_body:
            codes.append("413")
        paginated = self._is_list_view() and getattr(self.view, "pagination_class", None)
        if "{" in self.path or paginated:
            codes.append("404")
        codes.extend(getattr(self.view, "extra_error_statuses", {}).get(self.method, []))
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]),
                    code,
                )
        return responses


# Names for the choice sets that share a field name (drf-spectacular ENUM_NAME_OVERRIDES, set
# in settings): values only, as the serializers declare them.
def _values(enum) -> list[str]:
    return [m.value for m in enum]


def _enums() -> dict[str, list[str]]:
    from clinical import codes
    from patients.models import AdverseEvent
    from schedules.models import Alert, MonitoringEvent

    return {
        "DrugEnum": _values(codes.Drug),
        "CalculatorDrugEnum": [
            codes.Drug.METHOTREXATE.value,
            codes.Drug.MYCOPHENOLATE_MOFETIL.value,
            codes.Drug.PREDNISOLONE.value,  # issue #15
            codes.Drug.PREDNISONE.value,
        ],
        "AlertSeverityEnum": _values(codes.AlertSeverity),
        "AdverseEventSeverityEnum": list(AdverseEvent.Severity.values),
        "AlertStatusEnum": list(Alert.Status.values),
        "EventStatusEnum": list(MonitoringEvent.Status.values),
        "PrescriptionStatusEnum": _values(codes.PrescriptionStatus),
        "BsaFormulaEnum": _values(codes.BSAFormula),
        "DiagnosisEnum": _values(codes.Diagnosis),
        # Issue 19: an adverse event's kind (not a monitoring event's).
        "AdverseEventKindEnum": list(AdverseEvent.Kind.values),
    }


def __getattr__(name: str):
    # "api.schema.enum_DrugEnum" → the values (loaded lazily: models are not ready at import).
    if name.startswith("enum_"):
        return _enums()[name.removeprefix("enum_")]
    raise AttributeError(name)
