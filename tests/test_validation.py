"""Invalid data is refused with a message naming the field, and nothing already stored changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from patients.models import LabResult, Measurement, Patient, Prescription
from patients.services import lab_result_record, measurement_record

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def field_errors(exc: ValidationError) -> dict:
    return exc.message_dict


def test_negative_weight_is_refused_naming_weight(patient):
    with pytest.raises(ValidationError) as e:
        measurement_record(
            patient=patient, measured_on=date(2026, 11, 1), weight_kg="-3", height_cm="165"
        )
    assert "weight_kg" in field_errors(e.value)
    assert Measurement.objects.count() == 0


def test_a_height_of_five_metres_is_refused_naming_height(patient):
    with pytest.raises(ValidationError) as e:
        measurement_record(
            patient=patient, measured_on=date(2026, 11, 1), weight_kg="70", height_cm="500"
        )
    assert "height_cm" in field_errors(e.value)


def test_an_infant_of_80_kg_is_an_entry_error(toddler):
    before = list(Measurement.objects.values_list("id", "weight_kg"))
    with pytest.raises(ValidationError) as e:
        measurement_record(
            patient=toddler, measured_on=date.today(), weight_kg="80", height_cm="88"
        )
    assert "weight_kg" in field_errors(e.value)
    assert list(Measurement.objects.values_list("id", "weight_kg")) == before


def test_measurement_stores_bsa_with_its_formula(patient):
    m = measurement_record(
        patient=patient, measured_on=date(2026, 11, 1), weight_kg="70", height_cm="170"
    )
    m.refresh_from_db()
    assert m.bsa_m2 == Decimal("1.818")  # Mosteller, REF §5 worked value
    assert m.bsa_formula == "mosteller"


def test_measurement_uses_the_clinics_formula(patient):
    patient.clinic.bsa_formula = "haycock"
    patient.clinic.save()
    m = measurement_record(
        patient=patient, measured_on=date(2026, 11, 1), weight_kg="70", height_cm="170"
    )
    assert (m.bsa_m2, m.bsa_formula) == (Decimal("1.826"), "haycock")


def test_birth_date_in_the_future_is_refused(clinic):
    p = Patient(
        clinic=clinic,
        mrn="F-1",
        given_name="A",
        family_name="B",
        birth_date=date.today() + timedelta(days=1),
        sex="female",
        diagnosis="other",
    )
    with pytest.raises(ValidationError) as e:
        p.full_clean()
    assert "birth_date" in field_errors(e.value)


def test_unknown_risk_factor_is_refused(clinic):
    p = Patient(
        clinic=clinic,
        mrn="F-2",
        given_name="A",
        family_name="B",
        birth_date=date(2000, 1, 1),
        sex="female",
        diagnosis="other",
        risk_factors=["diabetes", "smoking"],
    )
    with pytest.raises(ValidationError) as e:
        p.full_clean()
    assert "smoking" in field_errors(e.value)["risk_factors"][0]


def test_mrn_is_unique_within_a_clinic_not_across(patient, other_clinic):
    dup = Patient(
        clinic=patient.clinic,
        mrn=patient.mrn,
        given_name="X",
        family_name="Y",
        birth_date=date(2000, 1, 1),
        sex="male",
        diagnosis="other",
    )
    with pytest.raises(ValidationError) as e:
        dup.full_clean()
    assert "__all__" in field_errors(e.value) or "mrn" in field_errors(e.value)
    ok = Patient(
        clinic=other_clinic,
        mrn=patient.mrn,
        given_name="X",
        family_name="Y",
        birth_date=date(2000, 1, 1),
        sex="male",
        diagnosis="other",
    )
    ok.full_clean()


def test_a_lab_with_an_unknown_unit_typed_by_a_person_is_refused(patient):
    with pytest.raises(ValidationError) as e:
        lab_result_record(
            patient=patient,
            analyte="ALT",
            value="42",
            unit="mg/furlong",
            collected_at=NOW,
            accession="A-1",
            strict_unit=True,
        )
    assert "reported_unit" in field_errors(e.value)
    assert LabResult.objects.count() == 0


def test_a_lab_with_an_unknown_unit_from_a_lab_system_is_kept_as_reported(patient):
    out = lab_result_record(
        patient=patient,
        analyte="ALT",
        value="42",
        unit="mg/furlong",
        collected_at=NOW,
        accession="A-1",
    )
    r = out.result
    assert (r.evaluable, r.value, r.reported_unit) == (False, None, "mg/furlong")
    assert r.not_evaluable_reason


def test_a_duplicate_accession_for_another_patient_is_refused_and_nothing_changes(patient, toddler):
    first = lab_result_record(
        patient=patient, analyte="ALT", value="42", unit="U/L", collected_at=NOW, accession="ACC-9"
    ).result
    with pytest.raises(ValidationError) as e:
        lab_result_record(
            patient=toddler,
            analyte="ALT",
            value="99",
            unit="U/L",
            collected_at=NOW,
            accession="ACC-9",
        )
    assert "accession" in field_errors(e.value)
    first.refresh_from_db()
    assert (first.patient_id, first.reported_value, first.version) == (patient.id, "42", 1)
    assert LabResult.objects.count() == 1


def test_a_replayed_accession_returns_the_stored_result(patient):
    a = lab_result_record(
        patient=patient, analyte="alt", value="42", unit="U/L", collected_at=NOW, accession="ACC-1"
    )
    b = lab_result_record(
        patient=patient, analyte="ALT", value="42", unit="U/L", collected_at=NOW, accession="ACC-1"
    )
    assert (a.outcome, b.outcome) == ("created", "replayed")
    assert a.result.pk == b.result.pk
    assert LabResult.objects.count() == 1


def test_an_amendment_keeps_history_and_is_evaluated_again(patient):
    a = lab_result_record(
        patient=patient, analyte="ALT", value="42", unit="U/L", collected_at=NOW, accession="ACC-2"
    ).result
    LabResult.objects.filter(pk=a.pk).update(evaluated_version=1)
    b = lab_result_record(
        patient=patient, analyte="ALT", value="142", unit="U/L", collected_at=NOW, accession="ACC-2"
    )
    assert b.outcome == "amended"
    r = LabResult.objects.get(pk=a.pk)
    assert (r.version, r.value, r.evaluated_version) == (2, Decimal("142"), None)
    assert [h.reported_value for h in r.history.order_by("history_date")] == ["42", "142"]


def test_lab_values_in_other_units_are_converted(patient):
    r = lab_result_record(
        patient=patient,
        analyte="ALT",
        value="0.9",
        unit="µkat/L",
        reference_high="0.6",
        collected_at=NOW,
        accession="U-1",
    ).result
    assert (r.value, r.unit, r.reference_high_canonical) == (Decimal("54"), "U/L", Decimal("36"))


def test_a_naive_collection_time_is_refused(patient):
    with pytest.raises(ValidationError) as e:
        lab_result_record(
            patient=patient,
            analyte="ALT",
            value="42",
            unit="U/L",
            collected_at=datetime(2026, 11, 20, 9, 0),
            accession="N-1",
        )
    assert "collected_at" in field_errors(e.value)


def test_a_prescription_is_never_edited_in_place(patient):
    rx = Prescription.objects.create(
        patient=patient,
        drug="methotrexate",
        dose_mg=15,
        frequency="once_weekly",
        weekday="monday",
        start_date=date(2026, 9, 1),
    )
    rx.dose_mg = Decimal("20")
    with pytest.raises(ValidationError, match="never edited"):
        rx.save()
    rx.refresh_from_db()
    assert rx.dose_mg == Decimal("15")


def test_an_absurd_value_is_refused_not_a_crash(patient):
    with pytest.raises(ValidationError) as e:
        lab_result_record(
            patient=patient,
            analyte="ALT",
            value="999999999999",
            unit="U/L",
            collected_at=NOW,
            accession="BIG-1",
        )
    assert "value" in field_errors(e.value)
    assert LabResult.objects.count() == 0
