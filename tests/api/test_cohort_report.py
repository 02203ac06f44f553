"""Issue 19 done-when: a cohort built through the API alone, and its report checked against figures
computed by hand; assessments and adverse events through the API; clinic scoping, roles, CSV,
suppression."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import date, timedelta

import pytest

from schedules.services import evaluate_result
from tests.api.conftest import errors_of

REPORT = "/api/v1/reports/cohort/"
MONTH = 30.4375


def start_day() -> date:
    # Far enough back that every week-24 window (day 182) has closed by today, never 29 February.
    return date(date.today().year - 1, 3, 10)


def week(n: float) -> date:
    return start_day() + timedelta(days=round(7 * n))


def iso(d: date) -> str:
    return d.isoformat()


def ok(response, status=201):
    assert response.status_code == status, response.content
    return response.json()


class Cohort:
    """Builds patients and their records through the API, as a clinician would."""

    def __init__(self, api):
        self.api = api
        self.n = 0

    def patient(self, birth: date, sex: str, dx="atopic_dermatitis") -> int:
        self.n += 1
        body = {
            "mrn": f"C-{self.n:03d}",
            "given_name": f"Child{self.n}",
            "family_name": "Cohort",
            "birth_date": iso(birth),
            "sex": sex,
            "diagnosis": dx,
        }
        return ok(self.api.post("/api/v1/patients/", body, format="json"))["id"]

    def measure(self, pid, on, kg, cm):
        ok(
            self.api.post(
                f"/api/v1/patients/{pid}/measurements/",
                {"measured_on": iso(on), "weight_kg": kg, "height_cm": cm},
                format="json",
            )
        )

    def mtx(self, pid, dose, on, route="oral", formulation="tablet_2.5mg") -> int:
        body = {
            "patient": pid,
            "drug": "methotrexate",
            "dose_mg": dose,
            "frequency": "once_weekly",
            "weekday": on.strftime("%A").lower(),
            "route": route,
            "formulation": formulation,
            "start_date": iso(on),
            "reason": "Severe atopic dermatitis despite topical treatment.",
        }
        return ok(self.api.post("/api/v1/prescriptions/", body, format="json"))["id"]

    def act(self, rx_id, what, on, **extra) -> int:
        body = {"effective_date": iso(on), "reason": f"{what} (test)", **extra}
        return ok(self.api.post(f"/api/v1/prescriptions/{rx_id}/{what}/", body, format="json"))[
            "id"
        ]

    def iga(self, pid, on, iga):
        ok(
            self.api.post(
                f"/api/v1/patients/{pid}/assessments/",
                {"assessed_on": iso(on), "iga": iga},
                format="json",
            )
        )

    def adverse_event(self, pid, on, kind, led_to_stop=False, **extra):
        body = {
            "kind": kind,
            "onset_date": iso(on),
            "severity": "moderate",
            "led_to_stop": led_to_stop,
            "description": "test",
            **extra,
        }
        return ok(self.api.post(f"/api/v1/patients/{pid}/adverse-events/", body, format="json"))

    def lab(self, pid, on, analyte, value, unit, high=None, accession=""):
        body = {
            "patient": pid,
            "analyte": analyte,
            "value": value,
            "unit": unit,
            "collected_at": f"{iso(on)}T09:00:00+00:00",
            "accession": accession,
        }
        if high is not None:
            body["reference_high"] = high
        result = ok(self.api.post("/api/v1/labs/", body, format="json"))
        evaluate_result(result["id"])  # what the worker does on commit (tests/test_worker.py)


def exact_age(birth: date, on: date) -> float:
    """Completed years plus the elapsed fraction of the next year of life, by hand."""
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    last = birth.replace(year=birth.year + years)
    nxt = birth.replace(year=birth.year + years + 1)
    return years + (on - last).days / (nxt - last).days


@pytest.fixture
def cohort(api):
    """Four children under 4 at the start on methotrexate (one also on mycophenolate) and one
    older child:

    P1 girl, 3.0 y: MTX 5 mg oral, 12 kg; held at week 6, restarted at week 8 (one course);
       IGA 4 → 2 at week 12 → 1 at week 24; nausea at week 3.
    P2 boy, 2.0 y: MTX 5 mg, 11 kg; ALT 150 U/L (ULN 40) and transaminitis at week 10, stopped
       for it at week 11; IGA 3, then 0 at week 11 (after... before week 12: not counted).
    P3 girl, 3 y 9 m (turns 4 during the course): MTX 7.5 mg subcutaneous, 14 kg; IGA 3, then
       1 at week 14 (inside the week-12 window) and 1 at week 24.
    P4 boy, 6 months: MTX 5 mg, 10 kg; IGA 4 ten days before the start, then 1 at week 15
       (outside both windows); also on mycophenolate from week 2, stopped at week 20 for lack
       of efficacy.
    P5 girl, 5 y: MTX, IGA 4 → 0: outside the under-4 filter.
    """
    c = Cohort(api)
    s = start_day()
    births = {
        1: date(s.year - 3, 3, 10),
        2: date(s.year - 2, 3, 10),
        3: date(s.year - 4, 6, 10),
        4: date(s.year - 1, 9, 10),
        5: date(s.year - 5, 3, 10),
    }
    sexes = {1: "female", 2: "male", 3: "female", 4: "male", 5: "female"}
    pid = {k: c.patient(births[k], sexes[k]) for k in births}
    weights = {1: ("12", "88"), 2: ("11", "84"), 3: ("14", "96"), 4: ("10", "72"), 5: ("18", "108")}
    for k, (kg, cm) in weights.items():
        c.measure(pid[k], s - timedelta(days=2), kg, cm)

    rx1 = c.mtx(pid[1], "5", s)
    c.iga(pid[1], s, 4)
    held = c.act(rx1, "hold", week(6))
    c.act(held, "restart", week(8))
    c.iga(pid[1], week(12), 2)
    c.iga(pid[1], week(24), 1)
    c.adverse_event(pid[1], week(3), "gastrointestinal")

    rx2 = c.mtx(pid[2], "5", s)
    c.iga(pid[2], s, 3)
    c.lab(pid[2], week(10), "alt", "150", "U/L", high="40", accession="P2-ALT")
    c.adverse_event(pid[2], week(10), "transaminitis", led_to_stop=True, prescription=rx2)
    c.act(rx2, "stop", week(11), end_reason="adverse_event")
    c.iga(pid[2], week(11), 0)

    c.mtx(pid[3], "7.5", s, route="subcutaneous", formulation="sc_pen")
    c.iga(pid[3], s, 3)
    c.iga(pid[3], week(14), 1)
    c.iga(pid[3], week(24), 1)

    c.mtx(pid[4], "5", s)
    c.iga(pid[4], s - timedelta(days=10), 4)
    c.iga(pid[4], week(15), 1)
    mmf = {
        "patient": pid[4],
        "drug": "mycophenolate_mofetil",
        "dose_mg": "240",
        "frequency": "twice_daily",
        "formulation": "suspension_200mg_ml",
        "route": "oral",
        "start_date": iso(week(2)),
        "reason": "Added for refractory disease.",
    }
    mmf_id = ok(api.post("/api/v1/prescriptions/", mmf, format="json"))["id"]
    c.act(mmf_id, "stop", week(20), end_reason="lack_of_efficacy")

    c.mtx(pid[5], "7.5", s)
    c.iga(pid[5], s, 4)
    c.iga(pid[5], week(12), 0)
    return {"pid": pid, "births": births}


def get_report(client, **params):
    return ok(client.get(REPORT, params), 200)


def test_the_report_of_a_cohort_built_through_the_api_matches_the_hand_computation(api, cohort):
    r = get_report(api, drug="methotrexate", max_age_at_start_years=4)
    s, today = start_day(), date.today()
    assert r["n"] == 4

    t = r["table1"]
    ages = [exact_age(cohort["births"][k], s) for k in (1, 2, 3, 4)]
    assert ages[:2] == [3.0, 2.0] and 3 < ages[2] < 4  # P3 turns 4 during the course
    assert t["age_at_start_years"]["mean"] == pytest.approx(statistics.mean(ages), abs=0.005)
    assert t["age_at_start_years"]["sd"] == pytest.approx(statistics.stdev(ages), abs=0.005)
    assert t["sex"]["female"] == {"n": 2, "of": 4, "percent": 50.0}
    assert t["baseline_iga"] == {"n": 4, "mean": 3.5, "sd": 0.58}  # 4, 3, 3, 4
    # mg/kg/week: 5/12, 5/11, 7.5/14, 5/10 → median (5/11 + 5/10) / 2 = 0.4773.
    assert t["starting_dose_mg_per_kg_week"]["median"] == 0.477
    assert t["route"]["subcutaneous"] == {"n": 1, "of": 4, "percent": 25.0}
    days = sorted([(today - s).days, 77, (today - s).days, (today - s).days])
    assert t["duration_months"]["median"] == pytest.approx(
        (days[1] + days[2]) / 2 / MONTH, abs=0.005
    )

    w12, w24 = r["outcomes"]["week_12"], r["outcomes"]["week_24"]
    # Week 12: P1 4→2 and P3 3→1 (at week 14) respond; P2 stopped at week 11; P4's week-15
    # assessment is outside the window.
    assert w12["response"] == {"n": 2, "of": 4, "percent": 50.0}
    assert w12["iga_0_1"] == {"n": 1, "of": 4, "percent": 25.0}
    assert w12["still_on_treatment"] == {"n": 3, "of": 4, "percent": 75.0}
    assert w12["response_still_on_treatment"] == {"n": 2, "of": 3, "percent": 66.7}
    assert w12["stopped_before"] == {"n": 1} and w12["no_assessment_in_window"] == {"n": 1}
    assert w24["response"] == {"n": 2, "of": 4, "percent": 50.0}
    assert w24["iga_0_1"] == {"n": 2, "of": 4, "percent": 50.0}

    ae = r["outcomes"]["adverse_events"]
    assert ae["any"] == {"n": 2, "of": 4, "percent": 50.0}
    assert ae["led_to_stop"] == {"n": 1, "of": 4, "percent": 25.0}
    assert ae["by_kind"]["transaminitis"] == {"n": 1, "of": 4, "percent": 25.0}
    assert r["outcomes"]["end_reasons"]["adverse_event"] == {"n": 1, "of": 4, "percent": 25.0}
    assert r["outcomes"]["end_reasons"]["lack_of_efficacy"]["n"] == 0  # that was MMF
    assert r["outcomes"]["stopped"] == {"n": 1, "of": 4, "percent": 25.0}
    assert r["outcomes"]["lab_alerts"]["transaminase_above_3x_uln"] == {
        "n": 1,
        "of": 4,
        "percent": 25.0,
    }
    km = r["drug_survival"]["overall"]
    assert [(st["months"], st["survival"]) for st in km["steps"] if st["events"]] == [
        (round(77 / MONTH, 2), 0.75)
    ]
    for name in ("response", "denominator", "percent_rounding", "iga_0_1"):
        assert r["definitions"][name]


def test_a_patient_on_both_drugs_has_a_course_of_each(api, cohort):
    both = get_report(api, max_age_at_start_years=4)
    assert both["n"] == 5
    mmf = get_report(api, drug="mycophenolate_mofetil")
    assert mmf["n"] == 1
    assert mmf["outcomes"]["end_reasons"]["lack_of_efficacy"] == {"n": 1, "of": 1, "percent": 100.0}
    everyone = get_report(api)
    assert everyone["n"] == 6  # P5 too


def test_filters_and_rounding(api, cohort):
    s = start_day()
    assert get_report(api, min_age_at_start_years=4)["n"] == 1
    assert get_report(api, started_from=iso(s + timedelta(days=1)))["n"] == 1  # the MMF course
    assert get_report(api, started_to=iso(s), diagnosis="atopic_dermatitis")["n"] == 5
    assert get_report(api, diagnosis="psoriasis")["n"] == 0
    r = get_report(api, drug="methotrexate", max_age_at_start_years=4, percent_rounding="truncate")
    assert r["outcomes"]["week_12"]["response_still_on_treatment"]["percent"] == 66.6
    one = get_report(api, drug="methotrexate", max_age_at_start_years=4, response_min_improvement=1)
    assert one["filters"]["response_min_improvement"] == 1


@pytest.mark.parametrize(
    "params, field",
    [
        ({"drug": "folic_acid"}, "drug"),
        ({"max_age_at_start_years": "four"}, "max_age_at_start_years"),
        ({"started_from": "2025-13-01"}, "started_from"),
        ({"started_from": "2025-02-01", "started_to": "2025-01-01"}, "started_to"),
        ({"percent_rounding": "banker"}, "percent_rounding"),
        ({"suppress_small": "maybe"}, "suppress_small"),
        ({"max_age": "4"}, "max_age"),
        ({"response_min_improvement": "3"}, "response_min_improvement"),
        ({"started_to": ""}, "started_to"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(api, params, field):
    response = api.get(REPORT, params)
    assert response.status_code == 400
    assert field in errors_of(response)


def test_another_clinics_courses_never_appear(api, api_as, cohort, other_clinic):
    bob = api_as("clinician", where=other_clinic)
    c = Cohort(bob)
    s = start_day()
    pid = c.patient(date(s.year - 2, 1, 1), "male")
    c.measure(pid, s - timedelta(days=1), "11", "84")
    c.mtx(pid, "5", s)
    c.iga(pid, s, 4)
    assert get_report(api)["n"] == 6
    theirs = get_report(bob)
    assert theirs["n"] == 1 and theirs["clinic"] == other_clinic.name
    # Their patient's records are not reachable from Northside either.
    assert api.get(f"/api/v1/patients/{pid}/assessments/").status_code == 404
    assert (
        api.post(
            f"/api/v1/patients/{pid}/adverse-events/",
            {"kind": "other", "onset_date": iso(s), "severity": "mild"},
            format="json",
        ).status_code
        == 404
    )


def test_who_may_read_the_report(api_as, cohort, client):
    for role in ("clinician", "nurse", "viewer"):
        assert api_as(role).get(REPORT).status_code == 200, role
    assert api_as("integration").get(REPORT).status_code == 403
    assert client.get(REPORT).status_code == 401


def _counts(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in {"n", "of", "at_risk", "events", "censored"} and not isinstance(v, dict):
                yield v
            yield from _counts(v)
    elif isinstance(node, list):
        for v in node:
            yield from _counts(v)


def test_suppression_leaves_no_count_of_1_to_7_visible(api, cohort):
    plain = get_report(api)
    assert any(v in range(1, 8) for v in _counts(plain))
    shared = api.get(REPORT, {"suppress_small": "true"})
    body = shared.json()
    for value in _counts(body):
        assert value == "[REDACTED]" or (value % 5 == 0 and value > 7), value
    assert body["n"] == "[REDACTED]" and body["drug_survival"] == "[REDACTED]"
    text = api.get(REPORT, {"suppress_small": "true", "format": "csv"}).content.decode()
    for row in list(csv.reader(io.StringIO(text)))[1:]:
        if len(row) > 5 and row[0] != "definition":
            for cellv in row[3:5]:
                assert cellv in ("", "[REDACTED]") or int(cellv) > 7, row


def test_csv_download_by_format_or_accept(api, cohort):
    response = api.get(
        REPORT, {"drug": "methotrexate", "max_age_at_start_years": 4, "format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="cohort-northside')
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["section", "measure", "value"]
    by_measure = {r[1]: r for r in rows if len(r) > 3}
    assert by_measure["Week 12: response, n/N (%)"][2:6] == ["2/4 (50.0 %)", "2", "4", "50.0"]
    assert ["definition", "text"] in rows
    accept = api.get(REPORT, HTTP_ACCEPT="text/csv")
    assert accept.status_code == 200 and accept["Content-Type"].startswith("text/csv")
    bad = api.get(REPORT, {"drug": "folic_acid", "format": "csv"})
    assert bad.status_code == 400 and b"drug" in bad.content


# --- Assessments and adverse events --------------------------------------------------------
def test_assessments_are_listed_newest_first_and_in_the_timeline(api, toddler):
    url = f"/api/v1/patients/{toddler.pk}/assessments/"
    today = date.today()
    first = ok(
        api.post(
            url,
            {
                "assessed_on": iso(today - timedelta(days=7)),
                "iga": 4,
                "other_score_name": "EASI",
                "other_score_value": "31.5",
            },
            format="json",
        )
    )
    assert first["iga"] == 4 and first["other_score_value"] == "31.50"
    ok(api.post(url, {"assessed_on": iso(today), "iga": 2}, format="json"))
    listed = ok(api.get(url), 200)["results"]
    assert [a["iga"] for a in listed] == [2, 4]
    timeline = ok(api.get(f"/api/v1/patients/{toddler.pk}/timeline/"), 200)
    assert [e["summary"] for e in timeline if e["type"] == "assessment"] == ["IGA 4", "IGA 2"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"assessed_on": "2025-01-01", "iga": 5}, "iga"),
        ({"assessed_on": "2025-01-01", "iga": -1}, "iga"),
        ({"assessed_on": "2999-01-01", "iga": 2}, "assessed_on"),
        ({"assessed_on": "1990-01-01", "iga": 2}, "assessed_on"),
        ({"iga": 2}, "assessed_on"),
        ({"assessed_on": "2025-01-01", "iga": 2, "other_score_value": "3"}, "other_score_name"),
    ],
)
def test_a_bad_assessment_is_a_400_naming_the_field(api, toddler, body, field):
    response = api.post(f"/api/v1/patients/{toddler.pk}/assessments/", body, format="json")
    assert response.status_code == 400
    assert field in errors_of(response)


def test_adverse_events_record_kind_severity_and_stop(api_as, toddler, patient):
    from tests.api.conftest import make_prescription

    rx = make_prescription(toddler, dose_mg="5")
    url = f"/api/v1/patients/{toddler.pk}/adverse-events/"
    nurse = api_as("nurse")
    body = {
        "kind": "transaminitis",
        "onset_date": iso(date.today()),
        "severity": "severe",
        "led_to_stop": True,
        "description": "ALT 5× ULN",
        "prescription": rx.pk,
    }
    made = ok(nurse.post(url, body, format="json"))
    assert (made["kind"], made["led_to_stop"], made["prescription"]) == (
        "transaminitis",
        True,
        rx.pk,
    )
    assert ok(api_as("viewer").get(url), 200)["results"][0]["id"] == made["id"]
    timeline = ok(api_as("viewer").get(f"/api/v1/patients/{toddler.pk}/timeline/"), 200)
    assert any(e["type"] == "adverse_event" and e["id"] == made["id"] for e in timeline)
    # Another patient's prescription is not this patient's.
    theirs = make_prescription(patient)
    wrong = nurse.post(url, {**body, "prescription": theirs.pk}, format="json")
    assert wrong.status_code == 400 and "prescription" in errors_of(wrong)
    bad_kind = nurse.post(url, {**body, "kind": "headache"}, format="json")
    assert bad_kind.status_code == 400 and "kind" in errors_of(bad_kind)


def test_roles_for_assessments_and_adverse_events(api_as, toddler):
    a_url = f"/api/v1/patients/{toddler.pk}/assessments/"
    e_url = f"/api/v1/patients/{toddler.pk}/adverse-events/"
    assessment = {"assessed_on": iso(date.today()), "iga": 3}
    event = {"kind": "infection", "onset_date": iso(date.today()), "severity": "mild"}
    assert api_as("nurse").post(a_url, assessment, format="json").status_code == 403
    assert api_as("viewer").post(e_url, event, format="json").status_code == 403
    assert api_as("integration").get(a_url).status_code == 403
    assert api_as("clinician").post(a_url, assessment, format="json").status_code == 201


# --- Capture at the point of care ------------------------------------------------------------
def _start_body(patient_id, **kw):
    body = {
        "patient": patient_id,
        "drug": "methotrexate",
        "dose_mg": "5",
        "frequency": "once_weekly",
        "weekday": date.today().strftime("%A").lower(),
        "formulation": "tablet_2.5mg",
        "start_date": iso(date.today()),
        "reason": "Severe atopic dermatitis.",
    }
    body.update(kw)
    return body


def test_the_baseline_iga_is_recorded_with_the_start(api, toddler):
    from patients.models import DiseaseAssessment

    ok(api.post("/api/v1/prescriptions/", _start_body(toddler.pk, baseline_iga=4), format="json"))
    [a] = DiseaseAssessment.objects.filter(patient=toddler)
    assert (a.assessed_on, a.iga) == (date.today(), 4)


@pytest.mark.parametrize(
    "kw",
    [
        {"baseline_iga": 5},
        {"drug": "folic_acid", "formulation": "folic_acid_tablet_5mg", "baseline_iga": 3},
    ],
)
def test_a_bad_baseline_iga_is_named(api, toddler, kw):
    response = api.post("/api/v1/prescriptions/", _start_body(toddler.pk, **kw), format="json")
    assert response.status_code == 400 and "baseline_iga" in errors_of(response)


def test_a_refused_start_keeps_no_baseline(api, toddler):
    from patients.models import DiseaseAssessment

    body = _start_body(toddler.pk, frequency="once_daily", baseline_iga=4)
    assert api.post("/api/v1/prescriptions/", body, format="json").status_code == 400
    assert not DiseaseAssessment.objects.filter(patient=toddler).exists()


def test_an_iga_in_the_window_completes_the_week_12_review(
    api, toddler, django_capture_on_commit_callbacks, monkeypatch
):
    from schedules import tasks
    from schedules.models import MonitoringEvent
    from schedules.services import sync_plan
    from tests.api.conftest import make_prescription

    # The queue hop replaced by the task itself (no worker here; tests/test_worker.py has one).
    monkeypatch.setattr(
        tasks.replan_patient, "apply_async", lambda args, **kw: tasks.replan_patient(*args)
    )
    make_prescription(toddler, dose_mg="5", start_date=date.today() - timedelta(weeks=12))
    sync_plan(toddler.pk)
    review = MonitoringEvent.objects.get(
        patient=toddler, kind="response_review", key__contains="week=12"
    )
    assert review.status != "done"
    with django_capture_on_commit_callbacks(execute=True):
        ok(
            api.post(
                f"/api/v1/patients/{toddler.pk}/assessments/",
                {"assessed_on": iso(date.today()), "iga": 2},
                format="json",
            )
        )
    review.refresh_from_db()
    assert (review.status, review.completed_on) == ("done", date.today())
