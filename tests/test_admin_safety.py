"""Staff UI defects of issue #13: superseded doses, the alert life cycle, measurements."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.conftest import make_member

pytestmark = pytest.mark.django_db


# --- Superseded prescriptions -----------------------------------------------------------
@pytest.fixture
def dose_changed(patient, alice):
    """Mycophenolate 1000 mg twice daily, changed to 500 mg twice daily."""
    from patients.models import Prescription

    first = Prescription.objects.create(
        patient=patient,
        drug="mycophenolate_mofetil",
        dose_mg=Decimal("1000"),
        frequency="twice_daily",
        start_date=date(2025, 1, 6),
        reason="start",
    )
    second = Prescription.objects.create(
        patient=patient,
        drug="mycophenolate_mofetil",
        dose_mg=Decimal("500"),
        frequency="twice_daily",
        start_date=date(2025, 2, 3),
        change="dose_decrease",
        supersedes=first,
        reason="leucopenia",
    )
    return first, second


def test_a_superseded_prescription_does_not_read_active(dose_changed):
    first, second = dose_changed
    first.refresh_from_db()
    assert "(active)" not in str(first)
    assert "superseded by dose decrease to 500.00 mg on 2025-02-03" in str(first)
    assert str(second).endswith("(active)")


def test_the_patient_page_has_one_current_medication_list(client, alice, patient, dose_changed):
    client.force_login(alice)
    page = client.get(f"/admin/patients/patient/{patient.pk}/change/").content.decode()
    assert "Current medication" in page
    current = page.split("Current medication", 1)[1].split("</fieldset>", 1)[0]
    assert "500.00" in current and "1000.00" not in current
    # Wherever the old row is named (history list, adverse-event choices) it says superseded.
    assert "1000.00 mg twice daily (active)" not in page
    assert "superseded by dose decrease" in page


@pytest.mark.parametrize(
    ("state", "expect_first", "expect_second"),
    [("active", False, True), ("current", False, True), ("superseded", True, False)],
)
def test_the_state_filter_means_current(
    client, alice, dose_changed, state, expect_first, expect_second
):
    first, second = dose_changed
    client.force_login(alice)
    r = client.get(f"/admin/patients/prescription/?state={state}")
    assert r.status_code == 200
    ids = {row.pk for row in r.context["cl"].result_list}
    assert (first.pk in ids, second.pk in ids) == (expect_first, expect_second)


# --- Alert life cycle -------------------------------------------------------------------
@pytest.fixture
def open_alert(patient):
    from schedules.models import Alert

    return Alert.objects.create(
        patient=patient,
        rule="wbc_low",
        severity="critical",
        message="WBC 0.5",
        action="Hold methotrexate",
        source="test",
    )


def act(client, alert, step, note):
    return client.post(f"/admin/schedules/alert/{alert.pk}/act/{step}/", {"note": note})


def test_acknowledge_and_resolve_need_a_note(client, nina, open_alert):
    client.force_login(nina)
    r = act(client, open_alert, "acknowledge", "  ")
    assert r.status_code == 200 and "This field is required" in r.content.decode()
    open_alert.refresh_from_db()
    assert open_alert.status == "open"

    r = act(client, open_alert, "acknowledge", "called the patient")
    assert r.status_code == 302
    open_alert.refresh_from_db()
    assert (open_alert.status, open_alert.acknowledged_by, open_alert.acknowledge_note) == (
        "acknowledged",
        nina,
        "called the patient",
    )
    r = act(client, open_alert, "resolve", "repeat WBC normal")
    open_alert.refresh_from_db()
    assert open_alert.status == "resolved" and open_alert.resolve_note == "repeat WBC normal"


def test_the_change_page_offers_the_steps(client, nina, open_alert):
    client.force_login(nina)
    page = client.get(f"/admin/schedules/alert/{open_alert.pk}/change/").content.decode()
    assert f"/admin/schedules/alert/{open_alert.pk}/act/acknowledge/" in page
    assert f"/admin/schedules/alert/{open_alert.pk}/act/resolve/" in page


def test_a_resolved_alert_is_read_only_and_editing_it_is_no_500(client, nina, open_alert):
    from schedules import services

    services.alert_resolve(alert=open_alert, user=nina, note="done")
    client.force_login(nina)
    url = f"/admin/schedules/alert/{open_alert.pk}/change/"
    page = client.get(url).content.decode()
    assert "nothing left to do" in page
    assert 'name="resolve_note"' not in page and 'name="acknowledge_note"' not in page
    assert "/act/" not in page
    r = client.post(url, {"acknowledge_note": "edited", "resolve_note": "edited too"})
    assert r.status_code == 403
    r = act(client, open_alert, "resolve", "again")
    assert r.status_code == 200 and "cannot be resolved now" in r.content.decode()
    open_alert.refresh_from_db()
    assert open_alert.resolve_note == "done" and open_alert.acknowledge_note == "done"


def test_an_empty_save_does_not_say_changed(client, nina, open_alert):
    client.force_login(nina)
    r = client.post(
        f"/admin/schedules/alert/{open_alert.pk}/change/", {"_save": "Save"}, follow=True
    )
    assert "changed successfully" not in r.content.decode()
    assert r.status_code == 403


def test_a_viewer_cannot_act_on_an_alert(client, clinic, open_alert):
    vic = make_member(clinic, "vic", "viewer")
    client.force_login(vic)
    assert act(client, open_alert, "resolve", "no").status_code == 403
    open_alert.refresh_from_db()
    assert open_alert.status == "open"


# --- One table of rights ----------------------------------------------------------------
@pytest.mark.parametrize("role", ["clinician", "nurse", "viewer"])
def test_the_admin_grants_the_writes_the_api_grants(client, clinic, role):
    """One table of rights (patients/tenancy.RIGHTS) for both doors. A nurse records the labs
    and measurements she is given in the admin, the API and the workspace alike (issue #17's
    nurse enters a liver panel); a viewer writes nothing anywhere."""
    from api.permissions import allowed

    client.force_login(make_member(clinic, f"writer-{role}", role))
    for url, resource in (
        ("/admin/patients/measurement/add/", "measurement"),
        ("/admin/patients/labresult/add/", "lab"),
        ("/admin/patients/patient/add/", "patient"),
    ):
        code = client.get(url).status_code
        assert code in (200, 403), (url, code)
        assert (code == 200) == allowed(role, resource, "write"), (role, url, code)


def test_a_viewer_may_not_write_what_the_api_forbids_her(client, clinic, patient):
    from api.permissions import allowed
    from patients.models import LabResult, Measurement

    assert not allowed("viewer", "measurement", "write") and not allowed("viewer", "lab", "write")
    client.force_login(make_member(clinic, "vic-w", "viewer"))
    r = client.post(
        "/admin/patients/measurement/add/",
        {"patient": patient.pk, "measured_on": "2025-01-06", "weight_kg": "60", "height_cm": "160"},
    )
    assert r.status_code == 403
    r = client.post(
        "/admin/patients/labresult/add/",
        {
            "patient": patient.pk,
            "analyte": "wbc",
            "reported_value": "0.5",
            "reported_unit": "10^9/L",
            "collected_at_0": (timezone.now() - timedelta(hours=1)).date().isoformat(),
            "collected_at_1": "08:00:00",
            "accession": "N-1",
        },
    )
    assert r.status_code == 403
    assert not Measurement.objects.exists() and not LabResult.objects.exists()


# --- Measurements: one plausibility check at every door; append-only ---------------------
def add_patient_data(client, clinic, nina, **measurement):
    """The Add-patient form with one inline measurement, management forms read from the page."""
    page = client.get("/admin/patients/patient/add/")
    data = {
        "clinic": clinic.pk,
        "mrn": "N-0900",
        "given_name": "Ina",
        "family_name": "Infant",
        "birth_date": (date.today() - timedelta(days=300)).isoformat(),
        "sex": "female",
        "diagnosis": "atopic_dermatitis",
        "responsible_nurse": nina.membership.pk,
        "_save": "Save",
    }
    for inline in page.context["inline_admin_formsets"]:
        fs = inline.formset
        total = 1 if fs.model.__name__ == "Measurement" else 0
        data.update(
            {
                f"{fs.prefix}-TOTAL_FORMS": str(total),
                f"{fs.prefix}-INITIAL_FORMS": "0",
                f"{fs.prefix}-MIN_NUM_FORMS": "0",
                f"{fs.prefix}-MAX_NUM_FORMS": "1000",
            }
        )
        if total:
            for k, v in measurement.items():
                data[f"{fs.prefix}-0-{k}"] = v
    return data


def test_the_add_patient_inline_measurement_is_checked_for_plausibility(
    client, alice, clinic, nina
):
    from patients.models import Measurement, Patient

    client.force_login(alice)
    data = add_patient_data(
        client,
        clinic,
        nina,
        measured_on=date.today().isoformat(),
        weight_kg="8.2",
        height_cm="500",
    )
    r = client.post("/admin/patients/patient/add/", data)
    assert r.status_code == 200  # the form again, with the error
    errors = str(r.context["inline_admin_formsets"][0].formset.errors) + str(
        [ia.formset.errors for ia in r.context["inline_admin_formsets"]]
    )
    assert "height" in errors.lower()
    assert not Patient.objects.filter(mrn="N-0900").exists()
    assert not Measurement.objects.exists()

    data = add_patient_data(
        client, clinic, nina, measured_on=date.today().isoformat(), weight_kg="8.2", height_cm="71"
    )
    r = client.post("/admin/patients/patient/add/", data)
    assert r.status_code == 302, r.context and [
        ia.formset.errors for ia in r.context["inline_admin_formsets"]
    ]
    assert Measurement.objects.get(patient__mrn="N-0900").height_cm == Decimal("71")


def test_a_measurement_is_never_edited_in_place(client, alice, toddler):
    from django.core.exceptions import ValidationError

    m = toddler.measurements.get()
    client.force_login(alice)
    url = f"/admin/patients/measurement/{m.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="height_cm"' not in page and "Record a correction" in page
    r = client.post(
        url,
        {
            "patient": toddler.pk,
            "measured_on": m.measured_on,
            "weight_kg": "12.5",
            "height_cm": "99",
        },
    )
    assert r.status_code == 403
    m.height_cm = Decimal("99")
    with pytest.raises(ValidationError):
        m.save()
    m.refresh_from_db()
    assert m.height_cm == Decimal("88.0")


def test_a_correction_supersedes_with_a_reason(client, alice, toddler):
    from patients.models import Measurement

    wrong = toddler.measurements.get()
    client.force_login(alice)
    form = {
        "patient": toddler.pk,
        "measured_on": wrong.measured_on.isoformat(),
        "weight_kg": "12.5",
        "height_cm": "86",
        "supersedes": wrong.pk,
        "_save": "Save",
    }
    r = client.post("/admin/patients/measurement/add/", form)
    assert r.status_code == 200 and "correction_reason" in r.context["adminform"].form.errors
    r = client.post(
        "/admin/patients/measurement/add/", {**form, "correction_reason": "height misread"}
    )
    assert r.status_code == 302
    fixed = Measurement.objects.get(supersedes=wrong)
    assert list(toddler.measurements.current()) == [fixed]
    wrong.refresh_from_db()
    assert wrong.height_cm == Decimal("88.0")  # kept, unchanged
    page = client.get(f"/admin/patients/measurement/{wrong.pk}/change/").content.decode()
    assert "superseded by" in page and "height misread" in page
    # Another patient's measurement cannot be "corrected" from here.
    r = client.post(
        "/admin/patients/measurement/add/",
        {**form, "supersedes": fixed.pk, "patient": 999999, "correction_reason": "x"},
    )
    assert r.status_code == 200
