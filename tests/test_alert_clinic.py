"""Alert.clinic, the copy of the patient's clinic that a clinic's alert list is read by.

The API scopes alerts by it (api.views.AlertViewSet, api/readers.py), so a copy that drifted
from the patient's clinic would show an alert to the wrong clinic and hide it from the right
one. These tests hold it to the patient's clinic on creation, on a patient's move (through the
model and, on PostgreSQL, through any UPDATE), and show that PostgreSQL refuses any other value.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from schedules.models import Alert
from tests.api.conftest import make_alert, make_lab, token_client
from tests.conftest import make_member

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the (patient, clinic) foreign key is PostgreSQL's"
)


def listed(client) -> set[int]:
    response = client.get("/api/v1/alerts/", {"status": "open"})
    assert response.status_code == 200, response.content
    return {a["id"] for a in response.json()["results"]}


def test_an_alert_takes_its_patients_clinic(patient, other_patient):
    alert = make_alert(patient, make_lab(patient, "ACC-1", value="150"))
    other = make_alert(other_patient, make_lab(other_patient, "ACC-2", value="150"))
    assert Alert.objects.get(pk=alert.pk).clinic_id == patient.clinic_id
    assert Alert.objects.get(pk=other.pk).clinic_id == other_patient.clinic_id != patient.clinic_id


def test_the_lab_rules_store_the_patients_clinic(patient):
    from schedules.services import evaluate_results

    lab = make_lab(patient, "ACC-3", value="150")  # ALT 150 U/L, ULN 40: above 3x ULN
    ids = evaluate_results([lab.pk])
    assert ids
    assert set(Alert.objects.filter(pk__in=ids).values_list("clinic_id", flat=True)) == {
        patient.clinic_id
    }


def test_a_patient_moved_to_another_clinic_takes_its_alerts(patient, other_clinic, clinic):
    alert = make_alert(patient, make_lab(patient, "ACC-4", value="150"))
    here = token_client(make_member(clinic, "nurse-here", "nurse"))
    there = token_client(make_member(other_clinic, "nurse-there", "nurse"))
    assert alert.pk in listed(here) and alert.pk not in listed(there)

    moved = Patient.objects.get(pk=patient.pk)
    moved.clinic = other_clinic
    moved.responsible_nurse = None  # Northside's nurse cannot stay responsible in Eastside
    moved.save()

    assert Alert.objects.get(pk=alert.pk).clinic_id == other_clinic.pk
    assert alert.pk not in listed(here)
    assert alert.pk in listed(there)
    assert here.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert there.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200


def test_saving_other_fields_leaves_the_alerts_alone(patient):
    make_alert(patient, make_lab(patient, "ACC-5", value="150"))
    same = Patient.objects.get(pk=patient.pk)
    same.given_name = "Patricia"
    with CaptureQueriesContext(connection) as captured:
        same.save()
    assert any('"patients_patient"' in q["sql"] for q in captured.captured_queries)
    assert not any("schedules_alert" in q["sql"] for q in captured.captured_queries)


@postgresql_only
def test_postgresql_cascades_a_move_made_by_any_update(patient, other_clinic):
    alert = make_alert(patient, make_lab(patient, "ACC-6", value="150"))
    # A queryset update bypasses Patient.save(); the foreign key on (patient, clinic) does not.
    Patient.objects.filter(pk=patient.pk).update(clinic=other_clinic, responsible_nurse=None)
    assert Alert.objects.get(pk=alert.pk).clinic_id == other_clinic.pk


@postgresql_only
def test_postgresql_refuses_an_alert_of_another_clinic(patient, other_clinic):
    alert = make_alert(patient, make_lab(patient, "ACC-7", value="150"))
    with pytest.raises(IntegrityError, match="alert_clinic_is_patients"), transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(clinic=other_clinic)
        with connection.cursor() as cursor:  # the key is checked at commit; check it now
            cursor.execute("SET CONSTRAINTS alert_clinic_is_patients IMMEDIATE")
    assert Alert.objects.get(pk=alert.pk).clinic_id == patient.clinic_id
