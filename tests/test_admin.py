"""The staff UI: a clinic's staff see and edit only their own clinic's patients."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def change_url(p):
    return f"/admin/patients/patient/{p.pk}/change/"


def test_a_clinician_sees_only_her_clinics_patients(client, alice, patient, other_patient):
    client.force_login(alice)
    page = client.get("/admin/patients/patient/").content.decode()
    assert patient.mrn in page
    assert other_patient.mrn not in page


def test_a_user_of_one_clinic_cannot_open_another_clinics_patient(client, alice, other_patient):
    client.force_login(alice)
    r = client.get(change_url(other_patient), follow=True)
    assert other_patient.family_name not in r.content.decode()
    assert r.redirect_chain and r.redirect_chain[-1][0] == "/admin/"


def test_nor_its_labs_by_guessing_the_id(client, alice, other_patient):
    from django.utils import timezone

    from patients.services import lab_result_record

    lab = lab_result_record(
        patient=other_patient,
        analyte="ALT",
        value="40",
        unit="U/L",
        collected_at=timezone.now(),
        accession="E-1",
    ).result
    client.force_login(alice)
    r = client.get(f"/admin/patients/labresult/{lab.pk}/change/", follow=True)
    assert "E-1" not in r.content.decode()


def test_the_patient_page_shows_the_whole_picture(client, alice, toddler):
    client.force_login(alice)
    page = client.get(change_url(toddler)).content.decode()
    for section in (
        "Open alerts",
        "Upcoming monitoring",
        "Measurements",
        "Prescriptions",
        "Lab results",
        "Disease assessments",
        "Adverse events",
    ):
        assert section in page, section
    assert "0.553" in page  # the stored BSA of the 12.5 kg / 88 cm measurement


def test_a_superuser_sees_every_clinic(client, patient, other_patient):
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    page = client.get("/admin/patients/patient/").content.decode()
    assert patient.mrn in page and other_patient.mrn in page


def test_a_viewer_can_look_but_not_add(client, clinic, patient):
    vic = make_member(clinic, "vic", "viewer")
    client.force_login(vic)
    assert client.get(change_url(patient)).status_code == 200
    assert client.get("/admin/patients/patient/add/").status_code == 403


def test_the_admin_refuses_a_negative_weight_naming_the_field(client, alice, patient):
    client.force_login(alice)
    r = client.post(
        "/admin/patients/measurement/add/",
        {
            "patient": patient.pk,
            "measured_on": "2026-11-01",
            "weight_kg": "-4",
            "height_cm": "160",
            "bsa_formula": "",
        },
    )
    assert r.status_code == 200  # the form again, with errors
    errors = r.context["adminform"].form.errors
    assert "weight_kg" in errors


def test_history_records_who_changed_a_patient(client, alice, patient):
    client.force_login(alice)
    data = {
        "clinic": patient.clinic_id,
        "mrn": patient.mrn,
        "given_name": "Patricia",
        "family_name": patient.family_name,
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.sex,
        "diagnosis": patient.diagnosis,
        "risk_factors": ["diabetes"],
        "responsible_nurse": patient.responsible_nurse_id,
    }
    for prefix in (
        "alerts",
        "monitoring_events",
        "measurements",
        "prescriptions",
        "prescriptions-2",  # current medication, then the whole history (issue #13)
        "lab_results",
        "assessments",
        "adverse_events",
    ):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    r = client.post(change_url(patient), data)
    assert r.status_code == 302, r.content.decode()[:2000]
    last = patient.history.order_by("-history_date").first()
    assert (last.given_name, last.history_user, last.risk_factors) == (
        "Patricia",
        alice,
        ["diabetes"],
    )


def test_the_alert_worklist_opens(client, alice, patient):
    from schedules.models import Alert

    Alert.objects.create(
        patient=patient, rule="X", severity="warning", message="m", action="a", source="s"
    )
    Alert.objects.create(
        patient=patient, rule="Y", severity="critical", message="m", action="a", source="s"
    )
    client.force_login(alice)
    r = client.get("/admin/schedules/alert/")
    assert r.status_code == 200
    rows = list(r.context["cl"].result_list)
    assert [a.severity for a in rows] == ["critical", "warning"]


def test_birth_dates_in_the_future_are_refused_in_the_admin(client, alice, clinic):
    client.force_login(alice)
    data = {
        "clinic": clinic.pk,
        "mrn": "Z-1",
        "given_name": "Z",
        "family_name": "Z",
        "birth_date": date(2099, 1, 1).isoformat(),
        "sex": "female",
        "diagnosis": "other",
    }
    for prefix in (
        "alerts",
        "monitoring_events",
        "measurements",
        "prescriptions",
        "lab_results",
        "assessments",
        "adverse_events",
    ):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    r = client.post("/admin/patients/patient/add/", data)
    assert r.status_code == 200
    assert "birth_date" in r.context["adminform"].form.errors
