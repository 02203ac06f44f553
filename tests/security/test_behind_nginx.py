"""Issue 14: what Django is told by the shipped nginx (deploy/nginx/mtxmonitor.conf run for real
by this machine's nginx, in front of a small upstream that answers with the headers it got).

With DJANGO_SECURE_PROXY_SSL_HEADER=1 Django believes X-Forwarded-Proto, and the lockout and the
access log take the client's address from X-Forwarded-For (MTXMONITOR_TRUSTED_PROXY_COUNT=1):
both are safe only if nginx sets them and a client cannot."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.api.test_proxy import needs_nginx, nginx


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def through_nginx(tmp_path):
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = nginx.start(tmp_path / "nginx", port, f"127.0.0.1:{upstream.server_port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        nginx.stop(proc)
        upstream.shutdown()


@needs_nginx
def test_nginx_sets_the_scheme_and_the_address_a_client_cannot_forge(through_nginx, rf, settings):
    from accounts.security import client_ip

    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    seen = requests.get(f"{through_nginx}/api/v1/patients/", headers=forged, timeout=30).json()
    # The client's "https" is replaced by nginx's own scheme (plain http here; "https" where TLS
    # ends at nginx), so Django's SSL redirect and secure cookies cannot be talked out of.
    assert seen["x-forwarded-proto"] == "http"
    # nginx appends the address it accepted; the client's own claim stays on the left.
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    settings.MTXMONITOR_TRUSTED_PROXY_COUNT = 1
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=seen["x-forwarded-for"])
    assert client_ip(request) == "127.0.0.1"  # what the lockout and the access log record
