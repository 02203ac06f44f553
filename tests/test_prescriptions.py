"""Prescriptions: every door runs the dosing checks; history is superseded, never edited."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from patients.models import Prescription
from patients.prescriptions import (
    prescription_change_dose,
    prescription_hold,
    prescription_restart,
    prescription_start,
    prescription_stop,
)
from patients.services import measurement_record

pytestmark = pytest.mark.django_db

START = date.today() - timedelta(days=10)


def mtx(patient, **overrides):
    kwargs = {
        "patient": patient,
        "drug": "methotrexate",
        "dose_mg": "15",
        "frequency": "once_weekly",
        "weekday": "monday",
        "route": "oral",
        "formulation": "tablet_2.5mg",
        "start_date": START,
        "reason": "test",
    }
    kwargs.update(overrides)
    return prescription_start(**kwargs)


def folic(patient, weekday="wednesday"):
    return prescription_start(
        patient=patient,
        drug="folic_acid",
        dose_mg="5",
        frequency="once_weekly",
        weekday=weekday,
        formulation="folic_acid_tablet_5mg",
        start_date=START,
    )


@pytest.mark.parametrize(
    "frequency", ["once_daily", "twice_daily", "twice_weekly", "as_directed", ""]
)
def test_daily_methotrexate_cannot_be_saved_by_a_service_call(patient, frequency):
    with pytest.raises(ValidationError) as e:
        mtx(patient, frequency=frequency)
    assert "frequency" in e.value.message_dict
    assert "week" in " ".join(e.value.message_dict["frequency"]).lower()
    assert not Prescription.objects.exists()


def test_methotrexate_without_a_weekday_is_refused(patient):
    with pytest.raises(ValidationError) as e:
        mtx(patient, weekday="")
    assert "weekday" in e.value.message_dict


def test_daily_methotrexate_cannot_be_saved_in_the_admin(client, alice, patient):
    client.force_login(alice)
    r = client.post(
        "/admin/patients/prescription/add/",
        {
            "patient": patient.pk,
            "drug": "methotrexate",
            "dose_mg": "15",
            "frequency": "once_daily",
            "weekday": "monday",
            "route": "oral",
            "formulation": "tablet_2.5mg",
            "start_date": START.isoformat(),
            "reason": "x",
        },
    )
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert "frequency" in errors and "MTX" in str(errors["frequency"])
    assert not Prescription.objects.exists()


def test_the_admin_calculates_a_weight_based_dose_and_shows_its_steps(client, alice, toddler):
    folic(toddler)
    client.force_login(alice)
    r = client.post(
        "/admin/patients/prescription/add/",
        {
            "patient": toddler.pk,
            "drug": "methotrexate",
            "basis": "mg_per_kg",
            "basis_amount": "0.5",
            "dose_mg": "",
            "frequency": "once_weekly",
            "weekday": "monday",
            "route": "oral",
            "formulation": "oral_solution_2.5mg_ml",
            "start_date": START.isoformat(),
            "reason": "AD",
        },
        follow=True,
    )
    rx = Prescription.objects.get(patient=toddler, drug="methotrexate")
    assert rx.dose_mg == Decimal("6.25")  # 0.5 mg/kg × 12.5 kg = 6.25 mg = 2.5 mL of 2.5 mg/mL
    page = r.content.decode()
    assert "2.5 mL" in page and "Calculated" in page


def test_a_dose_above_the_cap_is_a_hard_stop_unless_overridden_with_a_reason(patient):
    folic(patient)
    with pytest.raises(ValidationError):
        mtx(patient, dose_mg="30")
    out = mtx(patient, dose_mg="30", override_reason="Specialist decision, refractory disease.")
    assert out.prescription.override_reason.startswith("Specialist")
    assert any("override" in w["message"].lower() for w in out.prescription.warnings)


def test_missing_folic_acid_is_a_warning_kept_on_the_row(patient):
    out = mtx(patient)
    codes = [w.code for w in out.warnings]
    assert any("FOLIC" in c for c in codes)
    assert out.prescription.warnings[0]["source"]


def test_a_second_current_methotrexate_is_refused(patient):
    folic(patient)
    mtx(patient)
    with pytest.raises(ValidationError) as e:
        mtx(patient, weekday="tuesday")
    assert "drug" in e.value.message_dict


def test_dose_change_hold_restart_stop_keep_the_whole_history(patient, alice):
    folic(patient)
    first = mtx(patient, user=alice).prescription
    up = prescription_change_dose(
        prescription=first,
        dose_mg="20",
        effective_date=START + timedelta(days=7),
        reason="Partial response",
        user=alice,
    ).prescription
    held = prescription_hold(
        prescription=up, effective_date=START + timedelta(days=8), reason="ALT 4x ULN", user=alice
    ).prescription
    restarted = prescription_restart(
        prescription=held,
        effective_date=START + timedelta(days=9),
        dose_mg="12.5",
        reason="ALT normal again",
        user=alice,
    ).prescription
    stopped = prescription_stop(
        prescription=restarted,
        effective_date=START + timedelta(days=10),
        reason="Remission",
        end_reason="remission",
        user=alice,
    ).prescription
    chain = stopped.chain()
    assert [p.change for p in chain] == ["start", "dose_increase", "hold", "restart", "stop"]
    assert [p.dose_mg for p in chain] == [Decimal(x) for x in ("15", "20", "20", "12.5", "12.5")]
    assert [p.status for p in chain] == ["active", "active", "held", "active", "stopped"]
    first.refresh_from_db()
    assert (first.dose_mg, first.status) == (Decimal("15"), "active")  # untouched
    assert all(p.created_by == alice for p in chain)
    with pytest.raises(ValidationError):  # acting on a superseded row is refused
        prescription_hold(prescription=first, effective_date=START, reason="x")


def test_a_change_needs_a_reason(patient):
    folic(patient)
    rx = mtx(patient).prescription
    with pytest.raises(ValidationError) as e:
        prescription_change_dose(prescription=rx, dose_mg="20", effective_date=START, reason=" ")
    assert "reason" in e.value.message_dict


def test_egfr_below_30_stops_methotrexate(patient):
    from django.utils import timezone

    from patients.services import lab_result_record

    lab_result_record(
        patient=patient,
        analyte="eGFR",
        value="25",
        unit="mL/min/{1.73_m2}",
        collected_at=timezone.now(),
        accession="R-1",
    )
    folic(patient)
    with pytest.raises(ValidationError) as e:
        mtx(patient)
    assert "25" in str(e.value)


def test_a_weight_based_dose_without_a_measurement_is_a_hard_stop(patient):
    folic(patient)
    with pytest.raises(ValidationError):
        mtx(patient, dose_mg="25", basis="mg_per_m2", basis_amount="15")
    measurement_record(patient=patient, measured_on=date.today(), weight_kg="70", height_cm="170")
    out = mtx(patient, dose_mg="25", basis="mg_per_m2", basis_amount="15")  # 27.3 mg capped
    assert out.prescription.pk
