"""The nginx proxy docker-compose puts in front of gunicorn (deploy/nginx/mtxmonitor.conf).

The compose wiring is read from the files; the proxy itself is run for real (this machine's
nginx, the same server block, its upstream pointed at a live test server) when nginx is
installed (Debian: apt-get install -y nginx).
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
from pathlib import Path

import pytest
import requests
import yaml
from django.conf import settings

from tests.api.conftest import api_key
from tests.conftest import make_member

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "mtxmonitor.conf"

_spec = importlib.util.spec_from_file_location("nginx_run_local", CONF.with_name("run_local.py"))
nginx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nginx)

needs_nginx = pytest.mark.skipif(
    nginx.nginx_binary() is None, reason="nginx is not installed (apt-get install -y nginx)"
)


def _megabytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", size).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def test_compose_publishes_the_proxy_and_not_gunicorn():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "ports" not in services["web"], "gunicorn's sync workers must sit behind the proxy"
    proxy = services["proxy"]
    assert proxy["ports"] == ["8000:8000"]
    assert proxy["volumes"] == ["./deploy/nginx/mtxmonitor.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert "server web:8000 " in CONF.read_text()


def test_the_proxy_lets_the_api_answer_an_oversized_body_itself():
    """nginx's body limit is above the application's, so the client gets the API's JSON 413."""
    (limit,) = re.findall(r"^\s*client_max_body_size\s+(\w+);", CONF.read_text(), re.M)
    assert _megabytes(limit) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE


@pytest.fixture
def proxied(live_server, tmp_path):
    """(proxy URL, direct URL) with nginx on a free loopback port in front of live_server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    upstream = live_server.url.split("://", 1)[1]
    proc = nginx.start(tmp_path / "nginx", port, upstream)
    try:
        yield f"http://127.0.0.1:{port}", live_server.url
    finally:
        nginx.stop(proc)


def _call(url: str, token: str, body: bytes | None = None) -> tuple[int, dict, dict]:
    r = requests.request(
        "POST" if body else "GET",
        url,
        data=body,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    return r.status_code, dict(r.headers), r.json()


@needs_nginx
def test_the_proxy_passes_api_calls_through_unchanged(
    transactional_db, proxied, clinic, other_clinic, patient
):
    via_proxy, _ = proxied
    token = api_key(make_member(clinic, "proxy-integration", "integration"))
    lab = {
        "patient": patient.pk,
        "analyte": "ALT",
        "value": 250,
        "unit": "U/L",
        "reference_high": 40,
        "collected_at": "2026-11-30T08:00:00+00:00",
        "accession": "PROXY-1",
    }
    # A batch padded past nginx's in-memory body buffer (1 MB) to just under the API's limit:
    # nginx spools it to its temporary directory and hands gunicorn the whole request.
    body = json.dumps({"results": [lab]}).encode()
    body = body[:-1] + b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - len(body) - 1) + b"}"
    status, _, answer = _call(f"{via_proxy}/api/v1/labs/batch/", token, body)
    assert status == 200, answer
    assert answer["summary"]["created"] == 1

    for path in (f"/api/v1/patients/{patient.pk}/", "/api/v1/labs/?accession=PROXY-1"):
        proxied_answer, direct_answer = (_call(base + path, token) for base in proxied)
        assert proxied_answer[0] == direct_answer[0] == 200
        assert proxied_answer[2] == direct_answer[2]

    # Another clinic's patient is a 404 through the proxy as well.
    stranger = api_key(make_member(other_clinic, "proxy-other", "clinician"))
    assert _call(f"{via_proxy}/api/v1/patients/{patient.pk}/", stranger)[0] == 404


@needs_nginx
def test_an_oversized_body_gets_the_apis_json_413_through_the_proxy(
    transactional_db, proxied, clinic
):
    via_proxy, _ = proxied
    token = api_key(make_member(clinic, "proxy-big", "integration"))
    body = b'{"results": [' + b" " * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b"]}"
    status, headers, answer = _call(f"{via_proxy}/api/v1/labs/batch/", token, body)
    assert status == 413
    assert headers["Content-Type"].startswith("application/json")
    assert [e["code"] for e in answer["errors"]] == ["request_too_large"]
