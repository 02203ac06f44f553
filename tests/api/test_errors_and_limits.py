"""One error shape for every failure; auth, throttling, size limits, bad JSON; the token command."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import errors_of, token_client
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def test_no_credentials_is_a_401_with_a_challenge(patient):
    r = APIClient().get("/api/v1/patients/")
    assert r.status_code == 401
    assert r["WWW-Authenticate"] == "Token"
    assert errors_of(r) == {None: "not_authenticated"}


def test_a_wrong_token_is_a_401(patient):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    r = client.get("/api/v1/patients/")
    assert r.status_code == 401 and errors_of(r) == {None: "authentication_failed"}


@pytest.mark.parametrize("key", ["\x00", "abc\x00def", "0" * 39 + "\x00"])
def test_a_token_with_a_nul_byte_is_a_401_not_a_500(patient, key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    r = client.get("/api/v1/patients/")
    assert r.status_code == 401 and errors_of(r) == {None: "authentication_failed"}


def test_a_user_without_a_clinic_role_is_a_403(db, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    r = token_client(user).get("/api/v1/patients/")
    assert r.status_code == 403 and errors_of(r) == {None: "no_clinic_role"}


def test_a_role_that_may_not_is_a_403(api_as, patient):
    r = api_as("nurse").post("/api/v1/patients/", {}, format="json")
    assert r.status_code == 403 and errors_of(r) == {None: "permission_denied"}


def test_an_unknown_url_is_a_json_404(api):
    r = api.get("/api/v1/nothing-here/")
    assert r.status_code == 404 and errors_of(r) == {None: "not_found"}
    assert api.get("/api/v1/patients/abc/").status_code == 404


def test_a_wrong_method_is_a_405(api):
    r = api.delete("/api/v1/labs/")
    assert r.status_code == 405 and errors_of(r) == {None: "method_not_allowed"}


def test_a_body_that_is_not_json_is_a_415(api):
    r = api.post("/api/v1/patients/", "mrn=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and errors_of(r) == {None: "unsupported_media_type"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"mrn": ',  # truncated
        b'{"weight_kg": NaN}',  # not JSON numbers
        b'{"mrn": "\\ud800"}',  # a lone surrogate: valid JSON, not storable text
        b"\xff\xfe",  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # nesting beyond the parser's recursion
    ],
)
def test_malformed_json_is_a_400_not_a_500(api, body):
    r = api.generic("POST", "/api/v1/patients/", body, content_type="application/json")
    assert r.status_code == 400
    assert errors_of(r) == {None: "parse_error"}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_limit_is_a_413(api):
    body = json.dumps({"results": [{"accession": "x" * 50}] * 50})
    r = api.generic("POST", "/api/v1/labs/batch/", body, content_type="application/json")
    assert r.status_code == 413 and errors_of(r) == {None: "request_too_large"}


def test_each_token_has_its_own_budget(api_as, patient, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/min"},
    }
    nurse, viewer = api_as("nurse"), api_as("viewer")
    assert [nurse.get("/api/v1/patients/").status_code for _ in range(3)] == [200] * 3
    r = nurse.get("/api/v1/patients/")
    assert r.status_code == 429 and errors_of(r) == {None: "throttled"}
    assert int(r["Retry-After"]) > 0
    assert viewer.get("/api/v1/patients/").status_code == 200


@pytest.mark.parametrize("backend", ["redis", "locmem"])
def test_the_throttle_counts_a_window_on_redis_and_on_any_other_cache(backend, settings):
    """Redis: one script (INCR, and EXPIRE on the window's first request); another cache:
    incr/add. The same counts, and the window's counter expires after it."""
    import uuid

    from django.core.cache import caches

    from api.throttling import _count

    if backend == "redis":
        if not settings.REDIS_URL:
            pytest.skip("needs Redis: set REDIS_URL")
        location = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
        }
    else:
        location = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    with override_settings(CACHES={"default": location}):
        key = f"throttle:test:{uuid.uuid4().hex}"
        assert [_count(key, timeout=5) for _ in range(3)] == [1, 2, 3]
        assert _count(f"{key}:next", timeout=5) == 1  # another window starts again
        if backend == "redis":
            cache = caches["default"]
            ttl = cache._cache.get_client(write=False).ttl(cache.make_and_validate_key(key))
            assert 0 < ttl <= 5
        assert caches["default"].get(key) == 3  # Django's own key: both ways count the same


def test_validation_errors_carry_field_code_and_message(api):
    r = api.post("/api/v1/patients/", {"sex": "x"}, format="json")
    assert r.status_code == 400
    for error in r.json()["errors"]:
        assert set(error) == {"field", "code", "message"} and error["message"]


# --- create_api_token ----------------------------------------------------------------------
def test_the_command_prints_a_working_token(clinic, patient, capsys):
    make_member(clinic, "lab-feed", "integration", staff=False)
    call_command("create_api_token", "lab-feed")
    key = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/patients/", {"mrn": patient.mrn}).json()["count"] == 1
    call_command("create_api_token", "lab-feed")
    second = capsys.readouterr().out.strip()  # keys are stored hashed: a new one, beside
    assert second != key and client.get("/api/v1/patients/").status_code == 200
    call_command("create_api_token", "lab-feed", "--rotate")
    rotated = capsys.readouterr().out.strip()
    assert rotated not in (key, second)
    assert client.get("/api/v1/patients/").status_code == 401  # the old keys are gone
    client.credentials(HTTP_AUTHORIZATION=f"Token {rotated}")
    assert client.get("/api/v1/patients/").status_code == 200


def test_the_command_refuses_a_user_without_a_clinic(db, django_user_model):
    django_user_model.objects.create_user("loner")
    with pytest.raises(CommandError, match="no role in a clinic"):
        call_command("create_api_token", "loner")
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody")


def test_an_unexpected_error_is_a_logged_500_in_the_same_shape(api, patient, monkeypatch, caplog):
    from api import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.PatientViewSet, "get_queryset", broken)
    api.raise_request_exception = False
    r = api.get("/api/v1/patients/")
    assert r.status_code == 500 and errors_of(r) == {None: "server_error"}
    assert "boom" not in r.content.decode()
    assert any(rec.exc_info and "boom" in str(rec.exc_info[1]) for rec in caplog.records)


def test_a_transient_database_error_is_a_503_to_retry_not_a_500(api_as, patient, monkeypatch):
    """E.g. a deadlock between two writers: PostgreSQL aborts one transaction (OperationalError);
    the integrator is told to retry, and nothing of the request was stored."""
    from django.db import OperationalError, transaction

    from patients import lab_batch
    from patients.models import LabResult

    real = lab_batch.lab_results_record_batch

    def deadlocked(**kwargs):
        with transaction.atomic():
            real(**kwargs)  # stored, then the transaction is aborted by the database
            raise OperationalError("deadlock detected")

    monkeypatch.setattr(lab_batch, "lab_results_record_batch", deadlocked)
    client = api_as("integration")
    client.raise_request_exception = False
    item = {
        "patient": patient.pk,
        "analyte": "ALT",
        "value": "20",
        "unit": "U/L",
        "collected_at": "2026-01-05T09:00:00+00:00",
        "accession": "T-503",
    }
    r = client.post("/api/v1/labs/batch/", {"results": [item]}, format="json")
    assert r.status_code == 503 and r["Retry-After"] == "1"
    assert errors_of(r) == {None: "temporarily_unavailable"}
    assert not LabResult.objects.filter(accession="T-503").exists()  # rolled back whole

    monkeypatch.setattr(lab_batch, "lab_results_record_batch", real)
    again = client.post("/api/v1/labs/batch/", {"results": [item]}, format="json")
    assert again.status_code == 200 and again.json()["summary"]["created"] == 1


def test_the_browsable_api_works_with_a_session_and_enforces_csrf(nina, patient):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(nina)
    page = client.get("/api/v1/patients/", HTTP_ACCEPT="text/html")
    assert (
        page.status_code == 200
        and b"<html" in page.content
        and patient.mrn.encode() in page.content
    )
    r = client.post(f"/api/v1/alerts/{patient.pk}/acknowledge/", {"note": "x"}, format="json")
    assert r.status_code == 403 and "CSRF" in r.json()["errors"][0]["message"]
