"""Alerts (issue #17 item 4) and lab entry by panel (item 5) in the workspace."""

from __future__ import annotations

from datetime import date

import pytest

from patients.models import LabResult, Prescription
from schedules.models import Alert
from tests.workspace.conftest import alt_result, on_methotrexate

pytestmark = pytest.mark.django_db


def test_one_worklist_item_per_lab_result_listing_every_finding(client_as, charted):
    alerts = Alert.objects.filter(patient=charted.patient, status="open")
    assert {a.rule for a in alerts} >= {"LIVER_GT_3X_ULN", "LIVER_GT_ABSOLUTE"}
    body = client_as("nurse").get("/staff/alerts/").content.decode()
    assert body.count('class="item sev-critical"') == 1
    assert "Liver enzyme above 3× the upper limit of normal" in body
    assert "Liver enzyme above 100 U/L" in body
    assert "LIVER_GT_3X_ULN" not in body  # rules in words, not codes
    today = client_as("clinician").get("/staff/").content.decode()
    assert "1 critical result" in today
    assert today.count('class="item sev-critical"') == 1


def test_acknowledge_and_resolve_need_a_note_and_act_on_every_finding(client_as, charted):
    alert = Alert.objects.filter(patient=charted.patient).order_by("id").first()
    ids = set(Alert.objects.filter(lab_result=alert.lab_result).values_list("id", flat=True))
    assert len(ids) == 2
    c = client_as("nurse")
    item = ",".join(map(str, sorted(ids)))
    r = c.post(f"/staff/alerts/{alert.pk}/acknowledge/", {"item": item, "note": "  "}, follow=True)
    assert "A note is required" in r.content.decode()
    assert set(Alert.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"open"}
    c.post(f"/staff/alerts/{alert.pk}/acknowledge/", {"item": item, "note": "Phoned the patient."})
    assert set(Alert.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        "acknowledged"
    }
    c.post(f"/staff/alerts/{alert.pk}/resolve/", {"item": item, "note": "Repeat booked."})
    done = list(Alert.objects.filter(pk__in=ids))
    assert {a.status for a in done} == {"resolved"}
    assert {a.acknowledge_note for a in done} == {"Phoned the patient."}  # fixed once saved
    page = c.get(f"/staff/alerts/{alert.pk}/").content.decode()
    assert "read-only" in page and 'name="note"' not in page


def test_a_viewer_sees_alerts_but_cannot_act(client_as, charted):
    alert = Alert.objects.filter(patient=charted.patient).first()
    c = client_as("viewer")
    page = c.get(f"/staff/alerts/{alert.pk}/").content.decode()
    assert 'name="note"' not in page
    assert c.post(f"/staff/alerts/{alert.pk}/acknowledge/", {"note": "x"}).status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"


def test_bulk_acknowledge_from_the_worklist(client_as, patient, toddler):
    on_methotrexate(patient)
    on_methotrexate(toddler, dose="5")
    alt_result(patient, "150", "B-1")
    alt_result(toddler, "200", "B-2", high="25")
    items = {
        ",".join(str(i) for i in Alert.objects.filter(lab_result=r).values_list("id", flat=True))
        for r in LabResult.objects.all()
    }
    c = client_as("clinician")
    r = c.post("/staff/alerts/acknowledge/", {"item": sorted(items), "note": ""}, follow=True)
    assert "A note is required" in r.content.decode()
    c.post("/staff/alerts/acknowledge/", {"item": sorted(items), "note": "Both seen."})
    assert set(Alert.objects.values_list("status", flat=True)) == {"acknowledged"}


def test_one_click_hold_from_an_alert(client_as, charted):
    alert = Alert.objects.filter(patient=charted.patient, rule="LIVER_GT_3X_ULN").get()
    c = client_as("clinician")
    page = c.get(f"/staff/alerts/{alert.pk}/").content.decode()
    assert "Hold methotrexate today" in page
    assert "Record the repeat" in page and "/labs/liver/" in page
    r = c.post(
        f"/staff/patients/{charted.patient.pk}/prescriptions/{charted.pk}/hold/",
        {
            "effective_date": date.today().isoformat(),
            "reason": "Held for: ALT 150 U/L",
            "next": f"/staff/alerts/{alert.pk}/",
            "confirm": "1",
        },
    )
    assert r.status_code == 302 and r["Location"] == f"/staff/alerts/{alert.pk}/"
    assert Prescription.objects.get(supersedes=charted).status == "held"
    nurse_page = client_as("nurse").get(f"/staff/alerts/{alert.pk}/").content.decode()
    assert "Hold methotrexate" not in nurse_page  # a nurse does not prescribe
    assert "Record the repeat" in nurse_page


def panel(**over):
    data = {
        "collected_at": "2026-01-05T09:30",
        "accession": "",
        "entry_key": "abc123",
        "alt_value": "42",
        "alt_unit": "U/L",
        "alt_high": "40",
        "ast_value": "30",
        "ast_unit": "U/L",
        "albumin_value": "4.1",
        "albumin_unit": "g/dL",
    }
    data.update(over)
    return data


def test_a_liver_panel_in_one_form_with_a_manual_accession(client_as, patient, time_machine):
    time_machine.move_to("2026-01-06 12:00:00+00:00")
    c = client_as("nurse")
    page = c.get(f"/staff/patients/{patient.pk}/labs/liver/").content.decode()
    assert 'value="U/L"' in page and 'value="g/L"' in page  # units preset, changeable
    r = c.post(f"/staff/patients/{patient.pk}/labs/liver/", panel())
    assert r.status_code == 302, r.content.decode()[-2000:]
    rows = {r.analyte: r for r in LabResult.objects.filter(patient=patient)}
    assert set(rows) == {"alt", "ast", "albumin"}
    assert {r.collected_at.isoformat() for r in rows.values()} == {"2026-01-05T09:30:00+00:00"}
    assert rows["alt"].accession == "MANUAL-abc123-ALT" and rows["alt"].source == "manual"
    assert rows["albumin"].value == 41 and rows["albumin"].unit == "g/L"
    # The same form sent again (a double click) is a replay, not three more results.
    c.post(f"/staff/patients/{patient.pk}/labs/liver/", panel())
    assert LabResult.objects.filter(patient=patient).count() == 3


def test_a_bad_unit_stores_nothing_of_the_panel(client_as, patient):
    c = client_as("nurse")
    r = c.post(f"/staff/patients/{patient.pk}/labs/liver/", panel(ast_unit="mg", entry_key="k2"))
    assert r.status_code == 200
    body = r.content.decode()
    assert "is not a known unit for AST" in body
    assert not LabResult.objects.exists()


def test_a_given_accession_is_kept_per_test(client_as, patient):
    c = client_as("clinician")
    c.post(f"/staff/patients/{patient.pk}/labs/renal/", {
        "collected_at": "2026-01-05T09:30", "accession": "LAB77", "entry_key": "k3",
        "creatinine_value": "80", "creatinine_unit": "µmol/L",
        "egfr_value": "85", "egfr_unit": "mL/min/1.73 m²",
    })  # fmt: skip
    assert set(LabResult.objects.values_list("accession", flat=True)) == {
        "LAB77-CREATININE",
        "LAB77-EGFR",
    }


def test_a_viewer_cannot_enter_labs(client_as, patient):
    c = client_as("viewer")
    assert c.post(f"/staff/patients/{patient.pk}/labs/liver/", panel()).status_code == 403
    assert not LabResult.objects.exists()
