"""The staff page of the cohort report (issue 19): same numbers as the API, CSV, the curve."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from patients.models import DiseaseAssessment, Patient
from patients.prescriptions import prescription_start, prescription_stop
from tests.conftest import make_member

pytestmark = pytest.mark.django_db
URL = "/staff/reports/cohort/"


def child(clinic, mrn, start, *, stop_after=None, reason="remission"):
    p = Patient.objects.create(
        clinic=clinic,
        mrn=mrn,
        given_name="Kid",
        family_name=mrn,
        birth_date=start - timedelta(days=800),
        sex="female",
        diagnosis="atopic_dermatitis",
    )
    from patients.services import measurement_record

    measurement_record(patient=p, measured_on=start, weight_kg="12", height_cm="88")
    rx = prescription_start(
        patient=p,
        drug="methotrexate",
        dose_mg="5",
        frequency="once_weekly",
        weekday=start.strftime("%A").lower(),
        formulation="tablet_2.5mg",
        start_date=start,
        reason="test",
    ).prescription
    DiseaseAssessment.objects.create(patient=p, assessed_on=start, iga=4)
    if stop_after:
        prescription_stop(
            prescription=rx,
            effective_date=start + timedelta(days=stop_after),
            reason="test",
            end_reason=reason,
        )
    return p


@pytest.fixture
def cohort(clinic, other_clinic):
    start = date.today() - timedelta(days=400)
    for i in range(3):
        child(clinic, f"K{i}", start, stop_after=60 * (i + 1) if i < 2 else None)
    child(other_clinic, "THEIRS", start, stop_after=30, reason="adverse_event")


def test_staff_see_their_clinics_report_with_the_curve(client, clinic, cohort):
    client.force_login(make_member(clinic, "vera", "viewer"))
    response = client.get(URL, {"drug": "methotrexate"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cohort report — Northside Dermatology" in html
    assert "<svg" in html and 'data-curve="overall"' in html and 'data-curve="remission"' in html
    assert 'Stopped for remission, n (%)</td><td class="v">2/3 (66.7 %)' in html
    # Eastside's adverse-event stop is not Northside's.
    assert 'Stopped for adverse event, n (%)</td><td class="v">0/3 (0.0 %)' in html
    assert 'Courses, n</td><td class="v">3<' in html


def test_csv_download_from_the_page(client, clinic, cohort):
    client.force_login(make_member(clinic, "carl", "clinician"))
    response = client.get(URL, {"format": "csv", "percent_rounding": "truncate"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert '"Stopped for remission, n (%)",2/3 (66.6 %),2,3,66.6' in response.content.decode()


def test_suppressed_page_shows_no_curve_and_no_small_counts(client, clinic, cohort):
    client.force_login(make_member(clinic, "carl", "clinician"))
    html = client.get(URL, {"suppress_small": "true"}).content.decode()
    assert "<svg" not in html and "[REDACTED]" in html
    for small in range(1, 8):
        assert f">{small}/" not in html and f"({small}/" not in html


def test_bad_filters_are_named_and_not_a_500(client, clinic, cohort):
    client.force_login(make_member(clinic, "carl", "clinician"))
    response = client.get(URL, {"max_age_at_start_years": "four", "started_from": "x"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "max_age_at_start_years" in html and "started_from" in html


def test_login_and_a_clinic_role_are_required(client, db):
    assert client.get(URL).status_code == 302  # to the admin login
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(root)
    assert client.get(URL).status_code == 403


def test_svg_escapes_and_draws_steps():
    from reports.svg import survival_svg

    km = {
        "overall": {
            "n": 2,
            "median_months": 1.0,
            "steps": [
                {"months": 1.0, "survival": 0.5, "at_risk": 2, "events": 1, "censored": 0},
                {"months": 2.0, "survival": 0.5, "at_risk": 1, "events": 0, "censored": 1},
            ],
        },
        "by_end_reason": {},
    }
    svg = survival_svg(km)
    assert svg.startswith("<svg") and svg.count("<path") == 1
    assert survival_svg("[REDACTED]") == ""
