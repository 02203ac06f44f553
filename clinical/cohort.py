"""A clinic's own cohort report, the way a published retrospective study tabulates one (issue 19).

REF §7 (shared/CLINICAL_REFERENCE.md, "Outcomes worth recording"): IGA 0 clear – 4 severe at
baseline and at the 12- and 24-week reviews, adverse events, the reason a treatment ended and
its duration; the reference cohort is Barak Levitt et al., J Clin Med 2023;12(16):5409.

Pure functions over plain records (no Django): the Django layer reads rows into the small
dataclasses below and calls `cohort_report`; the answer is plain JSON-ready data.

Definitions (also printed with every report, `definitions`):

- A **course** is one treatment of one drug: the first start and every row superseding it
  (dose changes, holds, restarts) up to its stop, or up to today. A restart after a hold is the
  same course; a patient on two drugs has one course per drug; a new start after a stop is a new
  course. Folic acid is not a course.
- **Age at start** in exact years (completed years plus the elapsed fraction of the next one):
  a child is "under 4" when the course started before the 4th birthday, whatever happened later.
- **Baseline IGA**: the last assessment on or up to 90 days before the start; failing that the
  first within 14 days after it.
- **Assessment at week k**: the assessment nearest to start + 7·k days within ±14 days (a tie:
  the later one), on or before the stop date.
- **Response**: IGA improved by at least `response_min_improvement` grades (default 2) from
  baseline; **IGA 0/1**: clear or almost clear.
- **Denominator**: every course started whose time point is evaluable (stopped before it, or its
  window has closed by today); a course stopped before the time point counts as not responding,
  as does one with no assessment in the window (or, for response, no baseline). The "still on
  treatment" denominator (courses not stopped before the time point) is shown beside it.
  Courses whose window is still open are reported as pending and are in neither denominator.
- **Duration**: start to stop (or to today while on treatment) in months of 30.4375 days.
- Adverse events and lab alerts belong to a course when recorded against one of its rows, or
  otherwise when their date lies within the course (start to stop, or today).
- Means with the sample SD; medians with quartiles by the inclusive method (R type 7).
- Percentages to one decimal place, half up by default or truncated (`percent_rounding`).
- Small-number suppression (`suppress_small`, OpenSAFELY's release rules): a count of 7 or fewer
  is shown as "[REDACTED]", every other count rounded to the nearest 5, percentages recomputed
  from the rounded counts; summaries of 7 or fewer values and the drug-survival curve are
  redacted.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum

from clinical.codes import Drug, Route, Sex, TreatmentEndReason
from clinical.types import ClinicalInputError

REDACTED = "[REDACTED]"
SUPPRESS_AT_OR_BELOW = 7  # OpenSAFELY: counts of 7 or fewer are redacted …
ROUND_TO = 5  # … and the others rounded to the nearest 5
DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12
TIME_POINTS_WEEKS = (12, 24)
WINDOW_DAYS = 14  # ±2 weeks around a review's target date
BASELINE_BEFORE_DAYS = 90
BASELINE_AFTER_DAYS = 14
COURSE_DRUGS = (Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL)

# Lab alert rules (clinical.labrules.RULES) counted in the report.
TRANSAMINASE_RULES = frozenset({"LIVER_GT_3X_ULN", "LIVER_GT_3X_ULN_CONFIRMED"})
CYTOPENIA_RULES = frozenset(
    {"WBC_LOW", "NEUTROPHILS_LOW", "PLATELETS_LOW", "LYMPHOCYTES_LOW", "MMF_NEUTROPHILS_LOW"}
)

# Administrations per week, for the weekly starting dose.
PER_WEEK = {"once_weekly": 1, "twice_weekly": 2, "once_daily": 7, "twice_daily": 14}

ADVERSE_EVENT_KINDS = (
    "gastrointestinal",
    "transaminitis",
    "cytopenia",
    "infection",
    "mucositis",
    "fatigue",
    "renal",
    "pulmonary",
    "other",
)


class PercentRounding(StrEnum):
    HALF_UP = "half_up"
    TRUNCATE = "truncate"


# --- Records in ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: int
    birth_date: date
    sex: str
    diagnosis: str


@dataclass(frozen=True, slots=True)
class PrescriptionRecord:
    """One prescription row (a state of a treatment): `supersedes_id` links the chain."""

    id: int
    patient_id: int
    drug: str
    status: str  # active / held / stopped
    start_date: date  # the date this state took effect
    dose_mg: Decimal
    frequency: str
    route: str
    supersedes_id: int | None = None
    end_reason: str = ""


@dataclass(frozen=True, slots=True)
class MeasurementRecord:
    patient_id: int
    measured_on: date
    weight_kg: Decimal
    bsa_m2: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AssessmentRecord:
    patient_id: int
    assessed_on: date
    iga: int


@dataclass(frozen=True, slots=True)
class AdverseEventRecord:
    patient_id: int
    onset_date: date
    kind: str
    led_to_stop: bool = False
    prescription_id: int | None = None


@dataclass(frozen=True, slots=True)
class LabAlertRecord:
    """A lab alert (not superseded by an amendment) on the local date of the result."""

    patient_id: int
    on: date
    rule: str
    prescription_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReportOptions:
    today: date
    drug: str | None = None  # None: methotrexate and mycophenolate
    diagnosis: str | None = None
    min_age_at_start_years: Decimal | None = None
    max_age_at_start_years: Decimal | None = None  # exclusive: "under 4" is max 4
    started_from: date | None = None
    started_to: date | None = None
    response_min_improvement: int = 2
    percent_rounding: PercentRounding = PercentRounding.HALF_UP
    suppress_small: bool = False

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "percent_rounding", PercentRounding(self.percent_rounding))
        except ValueError:
            raise ClinicalInputError(
                "percent_rounding", f"must be one of {', '.join(PercentRounding)}."
            ) from None
        if self.drug is not None and self.drug not in {d.value for d in COURSE_DRUGS}:
            raise ClinicalInputError(
                "drug", f"must be one of {', '.join(d.value for d in COURSE_DRUGS)}."
            )
        if self.response_min_improvement not in (1, 2):
            raise ClinicalInputError("response_min_improvement", "must be 1 or 2 grades.")
        for name in ("min_age_at_start_years", "max_age_at_start_years"):
            value = getattr(self, name)
            if value is not None and (not Decimal(value).is_finite() or Decimal(value) < 0):
                raise ClinicalInputError(name, "must be a number of years, 0 or more.")
        lo, hi = self.min_age_at_start_years, self.max_age_at_start_years
        if lo is not None and hi is not None and Decimal(lo) >= Decimal(hi):
            raise ClinicalInputError("max_age_at_start_years", "must be above the minimum age.")
        if self.started_from and self.started_to and self.started_from > self.started_to:
            raise ClinicalInputError("started_to", "is before started_from.")


# --- Courses -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Course:
    patient: PatientRecord
    drug: str
    start_date: date
    end_date: date | None  # the stop's date; None while on treatment (or on hold)
    end_reason: str  # "" while on treatment
    first: PrescriptionRecord  # the start row
    row_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def stopped(self) -> bool:
        return self.end_date is not None

    def last_day(self, today: date) -> date:
        return self.end_date or today

    def duration_days(self, today: date) -> int:
        return max((self.last_day(today) - self.start_date).days, 0)


def build_courses(
    patients: Iterable[PatientRecord], prescriptions: Iterable[PrescriptionRecord]
) -> list[Course]:
    """One course per chain of prescription rows that begins with a start (supersedes nothing).

    A chain is followed to its stop; rows after a stop (none are made by the services) are
    ignored. Folic acid and rows of unknown patients are not courses.
    """
    by_patient = {p.id: p for p in patients}
    rows = [r for r in prescriptions if r.drug in {d.value for d in COURSE_DRUGS}]
    successor = {r.supersedes_id: r for r in rows if r.supersedes_id is not None}
    courses = []
    for root in rows:
        if root.supersedes_id is not None or root.patient_id not in by_patient:
            continue
        chain = [root]
        seen = {root.id}
        while chain[-1].status != "stopped" and chain[-1].id in successor:
            nxt = successor[chain[-1].id]
            if nxt.id in seen:  # a cycle cannot be made through the services; never loop
                break
            chain.append(nxt)
            seen.add(nxt.id)
        last = chain[-1]
        stopped = last.status == "stopped"
        courses.append(
            Course(
                patient=by_patient[root.patient_id],
                drug=root.drug,
                start_date=root.start_date,
                end_date=last.start_date if stopped else None,
                end_reason=(last.end_reason or TreatmentEndReason.OTHER.value) if stopped else "",
                first=root,
                row_ids=frozenset(seen),
            )
        )
    courses.sort(key=lambda c: (c.start_date, c.patient.id, c.drug, c.first.id))
    return courses


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a common year: the birthday is 1 March
        return date(d.year + years, 3, 1)


def exact_age_years(birth: date, on: date) -> Decimal:
    """Completed years plus the elapsed fraction of the current year of life."""
    if on < birth:
        raise ClinicalInputError("birth_date", "is after the date the age is asked for.")
    years = on.year - birth.year
    if _add_years(birth, years) > on:
        years -= 1
    last = _add_years(birth, years)
    nxt = _add_years(birth, years + 1)
    return Decimal(years) + Decimal((on - last).days) / Decimal((nxt - last).days)


def age_at_start(course: Course) -> Decimal:
    """Exact age at the course's start; 0 for a start recorded before the birth date (a data
    error the report counts in `table1.start_before_birth`, never a crash)."""
    if course.start_date < course.patient.birth_date:
        return Decimal(0)
    return exact_age_years(course.patient.birth_date, course.start_date)


def select_courses(courses: Iterable[Course], options: ReportOptions) -> list[Course]:
    out = []
    for c in courses:
        if options.drug and c.drug != options.drug:
            continue
        if options.diagnosis and c.patient.diagnosis != options.diagnosis:
            continue
        if options.started_from and c.start_date < options.started_from:
            continue
        if options.started_to and c.start_date > options.started_to:
            continue
        age = age_at_start(c)
        if options.min_age_at_start_years is not None and age < Decimal(
            options.min_age_at_start_years
        ):
            continue
        if options.max_age_at_start_years is not None and age >= Decimal(
            options.max_age_at_start_years
        ):
            continue
        out.append(c)
    return out


# --- Numbers -------------------------------------------------------------------------------
def round_to(value: Decimal, places: int, rounding: PercentRounding) -> Decimal:
    mode = ROUND_DOWN if rounding == PercentRounding.TRUNCATE else ROUND_HALF_UP
    return value.quantize(Decimal(1).scaleb(-places), rounding=mode)


def percent(n: int, of: int, rounding: PercentRounding = PercentRounding.HALF_UP) -> float | None:
    """n/of as a percentage to one decimal place (None when of is 0)."""
    if of <= 0:
        return None
    return float(round_to(Decimal(n) * 100 / Decimal(of), 1, rounding))


def cell(n: int, of: int, rounding: PercentRounding) -> dict:
    return {"n": n, "of": of, "percent": percent(n, of, rounding)}


def _num(value: Decimal | float | None, places: int, rounding: PercentRounding) -> float | None:
    if value is None:
        return None
    return float(round_to(Decimal(str(value)), places, rounding))


def mean_sd(values: Sequence[Decimal], places: int, rounding: PercentRounding) -> dict:
    """{n, mean, sd}: the sample SD (None with fewer than 2 values)."""
    vals = [Decimal(v) for v in values]
    mean = statistics.mean(vals) if vals else None
    sd = statistics.stdev(vals) if len(vals) >= 2 else None
    return {
        "n": len(vals),
        "mean": _num(mean, places, rounding),
        "sd": _num(sd, places, rounding),
    }


def median_iqr(values: Sequence[Decimal], places: int, rounding: PercentRounding) -> dict:
    """{n, median, q1, q3}: quartiles by the inclusive method (R type 7, Excel QUARTILE.INC)."""
    vals = sorted(Decimal(v) for v in values)
    if not vals:
        return {"n": 0, "median": None, "q1": None, "q3": None}
    if len(vals) == 1:
        q1 = med = q3 = vals[0]
    else:
        q1, med, q3 = statistics.quantiles(vals, n=4, method="inclusive")
    return {
        "n": len(vals),
        "median": _num(med, places, rounding),
        "q1": _num(q1, places, rounding),
        "q3": _num(q3, places, rounding),
    }


# --- Per-course facts ----------------------------------------------------------------------
def baseline_iga(course: Course, assessments: Sequence[AssessmentRecord]) -> int | None:
    start = course.start_date
    before = [
        a
        for a in assessments
        if start - timedelta(days=BASELINE_BEFORE_DAYS) <= a.assessed_on <= start
    ]
    if before:
        return max(before, key=lambda a: a.assessed_on).iga
    after = [
        a
        for a in assessments
        if start < a.assessed_on <= start + timedelta(days=BASELINE_AFTER_DAYS)
    ]
    if after:
        return min(after, key=lambda a: a.assessed_on).iga
    return None


@dataclass(frozen=True, slots=True)
class TimePoint:
    status: str  # "pending", "stopped_before", "assessed", "missing"
    iga: int | None = None
    assessed_on: date | None = None


def at_time_point(
    course: Course, assessments: Sequence[AssessmentRecord], weeks: int, today: date
) -> TimePoint:
    target = course.start_date + timedelta(weeks=weeks)
    if course.end_date is not None and course.end_date < target:
        return TimePoint("stopped_before")
    lo, hi = target - timedelta(days=WINDOW_DAYS), target + timedelta(days=WINDOW_DAYS)
    last_day = course.end_date or today
    inside = [a for a in assessments if lo <= a.assessed_on <= hi and a.assessed_on <= last_day]
    if today < hi and (course.end_date is None or course.end_date > today):
        # The window is still open: an assessment nearer the target may still come.
        return TimePoint("pending")
    if not inside:
        return TimePoint("missing")
    best = min(
        inside, key=lambda a: (abs((a.assessed_on - target).days), -a.assessed_on.toordinal())
    )
    return TimePoint("assessed", best.iga, best.assessed_on)


def _belongs(course: Course, on: date, prescription_id: int | None, today: date) -> bool:
    if prescription_id is not None:
        return prescription_id in course.row_ids
    return course.start_date <= on <= course.last_day(today)


def _weekly_dose(row: PrescriptionRecord) -> Decimal | None:
    per_week = PER_WEEK.get(row.frequency)
    return Decimal(row.dose_mg) * per_week if per_week else None


def _start_measurement(
    course: Course, measurements: Sequence[MeasurementRecord]
) -> MeasurementRecord | None:
    start = course.start_date
    before = [m for m in measurements if m.measured_on <= start]
    if before:
        return max(before, key=lambda m: m.measured_on)
    after = [m for m in measurements if start < m.measured_on <= start + timedelta(days=14)]
    return min(after, key=lambda m: m.measured_on) if after else None


# --- Kaplan–Meier --------------------------------------------------------------------------
def kaplan_meier(times_events: Sequence[tuple[Decimal, bool]]) -> dict:
    """Product-limit estimate from (time in months, event) pairs; event False = censored.

    One step per distinct time (survival changes only where there are events). At a time with
    both, the events are counted first (the usual convention). `median_months`: the first time
    the survival is at or below 0.5 (None when it never gets there).
    """
    data = sorted(times_events, key=lambda te: te[0])
    at_risk = len(data)
    survival = Decimal(1)
    steps = []
    median = None
    i = 0
    while i < len(data):
        t = data[i][0]
        events = censored = 0
        while i < len(data) and data[i][0] == t:
            events += data[i][1]
            censored += not data[i][1]
            i += 1
        if events:
            survival *= 1 - Decimal(events) / Decimal(at_risk)
            if median is None and survival <= Decimal("0.5"):
                median = _num(t, 2, PercentRounding.HALF_UP)
        steps.append(
            {
                "months": _num(t, 2, PercentRounding.HALF_UP),
                "survival": _num(survival, 4, PercentRounding.HALF_UP),
                "at_risk": at_risk,
                "events": events,
                "censored": censored,
            }
        )
        at_risk -= events + censored
    return {"n": len(data), "median_months": median, "steps": steps}


def _months(days: int) -> Decimal:
    return Decimal(days) / DAYS_PER_MONTH


def drug_survival(courses: Sequence[Course], today: date) -> dict:
    """Time to stopping: overall (any reason) and for each end reason (the others censored)."""
    overall = kaplan_meier([(_months(c.duration_days(today)), c.stopped) for c in courses])
    by_reason = {}
    for reason in TreatmentEndReason:
        by_reason[reason.value] = kaplan_meier(
            [
                (_months(c.duration_days(today)), c.stopped and c.end_reason == reason.value)
                for c in courses
            ]
        )
    return {"overall": overall, "by_end_reason": by_reason}


# --- The report ----------------------------------------------------------------------------
def definitions(options: ReportOptions) -> dict[str, str]:
    grades = options.response_min_improvement
    rounding = (
        "truncated (not rounded) to one decimal place"
        if options.percent_rounding == PercentRounding.TRUNCATE
        else "rounded half up to one decimal place"
    )
    return {
        "course": "One treatment of one drug: the first start and every superseding row "
        "(dose change, hold, restart) up to its stop or today. A restart after a hold is the "
        "same course; a patient on two drugs has one course per drug.",
        "age_at_start": "Exact years at the course's start (a child who turns 4 later is "
        "still under 4 at start).",
        "baseline_iga": f"The last IGA on or up to {BASELINE_BEFORE_DAYS} days before the "
        f"start; failing that the first within {BASELINE_AFTER_DAYS} days after.",
        "time_point": f"The IGA nearest to week 12 / week 24 after the start, within "
        f"±{WINDOW_DAYS // 7} weeks, on or before the stop.",
        "response": f"An IGA improvement of at least {grades} grade{'s' if grades > 1 else ''} "
        "from baseline at the time point.",
        "response_min_improvement": str(grades),
        "iga_0_1": "IGA 0 (clear) or 1 (almost clear) at the time point.",
        "denominator": "Every course started, once its time point is evaluable: a course "
        "stopped before the time point, or with no assessment in the window, counts as not "
        "responding. Beside it, the 'still on treatment' denominator: courses not stopped "
        "before the time point. Courses whose window is still open are pending and in neither.",
        "duration": "Start to stop (or today while on treatment), months of 30.4375 days.",
        "adverse_events": "Courses with at least one adverse event recorded against the course "
        "or with an onset between its start and stop (or today).",
        "lab_alerts": "Courses with a lab alert during the course: ALT/AST above 3× ULN "
        f"({', '.join(sorted(TRANSAMINASE_RULES))}); cytopenia "
        f"({', '.join(sorted(CYTOPENIA_RULES))}). Alerts superseded by an amended result are "
        "not counted.",
        "summaries": "Mean ± sample SD; median [Q1, Q3], quartiles by the inclusive method.",
        "percent_rounding": f"Percentages {rounding}; means, SDs and medians likewise to "
        "two decimals.",
        "drug_survival": "Kaplan–Meier estimate of time to stopping: overall, and for each end "
        "reason with the other stops censored (1 − S is not a cumulative incidence when "
        "reasons compete).",
        "suppression": "Counts of 7 or fewer shown as [REDACTED], others rounded to the "
        "nearest 5, percentages recomputed from the rounded counts; summaries of 7 or fewer "
        "values and the drug-survival curve redacted (OpenSAFELY release rules)."
        if options.suppress_small
        else "None: exact counts, for use inside the clinic only.",
        "source": "shared/CLINICAL_REFERENCE.md §7 (Barak Levitt et al., J Clin Med "
        "2023;12(16):5409).",
    }


def cohort_report(
    *,
    patients: Iterable[PatientRecord],
    prescriptions: Iterable[PrescriptionRecord],
    measurements: Iterable[MeasurementRecord] = (),
    assessments: Iterable[AssessmentRecord] = (),
    adverse_events: Iterable[AdverseEventRecord] = (),
    lab_alerts: Iterable[LabAlertRecord] = (),
    options: ReportOptions,
) -> dict:
    """The cohort table, outcomes and drug survival of the selected courses (see module doc)."""
    rnd = options.percent_rounding
    today = options.today
    courses = select_courses(build_courses(patients, prescriptions), options)
    n = len(courses)

    def group(records, key="patient_id"):
        out: dict[int, list] = {}
        for r in records:
            out.setdefault(getattr(r, key), []).append(r)
        return out

    meas = group(measurements)
    assess = group(assessments)
    events = group(adverse_events)
    alerts = group(lab_alerts)

    # Table 1
    ages = [age_at_start(c) for c in courses]
    baselines = {id(c): baseline_iga(c, assess.get(c.patient.id, [])) for c in courses}
    per_kg, per_m2 = [], []
    for c in courses:
        weekly = _weekly_dose(c.first)
        m = _start_measurement(c, meas.get(c.patient.id, []))
        if weekly is not None and m is not None:
            per_kg.append(weekly / Decimal(m.weight_kg))
            if m.bsa_m2:
                per_m2.append(weekly / Decimal(m.bsa_m2))
    table1 = {
        "n": n,
        "age_at_start_years": mean_sd(ages, 2, rnd),
        "sex": {s.value: cell(sum(c.patient.sex == s.value for c in courses), n, rnd) for s in Sex},
        "baseline_iga": mean_sd([Decimal(b) for b in baselines.values() if b is not None], 2, rnd),
        "baseline_iga_missing": {"n": sum(b is None for b in baselines.values())},
        "start_before_birth": {"n": sum(c.start_date < c.patient.birth_date for c in courses)},
        "starting_dose_mg_per_kg_week": median_iqr(per_kg, 3, rnd),
        "starting_dose_mg_per_m2_week": median_iqr(per_m2, 2, rnd),
        "route": {
            r.value: cell(sum(c.first.route == r.value for c in courses), n, rnd) for r in Route
        },
        "duration_months": median_iqr([_months(c.duration_days(today)) for c in courses], 2, rnd),
        "drug": {
            d.value: cell(sum(c.drug == d.value for c in courses), n, rnd) for d in COURSE_DRUGS
        },
    }

    # Outcomes at the reviews
    outcomes: dict = {}
    responders_any: set[int] = set()
    evaluable_any: set[int] = set()
    for weeks in TIME_POINTS_WEEKS:
        counts = dict.fromkeys(
            ("response", "iga_0_1", "evaluable", "on_treatment", "pending", "stopped_before",
             "missing", "no_baseline", "response_on", "iga01_on"),
            0,
        )  # fmt: skip
        for c in courses:
            tp = at_time_point(c, assess.get(c.patient.id, []), weeks, today)
            if tp.status == "pending":
                counts["pending"] += 1
                continue
            counts["evaluable"] += 1
            evaluable_any.add(id(c))
            if tp.status == "stopped_before":
                counts["stopped_before"] += 1
                continue
            counts["on_treatment"] += 1
            if tp.status == "missing":
                counts["missing"] += 1
                continue
            base = baselines[id(c)]
            if tp.iga is not None and tp.iga <= 1:
                counts["iga_0_1"] += 1
            if base is None:
                counts["no_baseline"] += 1
            elif tp.iga is not None and base - tp.iga >= options.response_min_improvement:
                counts["response"] += 1
                responders_any.add(id(c))
        ev, on = counts["evaluable"], counts["on_treatment"]
        outcomes[f"week_{weeks}"] = {
            "response": cell(counts["response"], ev, rnd),
            "iga_0_1": cell(counts["iga_0_1"], ev, rnd),
            "response_still_on_treatment": cell(counts["response"], on, rnd),
            "iga_0_1_still_on_treatment": cell(counts["iga_0_1"], on, rnd),
            "still_on_treatment": cell(on, ev, rnd),
            "stopped_before": {"n": counts["stopped_before"]},
            "no_assessment_in_window": {"n": counts["missing"]},
            "no_baseline": {"n": counts["no_baseline"]},
            "pending": {"n": counts["pending"]},
        }
    outcomes["response_at_any_review"] = cell(len(responders_any), len(evaluable_any), rnd)

    # Adverse events
    course_events = {
        id(c): [
            e
            for e in events.get(c.patient.id, [])
            if _belongs(c, e.onset_date, e.prescription_id, today)
        ]
        for c in courses
    }
    outcomes["adverse_events"] = {
        "any": cell(sum(bool(v) for v in course_events.values()), n, rnd),
        "led_to_stop": cell(
            sum(any(e.led_to_stop for e in v) for v in course_events.values()), n, rnd
        ),
        "by_kind": {
            kind: cell(sum(any(e.kind == kind for e in v) for v in course_events.values()), n, rnd)
            for kind in ADVERSE_EVENT_KINDS
        },
    }

    # End reasons
    outcomes["stopped"] = cell(sum(c.stopped for c in courses), n, rnd)
    outcomes["still_on_treatment"] = cell(sum(not c.stopped for c in courses), n, rnd)
    outcomes["end_reasons"] = {
        r.value: cell(sum(c.end_reason == r.value for c in courses), n, rnd)
        for r in TreatmentEndReason
    }

    # Lab alerts
    course_alerts = {
        id(c): {
            a.rule
            for a in alerts.get(c.patient.id, [])
            if _belongs(c, a.on, a.prescription_id, today)
        }
        for c in courses
    }
    outcomes["lab_alerts"] = {
        "transaminase_above_3x_uln": cell(
            sum(bool(v & TRANSAMINASE_RULES) for v in course_alerts.values()), n, rnd
        ),
        "cytopenia": cell(sum(bool(v & CYTOPENIA_RULES) for v in course_alerts.values()), n, rnd),
    }

    report = {
        "n": n,
        "today": today.isoformat(),
        "filters": {
            "drug": options.drug,
            "diagnosis": options.diagnosis,
            "min_age_at_start_years": _float(options.min_age_at_start_years),
            "max_age_at_start_years": _float(options.max_age_at_start_years),
            "started_from": options.started_from.isoformat() if options.started_from else None,
            "started_to": options.started_to.isoformat() if options.started_to else None,
            "response_min_improvement": options.response_min_improvement,
            "percent_rounding": options.percent_rounding.value,
            "suppress_small": options.suppress_small,
        },
        "definitions": definitions(options),
        "table1": table1,
        "outcomes": outcomes,
        "drug_survival": drug_survival(courses, today),
    }
    return suppress(report, rnd) if options.suppress_small else report


def _float(v) -> float | None:
    return None if v is None else float(v)


# --- Small-number suppression --------------------------------------------------------------
def suppress_count(value: int) -> int | str:
    """A count for release: 7 or fewer redacted, others rounded (half up) to the nearest 5."""
    if value <= SUPPRESS_AT_OR_BELOW:
        return REDACTED
    return int((Decimal(value) / ROUND_TO).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * ROUND_TO


def suppress(report: dict, rounding: PercentRounding) -> dict:
    """The report for sharing outside the clinic (see the module doc)."""

    def walk(node):
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        if "n" in node and isinstance(node["n"], int):
            if "of" in node:  # a count cell: n of N (%)
                n, of = suppress_count(node["n"]), suppress_count(node["of"])
                out["n"], out["of"] = n, of
                if "percent" in node:
                    out["percent"] = (
                        percent(n, of, rounding)
                        if isinstance(n, int) and isinstance(of, int)
                        else REDACTED
                    )
            elif any(k in node for k in ("mean", "median")):  # a summary of n values
                if node["n"] <= SUPPRESS_AT_OR_BELOW:
                    out = dict.fromkeys(node, REDACTED)
                else:
                    out["n"] = suppress_count(node["n"])
            else:
                out["n"] = suppress_count(node["n"])
        return out

    out = {k: walk(v) for k, v in report.items() if k not in {"drug_survival", "n"}}
    out["n"] = suppress_count(report["n"])
    out["drug_survival"] = REDACTED
    return {k: out[k] for k in report}


# --- The table as rows (CSV, staff page, README) ---------------------------------------------
END_REASON_LABELS = {
    "lack_of_efficacy": "lack of efficacy",
    "adverse_event": "adverse event",
    "patient_or_parent_concern": "patient or parental concern",
    "remission": "remission",
    "other": "other",
}


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:g}" if v == int(v) and abs(v) >= 10 else f"{v}"
    return str(v)


def fmt_cell(c: dict) -> str:
    """'4/28 (14.2 %)'; with suppression '[REDACTED]/30 ([REDACTED])'."""
    pct = c.get("percent")
    shown = "–" if pct is None else (pct if isinstance(pct, str) else f"{pct:.1f} %")
    return f"{c['n']}/{c['of']} ({shown})"


def fmt_mean(c: dict) -> str:
    return f"{_fmt(c['mean'])} ± {_fmt(c['sd'])} (n = {c['n']})"


def fmt_median(c: dict) -> str:
    return f"{_fmt(c['median'])} [{_fmt(c['q1'])}, {_fmt(c['q3'])}] (n = {c['n']})"


def report_rows(report: dict) -> list[tuple[str, str, str, dict]]:
    """(section, measure, value as printed, the JSON cell) for every line of the table."""
    t, o = report["table1"], report["outcomes"]
    rows: list[tuple[str, str, str, dict]] = [
        ("Table 1", "Courses, n", str(report["n"]), {"n": report["n"]}),
        (
            "Table 1",
            "Age at start, years, mean ± SD",
            fmt_mean(t["age_at_start_years"]),
            t["age_at_start_years"],
        ),
    ]
    for sex, c in t["sex"].items():
        rows.append(("Table 1", f"Sex: {sex}, n (%)", fmt_cell(c), c))
    for drug, c in t["drug"].items():
        rows.append(("Table 1", f"Drug: {drug.replace('_', ' ')}, n (%)", fmt_cell(c), c))
    rows += [
        ("Table 1", "Baseline IGA, mean ± SD", fmt_mean(t["baseline_iga"]), t["baseline_iga"]),
        (
            "Table 1",
            "Starting dose, mg/kg/week, median [IQR]",
            fmt_median(t["starting_dose_mg_per_kg_week"]),
            t["starting_dose_mg_per_kg_week"],
        ),
        (
            "Table 1",
            "Starting dose, mg/m²/week, median [IQR]",
            fmt_median(t["starting_dose_mg_per_m2_week"]),
            t["starting_dose_mg_per_m2_week"],
        ),
    ]
    for route, c in t["route"].items():
        rows.append(("Table 1", f"Route: {route}, n (%)", fmt_cell(c), c))
    rows.append(
        (
            "Table 1",
            "Treatment duration, months, median [IQR]",
            fmt_median(t["duration_months"]),
            t["duration_months"],
        )
    )
    for weeks in TIME_POINTS_WEEKS:
        w = o[f"week_{weeks}"]
        label = f"Week {weeks}"
        rows += [
            ("Outcomes", f"{label}: response, n/N (%)", fmt_cell(w["response"]), w["response"]),
            ("Outcomes", f"{label}: IGA 0/1, n/N (%)", fmt_cell(w["iga_0_1"]), w["iga_0_1"]),
            (
                "Outcomes",
                f"{label}: still on treatment, n/N (%)",
                fmt_cell(w["still_on_treatment"]),
                w["still_on_treatment"],
            ),
            (
                "Outcomes",
                f"{label}: response among those still on treatment",
                fmt_cell(w["response_still_on_treatment"]),
                w["response_still_on_treatment"],
            ),
            (
                "Outcomes",
                f"{label}: IGA 0/1 among those still on treatment",
                fmt_cell(w["iga_0_1_still_on_treatment"]),
                w["iga_0_1_still_on_treatment"],
            ),
            (
                "Outcomes",
                f"{label}: pending (window open), n",
                str(w["pending"]["n"]),
                w["pending"],
            ),
        ]
    rows.append(
        (
            "Outcomes",
            "Response at either review, n/N (%)",
            fmt_cell(o["response_at_any_review"]),
            o["response_at_any_review"],
        )
    )
    ae = o["adverse_events"]
    rows.append(("Adverse events", "Any adverse event, n (%)", fmt_cell(ae["any"]), ae["any"]))
    for kind, c in ae["by_kind"].items():
        rows.append(("Adverse events", f"Kind: {kind}, n (%)", fmt_cell(c), c))
    rows.append(
        (
            "Adverse events",
            "Adverse event that led to stopping, n (%)",
            fmt_cell(ae["led_to_stop"]),
            ae["led_to_stop"],
        )
    )
    rows.append(("End of treatment", "Stopped, n (%)", fmt_cell(o["stopped"]), o["stopped"]))
    for reason, c in o["end_reasons"].items():
        label = END_REASON_LABELS.get(reason, reason)
        rows.append(("End of treatment", f"Stopped for {label}, n (%)", fmt_cell(c), c))
    rows.append(
        (
            "End of treatment",
            "Still on treatment, n (%)",
            fmt_cell(o["still_on_treatment"]),
            o["still_on_treatment"],
        )
    )
    la = o["lab_alerts"]
    rows += [
        (
            "Lab alerts",
            "ALT/AST above 3× ULN, n (%)",
            fmt_cell(la["transaminase_above_3x_uln"]),
            la["transaminase_above_3x_uln"],
        ),
        ("Lab alerts", "Cytopenia, n (%)", fmt_cell(la["cytopenia"]), la["cytopenia"]),
    ]
    return rows
