"""Issue 14, item 6: API tokens stored hashed, expiring, rotated (api/models.py)."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken, digest
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_database_holds_a_digest_never_the_key(clinic, patient, capsys):
    make_member(clinic, "lab-feed", "integration", staff=False)
    call_command("create_api_token", "lab-feed")
    key = capsys.readouterr().out.strip()
    token = ApiToken.objects.get()
    assert token.key_digest == digest(key) and token.prefix == key[:8]
    assert key not in {str(v) for v in ApiToken.objects.values_list(flat=True)}
    assert client_with(key).get("/api/v1/patients/").status_code == 200
    from rest_framework.authtoken.models import Token

    assert not Token.objects.exists()  # nothing in DRF's plaintext table


def test_a_token_expires(clinic, patient, settings, capsys):
    make_member(clinic, "lab-feed", "integration", staff=False)
    call_command("create_api_token", "lab-feed", "--days", "30")
    key = capsys.readouterr().out.strip()
    assert client_with(key).get("/api/v1/patients/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        r = client_with(key).get("/api/v1/patients/")
    assert r.status_code == 401
    assert "expired" in r.json()["errors"][0]["message"]


def test_rotation_keeps_the_old_key_for_the_grace_period_only(clinic, patient, capsys):
    make_member(clinic, "lab-feed", "integration", staff=False)
    call_command("create_api_token", "lab-feed")
    old = capsys.readouterr().out.strip()
    call_command("create_api_token", "lab-feed", "--rotate", "--grace-minutes", "60")
    new = capsys.readouterr().out.strip()
    assert client_with(old).get("/api/v1/patients/").status_code == 200  # switching over
    with time_machine.travel(timezone.now() + timedelta(minutes=61), tick=False):
        assert client_with(old).get("/api/v1/patients/").status_code == 401
        assert client_with(new).get("/api/v1/patients/").status_code == 200
    call_command("create_api_token", "lab-feed", "--list")
    listing = capsys.readouterr().out
    assert old[:8] in listing and new[:8] in listing and old not in listing


def test_the_migration_hashes_existing_plaintext_tokens(clinic, patient):
    from rest_framework.authtoken.models import Token

    user = make_member(clinic, "legacy-feed", "integration", staff=False)
    key = Token.objects.create(user=user).key  # as stored before issue 14
    migration = importlib.import_module("api.migrations.0002_hash_existing_tokens")
    migration.hash_tokens(apps, None)
    assert not Token.objects.exists()
    token = ApiToken.objects.get(user=user)
    assert token.key_digest == digest(key) and token.expires_at > timezone.now()
    assert client_with(key).get("/api/v1/patients/").status_code == 200  # the key still works
