"""The demo's third clinic reproduces the reference study's abstract (issue 19; REF §7)."""

from __future__ import annotations

import pytest

from reports.demo_cohort import CHILDREN, COHORT_CLINIC, cohort_clinic, seed_cohort_clinic
from reports.selectors import clinic_cohort_report
from tests.conftest import make_member

pytestmark = pytest.mark.django_db

ABSTRACT_FILTERS = {
    "drug": "methotrexate",
    "diagnosis": "atopic_dermatitis",
    "max_age_at_start_years": 4,
    "percent_rounding": "truncate",
}


@pytest.fixture
def cohort_report():
    clinic = cohort_clinic()
    doc = make_member(clinic, "dr.cohort", "clinician")
    seed_cohort_clinic(clinician=doc)
    return clinic_cohort_report(clinic, **ABSTRACT_FILTERS)


def test_the_demo_cohort_reproduces_the_abstract(cohort_report):
    r = cohort_report
    assert r["clinic"] == COHORT_CLINIC and len(CHILDREN) == 28
    assert r["n"] == 28
    t, o = r["table1"], r["outcomes"]
    # Age at start 2.7 ± 1.2 years; baseline IGA 3.78 ± 0.4; median treatment five months.
    assert f"{t['age_at_start_years']['mean']:.1f}"[:3] == "2.7"
    assert round(t["age_at_start_years"]["sd"], 1) == 1.2
    assert t["baseline_iga"]["mean"] == 3.78 and round(t["baseline_iga"]["sd"], 1) == 0.4
    assert round(t["duration_months"]["median"]) == 5
    # Response 14 of 28 (50 %); IGA 0/1 4 of 28 (14.2 %) and 6 of 28 (21.4 %).
    assert o["week_24"]["response"] == {"n": 14, "of": 28, "percent": 50.0}
    assert o["response_at_any_review"] == {"n": 14, "of": 28, "percent": 50.0}
    assert o["week_12"]["iga_0_1"] == {"n": 4, "of": 28, "percent": 14.2}
    assert o["week_24"]["iga_0_1"] == {"n": 6, "of": 28, "percent": 21.4}
    # Adverse events 16 of 28 (57.1 %); stopped for an adverse event 2 of 28 (7.1 %).
    assert o["adverse_events"]["any"] == {"n": 16, "of": 28, "percent": 57.1}
    assert o["adverse_events"]["led_to_stop"] == {"n": 2, "of": 28, "percent": 7.1}
    assert o["end_reasons"]["adverse_event"] == {"n": 2, "of": 28, "percent": 7.1}
    # Most stops for lack of efficacy or parental concern.
    reasons = o["end_reasons"]
    common = reasons["lack_of_efficacy"]["n"] + reasons["patient_or_parent_concern"]["n"]
    assert common > o["stopped"]["n"] / 2
    # The liver test behind the adverse-event stop raised a > 3× ULN alert.
    assert o["lab_alerts"]["transaminase_above_3x_uln"]["n"] == 1
