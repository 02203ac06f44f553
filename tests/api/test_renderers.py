"""api.renderers.JSONRenderer writes what DRF's JSONRenderer writes, byte for byte (orjson)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.utils.functional import lazy
from rest_framework import renderers as drf_renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from api.renderers import JSONRenderer

lazy_text = lazy(lambda: "lazy ✓", str)

VALUES = [
    {"count": 3, "next": None, "previous": None, "results": []},
    {"text": 'ALT 150 U/L > 3× ULN; “quoted” \\ back\\slash "q" \n\t\r\x00\x1f é 漢字 🙂'},
    {"separators": "line\u2028para\u2029end", "nested": ["\u2028"]},
    {"when": datetime(2026, 12, 2, 10, 0, tzinfo=UTC), "day": date(2026, 12, 2)},
    {"micro": datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=UTC)},
    {"offset": datetime(2026, 12, 2, 10, 0, tzinfo=timezone(timedelta(hours=-5)))},
    {"naive": datetime(2026, 12, 2, 10, 0)},
    {"decimal": Decimal("12.3400"), "int": 2**63 - 1, "neg": -(2**63)},
    {"big": 2**64 + 1},  # beyond orjson's integers: DRF's renderer writes it
    {1: "non-string key", "k": True, "f": False},
    {"lazy": lazy_text()},
    {"detail": ErrorDetail("must be a number.", code="invalid")},
    ReturnDict({"a": ReturnList([1, 2, {"b": None}], serializer=None)}, serializer=None),
    {"floats": [0.5, 3.75, 160.0, 1.0, -2.25, 0.1]},
    [],
    "plain",
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_same_bytes_as_drf(value):
    assert JSONRenderer().render(value) == drf_renderers.JSONRenderer().render(value)


def test_an_indented_answer_is_drfs():
    value = {"a": [1, {"b": "c"}]}
    media = "application/json; indent=2"
    ours = JSONRenderer().render(value, media, {})
    assert ours == drf_renderers.JSONRenderer().render(value, media, {})
    assert b"\n  " in ours


def test_none_is_an_empty_body():
    assert JSONRenderer().render(None) == b""


def test_what_neither_can_write_fails_as_drfs_does():
    with pytest.raises(TypeError):
        drf_renderers.JSONRenderer().render({"x": object()})
    with pytest.raises(TypeError):
        JSONRenderer().render({"x": object()})


def test_the_lean_answers_use_it(api_as, patient):
    from tests.api.conftest import make_alert, make_lab

    make_alert(patient, make_lab(patient, "R-1", value="150"), message="ALT\u2028150")
    nurse = api_as("nurse")
    alerts = nurse.get("/api/v1/alerts/", {"status": "open"})
    plan = nurse.get(f"/api/v1/patients/{patient.pk}/plan/")
    for response in (alerts, plan):
        assert response.status_code == 200
        assert isinstance(response.accepted_renderer, JSONRenderer)
        assert response.content == drf_renderers.JSONRenderer().render(response.data)
    assert b"ALT\\u2028150" in alerts.content
