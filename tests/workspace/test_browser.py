"""The workspace in a real browser (issue #17 "Done when"): Playwright drives Debian's Chromium
(/usr/bin/chromium; never `playwright install`) against a live server, with a real Celery worker
on Redis evaluating what is typed. A clinician and a nurse each walk: log in → Today → a
patient's chart (banner, flowsheet, a trend chart drawn with its normal band) → (clinician)
prescribe with a preview and confirm → a liver panel with an ALT above 3× ULN → one alert on
Today within seconds → acknowledge and resolve it with a note.

Every walk fails on a server error (5xx), a console error or uncaught page error, a request to
any host but the test server, or a page wider than 1280 px. Screenshots of Today, the chart and
the preview are written to the test's tmp directory, and to docs/screenshots/ with
MTXMONITOR_SCREENSHOTS=1 (how the README's pictures are made).
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from tests.conftest import make_member

pytestmark = [pytest.mark.worker, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "pw-for-tests-only"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def browser(monkeypatch):
    if not Path(CHROMIUM).exists():
        if os.environ.get("MTXMONITOR_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
        pytest.skip(f"needs {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls between
    # browser steps are synchronous and safe (https://docs.djangoproject.com/en/5.2/topics/async/).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--lang=en-GB"])
        yield b
        b.close()


class Watch:
    """What a page did that fails the walk."""

    def __init__(self, page, base_url: str):
        self.problems: list[str] = []
        self.host = urlsplit(base_url).netloc
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "response",
            lambda r: self.problems.append(f"{r.status} from {r.url}") if r.status >= 500 else None,
        )
        page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc == self.host:
            route.continue_()
        else:
            self.problems.append(f"request to another host: {url}")
            route.abort()

    def check(self, page):
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 1280:
            self.problems.append(f"{page.url} is {width} px wide")
        assert self.problems == []


def shoot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=name != "chart")
    if os.environ.get("MTXMONITOR_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / path.name)


def history(patient, *, months: int = 12, alt: str = "24") -> None:
    """Monthly labs for a year, the last a week ago (baseline bloods for a new start), stored as
    already evaluated: the worker's queue then holds only what the walk types."""
    from patients.models import LabResult

    now = timezone.now().replace(hour=9, minute=15, second=0, microsecond=0)
    panel = [
        ("alt", alt, "U/L", "40"), ("ast", "22", "U/L", "40"), ("albumin", "42", "g/L", None),
        ("wbc", "6.1", "10*9/L", "11"), ("neutrophils", "3.4", "10*9/L", "7.5"),
        ("lymphocytes", "1.9", "10*9/L", "4"), ("eosinophils", "0.2", "10*9/L", "0.5"),
        ("platelets", "260", "10*9/L", "400"), ("haemoglobin", "132", "g/L", "160"),
        ("mcv", "91", "fL", "100"), ("creatinine", "72", "umol/L", "110"),
        ("egfr", "88", "mL/min/{1.73_m2}", None),
    ]  # fmt: skip
    for m in range(months):
        at = now - timedelta(days=7 + 30 * m)
        for analyte, value, unit, high in panel:
            if analyte == "alt" and m == 4:
                value = "52"  # a mild rise months ago: flagged H on the chart, no alert
            LabResult(
                patient=patient,
                analyte=analyte,
                reported_value=value,
                reported_unit=unit,
                reference_high=Decimal(high) if high else None,
                reference_low=Decimal("3.5") if analyte == "wbc" else None,
                collected_at=at,
                accession=f"{patient.mrn}-{m}-{analyte}",
                source="test",
                evaluated_version=1,
                evaluated_at=at,
            ).save()


@pytest.fixture
def cast(celery_worker, clinic):
    from patients.models import Measurement, Patient, Prescription

    doctor = make_member(clinic, "dr.walk", "clinician")
    nurse = make_member(clinic, "nurse.walk", "nurse")
    for u, (first, last) in ((doctor, ("Ada", "Okafor")), (nurse, ("Nell", "Hart"))):
        u.first_name, u.last_name = first, last
        u.save()
    new = Patient.objects.create(
        clinic=clinic, mrn="NS-2001", given_name="Rosa", family_name="Lindqvist",
        birth_date="1968-04-09", sex="female", diagnosis="dermatomyositis",
        responsible_nurse=nurse.membership,
    )  # fmt: skip
    treated = Patient.objects.create(
        clinic=clinic, mrn="NS-2002", given_name="Tom", family_name="Alvarez",
        birth_date="1979-11-23", sex="male", diagnosis="psoriasis",
        responsible_nurse=nurse.membership,
    )  # fmt: skip
    for p in (new, treated):
        Measurement.objects.create(
            patient=p,
            measured_on=timezone.localdate() - timedelta(days=14),
            weight_kg=Decimal("68"),
            height_cm=Decimal("166"),
        )
    Prescription.objects.create(
        patient=treated, drug="methotrexate", dose_mg=Decimal("15"), frequency="once_weekly",
        weekday="wednesday", route="oral", formulation="tablet_2.5mg",
        start_date=timezone.localdate() - timedelta(days=400), reason="Plaque psoriasis.",
    )  # fmt: skip
    from schedules.services import sync_plan

    for p in (new, treated):
        history(p)
        sync_plan(p.pk)
    return {"doctor": doctor, "nurse": nurse, "new": new, "treated": treated}


def log_in(page, base: str, username: str) -> None:
    page.goto(base + "/staff/")
    assert "/staff/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/staff/")
    assert page.locator("h1").first.inner_text().startswith("Today")


def check_chart(page, patient) -> None:
    banner = page.locator("section.banner")
    assert patient.mrn in banner.inner_text()
    assert "years" in banner.inner_text() and "BSA" in banner.inner_text()
    flowsheet = page.locator("table.flowsheet")
    assert flowsheet.locator("tbody tr").count() >= 10
    assert "µmol/L" in flowsheet.inner_text() and "×10⁹/L" in flowsheet.inner_text()
    canvas = page.locator("#chart-alt")
    canvas.wait_for()
    page.wait_for_function("document.getElementById('chart-alt').dataset.drawn === '1'")
    assert canvas.get_attribute("data-band") == "1"
    # The band is drawn: pale green pixels inside the canvas, the line blue ones.
    painted = page.evaluate(
        """() => {
        const c = document.getElementById('chart-alt');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let band = 0, line = 0;
        for (let i = 0; i < d.length; i += 4) {
          const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
          if (a > 0 && g > r + 10 && g > b && r < 235) band++;
          if (a > 200 && b > r + 60 && b > g) line++;
        }
        return {band, line};
    }"""
    )
    assert painted["band"] > 500 and painted["line"] > 50, painted


def enter_liver_panel(page, alt: str) -> None:
    page.click("text=liver panel")
    page.wait_for_selector("#panel-form")
    page.fill("#id_alt_value", alt)
    page.fill("#id_alt_high", "40")
    page.fill("#id_ast_value", "61")
    page.fill("#id_ast_high", "40")
    page.fill("#id_albumin_value", "41")
    page.click("#panel-form button[type=submit]")
    page.wait_for_selector("section.banner")
    assert "Recorded liver panel" in page.locator(".messages").inner_text()


def wait_for_alert_on_today(page, base: str, mrn: str, alt: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        page.goto(base + "/staff/")
        items = page.locator(".item", has_text=f"{mrn} ").filter(has_text=f"ALT {alt} U/L")
        if items.count():
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"no alert for {mrn} on Today within {timeout}s")
        time.sleep(0.5)


def handle_alert(page, items) -> None:
    from schedules.models import Alert

    assert items.count() == 1  # one worklist item per lab result ...
    text = items.first.inner_text()
    assert "Liver enzyme above 3× the upper limit of normal" in text
    assert "Liver enzyme above 100 U/L" in text  # ... listing every finding
    items.first.locator("a.open").click()
    page.wait_for_selector("#act-form")
    page.fill("#id_note", "Phoned: no symptoms; repeat booked.")
    page.click("#act-form button:has-text('Acknowledge')")
    page.wait_for_selector(".messages")
    assert "Acknowledged" in page.locator(".messages").inner_text()
    page.fill("#id_note", "Repeat ALT booked for Friday; methotrexate held.")
    page.click("#act-form button:has-text('Resolve')")
    page.wait_for_selector(".messages")
    assert "Resolved" in page.locator(".messages").inner_text()
    assert "read-only" in page.content()
    return Alert


def test_a_clinician_walks_from_today_to_a_resolved_alert(browser, live_server, cast, tmp_path):
    from patients.models import Prescription
    from schedules.models import Alert

    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-GB")
    watch = Watch(page, base)
    log_in(page, base, "dr.walk")
    watch.check(page)

    page.click("text=Patients")
    page.click(f"text={cast['new'].mrn}")
    check_chart(page, cast["new"])
    shoot(page, tmp_path, "chart")
    watch.check(page)

    page.click("text=Start a prescription")
    page.select_option("#id_drug", "methotrexate")
    page.select_option("#id_basis", "mg_per_m2")
    page.fill("#id_amount", "10")
    page.select_option("#id_formulation", "tablet_2.5mg")
    page.select_option("#id_weekday", "friday")
    page.fill("#id_reason", "Refractory skin disease despite hydroxychloroquine.")
    page.click("button[name=preview]")
    preview = page.locator("#preview")
    preview.wait_for()
    assert "Give: 7 × 2.5 mg tablets (17.5 mg) once weekly on Fridays" in preview.inner_text()
    assert "No baseline bloods" not in preview.inner_text()
    assert not Prescription.objects.filter(patient=cast["new"]).exists()  # nothing saved yet
    shoot(page, tmp_path, "preview")
    watch.check(page)
    page.click("button[name=confirm]")
    page.wait_for_selector("section.banner")
    assert "Methotrexate: 7 × 2.5 mg tablets (17.5 mg) once weekly on Fridays" in (
        page.locator("section.banner").inner_text()
    )
    rx = Prescription.objects.get(patient=cast["new"])
    assert rx.dose_mg == Decimal("17.5") and rx.created_by == cast["doctor"]

    t0 = time.monotonic()
    enter_liver_panel(page, "150")
    items = wait_for_alert_on_today(page, base, cast["new"].mrn, "150")
    print(f"alert on Today {time.monotonic() - t0:.1f}s after the panel was saved")
    shoot(page, tmp_path, "today")
    handle_alert(page, items)
    statuses = set(Alert.objects.filter(patient=cast["new"]).values_list("status", flat=True))
    assert statuses == {"resolved"}
    watch.check(page)


def check_calendar_feed_holds_the_repeat(page, base: str, patient) -> None:
    """Today → Calendar feed → make the address → the feed parses (icalendar) and holds the
    confirmatory repeat draw the ALT above 3×ULN asked for, under no name or MRN."""
    from urllib.parse import urlsplit

    import icalendar

    from schedules.models import MonitoringEvent

    page.click("nav >> text=Calendar")
    page.click("button:has-text('Make a calendar address')")
    url = page.locator("code.feed-url").inner_text().strip()
    answer = page.request.get(base + urlsplit(url).path)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    body = answer.body()
    calendar = icalendar.Calendar.from_ical(body)
    uids = {str(e["UID"]): str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}
    repeats = MonitoringEvent.objects.filter(
        patient=patient, kind="confirmatory", status__in=MonitoringEvent.OPEN_STATUSES
    )
    assert repeats.exists()
    for repeat in repeats:
        summary = next(v for k, v in uids.items() if k.startswith(f"monitoring-event-{repeat.pk}@"))
        assert summary.startswith("Repeat bloods")
    text = body.decode()
    assert patient.family_name not in text and patient.mrn not in text


def test_a_nurse_walks_her_patients_from_today_to_a_resolved_alert(
    browser, live_server, cast, tmp_path
):
    from schedules.models import Alert

    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-GB")
    watch = Watch(page, base)
    log_in(page, base, "nurse.walk")
    sections = page.locator("section.counts h2").all_inner_texts()
    assert sections[0] == "My patients"  # a nurse sees hers first
    watch.check(page)

    page.click("text=Patients")
    page.click(f"text={cast['treated'].mrn}")
    check_chart(page, cast["treated"])
    assert page.locator("text=Start a prescription").count() == 0  # a nurse does not prescribe
    assert "once weekly on Wednesdays" in page.locator("section.banner").inner_text()
    watch.check(page)

    enter_liver_panel(page, "180")
    items = wait_for_alert_on_today(page, base, cast["treated"].mrn, "180")
    check_calendar_feed_holds_the_repeat(page, base, cast["treated"])
    items = wait_for_alert_on_today(page, base, cast["treated"].mrn, "180")
    handle_alert(page, items)
    alerts = list(Alert.objects.filter(patient=cast["treated"]))
    assert alerts and {a.status for a in alerts} == {"resolved"}
    assert {a.resolved_by for a in alerts} == {cast["nurse"]}
    watch.check(page)
