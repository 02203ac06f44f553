"""Production refuses to start without a secret key; DEBUG is off unless asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def run(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MTXMONITOR_"))}
    env["DJANGO_SETTINGS_MODULE"] = "mtxmonitor.settings"
    env.update({k: v for k, v in env_changes.items() if v is not None})
    return subprocess.run(
        [sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_refuses_to_start_without_a_secret_key():
    r = run({})
    assert r.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in r.stderr


def test_debug_is_off_unless_asked_for():
    assert run({"DJANGO_SECRET_KEY": "k" * 50}).stdout.strip() == "False"
    assert run({"DJANGO_DEBUG": "1"}).stdout.strip() == "True"


def test_a_malformed_boolean_is_refused_not_guessed():
    r = run({"DJANGO_SECRET_KEY": "k" * 50, "DJANGO_DEBUG": "maybe"})
    assert r.returncode != 0 and "DJANGO_DEBUG must be one of" in r.stderr
