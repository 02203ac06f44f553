"""/api/docs/ from vendored assets, and a Content-Security-Policy on every page (issue #13).

The browser tests run Debian's Chromium through Playwright against a live server: the docs page
must render Swagger UI with every request to this host and no CSP violation, and the admin must
still work under the policy.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import pytest

from tests.conftest import make_member

CHROMIUM = "/usr/bin/chromium"


def test_every_page_has_a_policy_allowing_only_this_hosts_scripts(client, db):
    for url in ("/admin/login/", "/api/docs/", "/api/v1/patients/"):
        policy = client.get(url)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'", url
        assert directives["default-src"] == "'self'", url
        assert "unsafe-eval" not in policy and "http" not in policy


def test_the_docs_page_names_no_other_host_and_no_inline_script(client, db):
    page = client.get("/api/docs/").content.decode()
    assert "cdn" not in page.lower() and "@latest" not in page
    for src in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not urlsplit(src).netloc, src
    # Every <script> has a src (an inline one would be blocked by the policy).
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


@pytest.fixture
def short_connections():
    """The live server's request threads close their database connections after each request
    (CONN_MAX_AGE=0), so the test database can be dropped at the end of the session."""
    from django.db import connections

    db = connections.databases["default"]
    old = db.get("CONN_MAX_AGE")
    db["CONN_MAX_AGE"] = 0
    yield
    db["CONN_MAX_AGE"] = old
    if connections["default"].vendor == "postgresql":
        # A request thread still open when the browser closed: end its session on the test
        # database (only there), or dropping the test database fails at the end of the run.
        with connections["default"].cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture
def browser(short_connections):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop, Django's ORM
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def watch(page, live_server):
    """Record every request to another host and every CSP complaint in the console."""
    seen = {"foreign": [], "csp": [], "errors": []}
    here = urlsplit(live_server.url).netloc
    page.on(
        "request",
        lambda r: (
            seen["foreign"].append(r.url)
            if urlsplit(r.url).netloc not in (here, "") and not r.url.startswith("data:")
            else None
        ),
    )
    page.on(
        "console",
        lambda m: (
            seen["csp"].append(m.text)
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    return seen


@pytest.mark.django_db(transaction=True)
def test_api_docs_render_in_chromium_from_this_host_only(browser, live_server):
    page = browser.new_page()
    seen = watch(page, live_server)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "mtxmonitor API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock", timeout=20000)  # the operations, from /api/schema/
    assert seen == {"foreign": [], "csp": [], "errors": []}


@pytest.mark.django_db(transaction=True)
def test_the_admin_works_under_the_policy(browser, live_server):
    from patients.models import Clinic

    clinic = Clinic.objects.create(
        name="Northside Dermatology", time_zone="Europe/London", contact_email="d@example.org"
    )
    make_member(clinic, "alice", "clinician")
    page = browser.new_page()
    seen = watch(page, live_server)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-for-tests-only")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    page.goto(f"{live_server.url}/admin/patients/patient/add/")
    # The admin's own scripts ran: the date shortcuts ("Today") are added by JavaScript.
    page.wait_for_selector(".datetimeshortcuts", timeout=10000)
    assert seen == {"foreign": [], "csp": [], "errors": []}
