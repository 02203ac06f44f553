"""Another clinic's patient is a 404 on every workspace page, for every role (issue #17).

The record is looked up inside the user's clinic before the role is considered, so a nurse or a
viewer is told "not found" too, never "not allowed" (which would confirm that it exists).
"""

from __future__ import annotations

import pytest

from schedules.models import Alert

ROLES = ("clinician", "nurse", "viewer")


def patient_pages(patient, prescription, alert):
    p = patient.pk
    rx = prescription.pk
    return [
        ("get", f"/staff/patients/{p}/"),
        ("get", f"/staff/patients/{p}/?fs=2"),
        ("get", f"/staff/patients/{p}/timeline/?page=2"),
        ("get", f"/staff/patients/{p}/prescribe/"),
        ("post", f"/staff/patients/{p}/prescribe/"),
        *[("get", f"/staff/patients/{p}/prescriptions/{rx}/{a}/") for a in ("change", "hold", "restart", "stop")],
        *[("post", f"/staff/patients/{p}/prescriptions/{rx}/{a}/") for a in ("change", "hold", "restart", "stop")],
        *[("get", f"/staff/patients/{p}/labs/{panel}/") for panel in ("liver", "fbc", "renal")],
        ("post", f"/staff/patients/{p}/labs/liver/"),
        ("get", f"/staff/alerts/{alert.pk}/"),
        ("post", f"/staff/alerts/{alert.pk}/acknowledge/"),
        ("post", f"/staff/alerts/{alert.pk}/resolve/"),
    ]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_another_clinics_patient_is_not_found(client_as, elsewhere, role):
    other = elsewhere.patient
    alert = Alert.objects.filter(patient=other).first()
    assert alert is not None
    c = client_as(role)
    for method, url in patient_pages(other, elsewhere, alert):
        data = (
            {"note": "x", "reason": "x", "effective_date": "2026-01-01"}
            if method == "post"
            else None
        )
        r = getattr(c, method)(url, data)
        assert r.status_code == 404, (role, method, url, r.status_code)
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN  # nothing was done to it


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_the_same_pages_of_an_own_patient_open(client_as, charted, role):
    alert = Alert.objects.filter(patient=charted.patient).first()
    c = client_as(role)
    writes = {
        "clinician": {"prescription", "lab", "alert"},
        "nurse": {"lab", "alert"},
        "viewer": set(),
    }[role]
    for method, url in patient_pages(charted.patient, charted, alert):
        if method != "get":
            continue
        r = c.get(url)
        kind = "prescription" if "/prescri" in url else "lab" if "/labs/" in url else "read"
        expected = 200 if kind == "read" or kind in writes else 403
        assert r.status_code == expected, (role, url, r.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_lists_show_nothing_of_another_clinic(client_as, charted, elsewhere, role):
    c = client_as(role)
    for url in ("/staff/", "/staff/alerts/", "/staff/patients/", "/staff/alerts/?show=resolved"):
        body = c.get(url).content.decode()
        assert "E-0001" not in body and "Olga" not in body, (role, url)
    assert "N-0001" in c.get("/staff/alerts/").content.decode()


@pytest.mark.django_db
def test_bulk_acknowledge_ignores_another_clinics_alerts(client_as, elsewhere):
    alert = Alert.objects.filter(patient=elsewhere.patient).first()
    r = client_as("nurse").post("/staff/alerts/acknowledge/", {"item": str(alert.pk), "note": "x"})
    assert r.status_code == 302
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN


@pytest.mark.django_db
def test_a_user_without_a_clinic_role_is_refused_and_anonymous_is_sent_to_log_in(client, bob):
    from django.contrib.auth import get_user_model

    r = client.get("/staff/")
    assert r.status_code == 302 and r["Location"].startswith("/staff/login/")
    loner = get_user_model().objects.create_user("loner", password="pw-for-tests-only")
    client.force_login(loner)
    assert client.get("/staff/").status_code == 403
