"""The one JSON error shape of API v1, for every 4xx the API answers.

    {"errors": [{"field": "dose_mg", "code": "MTX_DOSE_ABOVE_CAP", "message": "..."}]}

`field` names the input field (a dotted path inside lists and objects, e.g. "results.3.value"),
or is null for an error about the request as a whole (401, 403, 404, 405, 413, 429 ...).
A transient database error (deadlock, lock conflict, lost connection) is a 503 with
`Retry-After` and code "temporarily_unavailable", not a 500: the request can be retried.
`code` is stable and machine-readable: DRF's codes ("required", "invalid", "not_found",
"throttled", ...), the clinical check codes of a refused prescription, or our own
("request_too_large", "naive_datetime", ...). `message` is for a person.

Django `ValidationError`s raised by the services become 400s with their field and code, so a
service refusing input never turns into a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.db import OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger("django.request")


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class TemporarilyUnavailable(exceptions.APIException):
    """A transient database error (a lock conflict or deadlock between concurrent writers, a
    connection lost mid-request): the request's transaction was rolled back; retry it. Lab
    results are keyed by accession, so re-sending a batch never stores one twice."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "A temporary database problem (e.g. a conflict with a concurrent request); "
        "retry the request."
    )
    default_code = "temporarily_unavailable"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def error_items(detail, field: str | None = None) -> Iterator[dict]:
    """Flatten DRF error detail (nested dicts/lists of ErrorDetail) into error items."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            key = str(key)
            if key in (api_settings.NON_FIELD_ERRORS_KEY, "__all__"):
                sub = field
            else:
                sub = f"{field}.{key}" if field else key
            yield from error_items(value, sub)
    elif isinstance(detail, list | tuple):
        for value in detail:
            yield from error_items(value, field)
    else:
        yield {
            "field": field,
            "code": getattr(detail, "code", None) or "invalid",
            "message": str(detail),
        }


def django_error_items(
    exc: DjangoValidationError, rename: Mapping[str, str] | None = None
) -> list[dict]:
    """Error items from a Django ValidationError (a service refusing input), codes kept."""
    rename = rename or {}
    detail = as_serializer_error(exc)
    items = list(error_items(detail))
    for item in items:
        if item["field"] in rename:
            item["field"] = rename[item["field"]]
    return items


def error_body(items: list[dict]) -> dict:
    return {"errors": items}


def exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: DRF's handler, then reshape to the one error shape."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, OperationalError):
        log.warning("Transient database error, answered 503: %s", exc)
        exc = TemporarilyUnavailable()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
    items = list(error_items(exc.detail))
    if not items:
        items = [{"field": None, "code": "error", "message": "The request failed."}]
    response.data = error_body(items)
    if isinstance(exc, TemporarilyUnavailable):
        response["Retry-After"] = "1"
    return response


def _server_error(exc, context):
    """An unexpected error: logged with its traceback like any 500, answered in the same shape.
    (With DEBUG, Django's debug page instead.)"""
    if settings.DEBUG:
        return None
    request = getattr(context.get("request"), "_request", None)
    log.error(
        "Internal Server Error: %s",
        getattr(request, "path", "?"),
        exc_info=exc,
        extra={"status_code": 500, "request": request},
    )
    # Lets Django's test client re-raise it, as it does for errors Django handles itself.
    got_request_exception.send(sender=None, request=request)
    return Response(
        error_body(
            [
                {
                    "field": None,
                    "code": "server_error",
                    "message": "An unexpected error; it has been logged.",
                }
            ]
        ),
        status=500,
    )


@csrf_exempt
def json_not_found(request, *args, **kwargs):
    """Anything under /api/v1/ that no route matches: a 404 in the same shape (not Django's HTML)."""
    return JsonResponse(
        error_body([{"field": None, "code": "not_found", "message": "No such API endpoint."}]),
        status=404,
    )
