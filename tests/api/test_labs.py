"""Lab results: one at a time and in batches; replay, amendment, tenancy, per-item answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import errors_of, make_lab

pytestmark = pytest.mark.django_db


def when(hours_ago: int = 3) -> str:
    return (timezone.now() - timedelta(hours=hours_ago)).isoformat()


def lab(patient, accession="L-1", **kw):
    body = {
        "patient": patient.pk,
        "analyte": "ALT",
        "value": 42,
        "unit": "U/L",
        "reference_high": 40,
        "collected_at": when(),
        "accession": accession,
    }
    body.update(kw)
    return body


def test_one_result_is_created_normalised_and_pending_evaluation(api_as, patient):
    r = api_as("integration").post(
        "/api/v1/labs/", lab(patient, value="1.2", unit="µkat/L"), format="json"
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["outcome"] == "created" and body["analyte"] == "alt"
    assert body["value"] == "1.2" and body["unit"] == "µkat/L"
    assert body["canonical_value"] == "72.0000" and body["canonical_unit"] == "U/L"
    assert body["evaluable"] is True and body["evaluated_version"] is None
    assert body["collected_at"].endswith("Z")


def test_a_replay_returns_the_stored_result(api_as, patient):
    client = api_as("integration")
    first = client.post("/api/v1/labs/", lab(patient), format="json").json()
    r = client.post(
        "/api/v1/labs/", lab(patient, collected_at=first["collected_at"]), format="json"
    )
    assert r.status_code == 200
    assert r.json()["outcome"] == "replayed" and r.json()["id"] == first["id"]
    from patients.models import LabResult

    assert LabResult.objects.count() == 1


def test_a_changed_value_is_an_amendment_with_history(api_as, patient):
    client = api_as("integration")
    first = client.post("/api/v1/labs/", lab(patient), format="json").json()
    r = client.post(
        "/api/v1/labs/", lab(patient, value=180, collected_at=first["collected_at"]), format="json"
    )
    assert r.status_code == 200
    body = r.json()
    assert body["outcome"] == "amended" and body["id"] == first["id"] and body["version"] == 2
    history = client.get(f"/api/v1/labs/{body['id']}/history/").json()
    assert [h["value"] for h in history] == ["42", "180"]


def test_a_lab_system_may_send_an_unknown_unit_it_is_kept_not_evaluable(api_as, patient):
    r = api_as("integration").post("/api/v1/labs/", lab(patient, unit="mmol/L"), format="json")
    assert r.status_code == 201
    assert r.json()["evaluable"] is False and "unit" in r.json()["not_evaluable_reason"]


def test_a_person_typing_an_unknown_unit_is_refused(api, patient):
    r = api.post("/api/v1/labs/", lab(patient, unit="mmol/L"), format="json")
    assert r.status_code == 400
    assert errors_of(r) == {"unit": "invalid"}


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"collected_at": "2026-01-01T10:00:00"}, "collected_at", "naive_datetime"),
        ({"analyte": "cholesterol"}, "analyte", "invalid"),
        ({"analyte": None, "loinc": "0000-0"}, "loinc", "invalid"),
        ({"analyte": None}, "analyte", "required"),
        ({"value": ""}, "value", "blank"),
        ({"value": True}, "value", "invalid"),
        ({"accession": ""}, "accession", "blank"),
        ({"reference_high": "abc"}, "reference_high", "invalid"),
        ({"value": "999999999999"}, "value", "out_of_range"),
        (
            {"collected_at": (timezone.now() + timedelta(days=2)).isoformat()},
            "collected_at",
            "invalid",
        ),
    ],
)
def test_bad_results_are_a_400_naming_the_field(api_as, patient, change, field, code):
    r = api_as("integration").post("/api/v1/labs/", lab(patient, **change), format="json")
    assert r.status_code == 400, r.json()
    assert errors_of(r) == {field: code}


def test_loinc_alone_names_the_analyte(api_as, patient):
    body = lab(patient, loinc="777-3", value=210, unit="10^9/L")
    del body["analyte"]
    r = api_as("integration").post("/api/v1/labs/", body, format="json")
    assert r.status_code == 201 and r.json()["analyte"] == "platelets"


def test_a_patient_can_be_named_by_mrn(api_as, patient):
    body = lab(patient)
    del body["patient"]
    body["patient_mrn"] = patient.mrn
    r = api_as("integration").post("/api/v1/labs/", body, format="json")
    assert r.status_code == 201 and r.json()["patient"] == patient.pk


def test_another_clinics_patient_does_not_exist(api_as, other_patient):
    r = api_as("integration").post("/api/v1/labs/", lab(other_patient), format="json")
    assert r.status_code == 400
    assert errors_of(r) == {"patient": "does_not_exist"}


def test_an_accession_names_one_result_in_a_clinic(api_as, patient, toddler):
    client = api_as("integration")
    client.post("/api/v1/labs/", lab(patient), format="json")
    r = client.post("/api/v1/labs/", lab(toddler), format="json")
    assert r.status_code == 400 and errors_of(r) == {"accession": "accession_in_use"}


def test_lists_filter_by_patient_analyte_and_pending_evaluation(api, patient, toddler):
    make_lab(patient, "A1")
    make_lab(patient, "A2", analyte="wbc", value="5", unit="10*9/L")
    make_lab(toddler, "A3")
    r = api.get("/api/v1/labs/", {"patient": patient.pk, "analyte": "alt"})
    assert [x["accession"] for x in r.json()["results"]] == ["A1"]
    assert api.get("/api/v1/labs/", {"pending_evaluation": "true"}).json()["count"] == 3
    assert errors_of(api.get("/api/v1/labs/", {"analyte": "ALT"})) == {"analyte": "invalid_choice"}


# --- Batch -------------------------------------------------------------------------------
def test_a_batch_answers_each_item_and_keeps_the_valid_ones(api_as, patient, toddler):
    client = api_as("integration")
    items = [
        lab(patient, "B-1"),
        lab(toddler, "B-2", analyte="haemoglobin", value="11.2", unit="g/dL"),
        lab(patient, "B-3", collected_at="2026-01-01T10:00:00"),  # naive: refused
        lab(patient, "B-4", analyte="cholesterol"),  # unknown analyte: refused by the service
        {"accession": 5},  # nonsense
    ]
    r = client.post("/api/v1/labs/batch/", {"results": items}, format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["summary"] == {"created": 2, "replayed": 0, "amended": 0, "rejected": 3}
    out = body["results"]
    assert [x["outcome"] for x in out] == ["created", "created", "rejected", "rejected", "rejected"]
    assert [x["index"] for x in out] == [0, 1, 2, 3, 4]
    assert out[2]["errors"][0]["field"] == "collected_at"
    assert out[2]["errors"][0]["code"] == "naive_datetime"
    assert out[3]["errors"] == [
        {"field": "analyte", "code": "invalid", "message": "unknown analyte name 'cholesterol'"}
    ]
    from patients.models import LabResult

    hb = LabResult.objects.get(accession="B-2")
    assert hb.value == 112 and hb.unit == "g/L" and hb.history.count() == 1


def test_a_batch_refuses_an_absurd_magnitude_and_keeps_the_rest(api_as, patient):
    """The batch's fast path (validated in Python, stored by COPY) refuses what the database
    could not hold, naming the field, and loses nothing else."""
    from patients.models import LabResult

    items = [
        lab(patient, "X-1", value="999999999999"),
        # Fits the field as reported, not once converted (mg/dL x 88.4 to umol/L).
        lab(
            patient,
            "X-2",
            analyte="creatinine",
            value="1.0",
            unit="mg/dL",
            reference_high="9999999",
        ),
        lab(patient, "X-3"),
    ]
    body = api_as("integration").post("/api/v1/labs/batch/", {"results": items}, format="json")
    body = body.json()
    assert body["summary"] == {"created": 1, "replayed": 0, "amended": 0, "rejected": 2}
    errors = [(e["field"], e["code"]) for x in body["results"][:2] for e in x["errors"]]
    assert errors == [("value", "out_of_range"), ("reference_high", "out_of_range")]
    assert list(LabResult.objects.values_list("accession", flat=True)) == ["X-3"]
    assert LabResult.history.filter(accession__startswith="X-").count() == 1


def test_a_replayed_batch_returns_the_stored_results(api_as, patient):
    client = api_as("integration")
    items = [lab(patient, f"R-{i}", collected_at="2026-01-05T09:00:00+01:00") for i in range(3)]
    first = client.post("/api/v1/labs/batch/", {"results": items}, format="json").json()
    again = client.post("/api/v1/labs/batch/", {"results": items}, format="json").json()
    assert again["summary"]["replayed"] == 3
    assert [x["id"] for x in again["results"]] == [x["id"] for x in first["results"]]


def test_a_batch_amends_a_changed_result_and_handles_repeats_in_order(api_as, patient):
    client = api_as("integration")
    at = "2026-01-05T09:00:00+01:00"
    client.post(
        "/api/v1/labs/batch/", {"results": [lab(patient, "M-1", collected_at=at)]}, format="json"
    )
    items = [
        lab(patient, "M-1", value=99, collected_at=at),  # amendment of a stored result
        lab(patient, "M-2", collected_at=at),  # new
        lab(patient, "M-2", collected_at=at),  # repeat inside the batch: replay
        lab(patient, "M-2", value=7, collected_at=at),  # and then an amendment
    ]
    body = client.post("/api/v1/labs/batch/", {"results": items}, format="json").json()
    assert [x["outcome"] for x in body["results"]] == ["amended", "created", "replayed", "amended"]
    assert [x["version"] for x in body["results"]] == [2, 1, 1, 2]
    from patients.models import LabResult

    assert LabResult.objects.get(accession="M-2").reported_value == "7"


def test_a_batch_cannot_write_to_another_clinics_patient(api_as, other_patient):
    client = api_as("integration")
    body = client.post(
        "/api/v1/labs/batch/", {"results": [lab(other_patient, "X-1")]}, format="json"
    ).json()
    assert body["results"][0]["outcome"] == "rejected"
    assert body["results"][0]["errors"][0]["code"] == "does_not_exist"


def test_a_batch_of_more_than_1000_is_refused_whole(api_as, patient):
    items = [lab(patient, f"Z-{i}") for i in range(1001)]
    r = api_as("integration").post("/api/v1/labs/batch/", {"results": items}, format="json")
    assert r.status_code == 400
    assert errors_of(r) == {"results": "max_length"}


def test_a_batch_queues_evaluation_after_commit(
    api_as, patient, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    from schedules import tasks

    monkeypatch.setattr(
        tasks.evaluate_lab_results, "apply_async", lambda args, **kw: sent.append(args[0])
    )
    from patients.lab_batch import EVALUATION_CHUNK

    items = [lab(patient, f"E-{i}") for i in range(EVALUATION_CHUNK + 50)]
    with django_capture_on_commit_callbacks(execute=True):
        body = (
            api_as("integration")
            .post("/api/v1/labs/batch/", {"results": items}, format="json")
            .json()
        )
    ids = [x["id"] for x in body["results"]]
    assert [len(c) for c in sent] == [EVALUATION_CHUNK, 50]
    assert sorted(i for chunk in sent for i in chunk) == sorted(ids)


def test_a_batch_that_collides_with_a_concurrent_writer_stores_item_by_item(
    api_as, patient, monkeypatch
):
    """Another request stored an accession between our lookup and our insert: the bulk insert
    fails on the unique constraint, and each item goes through lab_result_record instead."""
    from patients import lab_batch

    client = api_as("integration")
    at = "2026-01-05T09:00:00+01:00"
    client.post("/api/v1/labs/", lab(patient, "C-1", collected_at=at), format="json")
    monkeypatch.setattr(lab_batch, "_stored", lambda clinic_id, accessions: {})  # "not yet"
    items = [
        lab(patient, "C-1", collected_at=at),
        lab(patient, "C-2", collected_at=at),
        lab(patient, "C-3", value=77, collected_at=at),
    ]
    body = client.post("/api/v1/labs/batch/", {"results": items}, format="json").json()
    assert [x["outcome"] for x in body["results"]] == ["replayed", "created", "created"]
    from patients.models import LabResult

    assert LabResult.objects.filter(accession__startswith="C-").count() == 3
