"""`seed_demo` builds the demo through the real services; the admin shows a full history."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from patients.models import LabResult, Patient, Prescription
from schedules.models import Alert, MonitoringEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(capsys):
    call_command("seed_demo")
    return capsys.readouterr().out


def test_demo_prints_logins_and_a_token(demo):
    assert "admin / " in demo
    assert "export TOKEN=" in demo


def test_demo_is_idempotent(demo, capsys):
    counts = (Patient.objects.count(), LabResult.objects.count(), Prescription.objects.count())
    call_command("seed_demo")
    assert "already present" in capsys.readouterr().out
    assert (
        Patient.objects.count(),
        LabResult.objects.count(),
        Prescription.objects.count(),
    ) == counts


def test_demo_has_infants_on_weight_based_mtx_and_an_alt_above_3x_uln(demo):
    infant = Patient.objects.get(mrn="NS-1001")
    rx = Prescription.objects.get(patient=infant, drug="methotrexate")
    assert rx.basis == "mg_per_kg" and rx.frequency == "once_weekly"
    maria = Patient.objects.get(mrn="NS-1003")
    assert Alert.objects.filter(patient=maria, severity="critical", status="open").exists()
    assert MonitoringEvent.objects.filter(patient=maria, kind="confirmatory").exists()


def test_every_demo_patient_on_treatment_has_a_plan_with_explanations(demo):
    # On treatment: a current prescription not stopped (the outcomes cohort's courses, issue 19,
    # have all ended).
    on_treatment = Patient.objects.filter(
        prescriptions__superseded_by__isnull=True, prescriptions__status__in=("active", "held")
    ).distinct()
    assert on_treatment.count() == Patient.objects.exclude(mrn__startswith="SS-").count()
    for p in on_treatment:
        events = MonitoringEvent.objects.filter(patient=p).exclude(status="cancelled")
        assert events.exists(), p.mrn
        assert all(e.explanation for e in events)


def test_a_demo_patients_full_history_is_visible_in_the_admin(demo, client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="dr.adeyemi"))
    theo = Patient.objects.get(mrn="NS-1002")
    page = client.get(f"/admin/patients/patient/{theo.pk}/change/").content.decode()
    assert page.count("Dose increase") >= 1 and "Start" in page
    assert "DEMO-NS-1002-ALT" in page
    east = Patient.objects.get(mrn="ES-2001")
    r = client.get(f"/admin/patients/patient/{east.pk}/change/", follow=True)
    assert "Delgado" not in r.content.decode()


def test_the_mycophenolate_prescription_page_shows_its_dated_titration_plan(demo, client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="dr.adeyemi"))
    rx = Prescription.objects.filter(patient__mrn="NS-1004", drug="mycophenolate_mofetil").last()
    page = client.get(f"/admin/patients/prescription/{rx.pk}/change/").content.decode()
    start = rx.chain()[0].start_date
    assert f"{start}: 500" in page and "mg/day" in page and "NHS" in page
