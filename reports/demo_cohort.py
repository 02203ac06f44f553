"""A synthetic cohort that reproduces the reference study's abstract (issue 19; REF §7).

Barak Levitt et al., J Clin Med 2023;12(16):5409: 28 children under 4 with atopic dermatitis
started on methotrexate 2016–2022; age at start 2.7 ± 1.2 years; baseline IGA 3.78 ± 0.4;
median treatment five months; response 14 of 28; IGA 0/1 in 4 of 28 at 12 weeks and 6 of 28 at
24 weeks; adverse events in 16 of 28; 2 of 28 stopped for an adverse event; most stops for lack
of efficacy or parental concern.

Every child is invented (names, MRNs, dates). The records are written through the same services
as the admin and the API (dosing checks, stops with an end reason, lab rules), so the demo's
report is the real report on real rows. Dates are fixed (2016–2022), so the figures do not move
with today: every course has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

COHORT_CLINIC = "Southside Paediatric Dermatology"
FIRST_START = date(2016, 2, 1)
START_EVERY_DAYS = 80  # 28 starts from February 2016 to early 2022


@dataclass(frozen=True)
class Child:
    age: float  # years at start
    sex: str
    baseline: int  # IGA at start
    week_12: int | None  # IGA at the week-12 review (None: stopped before it)
    week_24: int | None  # IGA at the week-24 review (None: stopped before it)
    days: int  # treatment duration
    end_reason: str
    events: tuple[tuple[str, int, bool], ...] = ()  # (kind, day of onset, led to stopping)
    route: str = "oral"
    dose_up_at_week: int | None = None
    hold_weeks: tuple[int, int] | None = None  # held at, restarted at


LOE, PC, AE, REM, OTHER = (
    "lack_of_efficacy",
    "patient_or_parent_concern",
    "adverse_event",
    "remission",
    "other",
)
GI, INF, LIVER, MOUTH = "gastrointestinal", "infection", "transaminitis", "mucositis"

# 14 children reach week 24 and respond there (6 clear or almost clear; 4 of them already at
# week 12); 14 stop before week 24 (4 before week 12), none of them responding.
CHILDREN: tuple[Child, ...] = (
    # --- on treatment at week 24, responding
    Child(3.96, "male", 4, 1, 0, 540, REM, ((GI, 20, False),), dose_up_at_week=8),
    Child(3.05, "female", 4, 1, 1, 450, REM, ((INF, 60, False),)),
    Child(2.30, "male", 3, 1, 1, 400, REM, ()),
    Child(3.70, "female", 3, 1, 0, 365, REM, ((GI, 15, False),), route="subcutaneous"),
    Child(1.50, "male", 4, 2, 1, 330, REM, ((MOUTH, 40, False),), hold_weeks=(10, 12)),
    Child(3.45, "male", 4, 2, 1, 720, REM, ((GI, 30, False),)),
    Child(2.80, "female", 4, 2, 2, 300, REM, ((LIVER, 90, False),)),
    Child(3.85, "male", 4, 2, 2, 600, PC, ((GI, 25, False),), dose_up_at_week=8),
    Child(0.65, "female", 4, 2, 2, 270, PC, ((INF, 100, False),)),
    Child(3.25, "male", 4, 3, 2, 240, PC, ()),
    Child(3.60, "female", 4, 3, 2, 210, PC, ((GI, 45, False),), route="subcutaneous"),
    Child(1.20, "male", 4, 3, 2, 500, LOE, ((INF, 150, False),)),
    Child(3.93, "male", 4, 2, 2, 190, LOE, ()),
    Child(2.95, "female", 4, 3, 2, 170, OTHER, (), dose_up_at_week=8),
    # --- stopped before week 24
    Child(0.45, "male", 4, None, None, 35, AE, ((LIVER, 28, True),)),
    Child(3.15, "female", 4, None, None, 49, PC, ((GI, 10, False),)),
    Child(3.80, "male", 4, None, None, 63, PC, ()),
    Child(1.90, "female", 3, None, None, 70, LOE, ()),
    Child(3.35, "male", 4, 3, None, 86, LOE, ()),
    Child(0.55, "male", 4, 4, None, 91, AE, ((INF, 80, True),)),
    Child(3.50, "female", 4, 3, None, 98, LOE, ((GI, 14, False),)),
    Child(2.60, "male", 3, 3, None, 105, PC, ()),
    Child(3.90, "male", 4, 4, None, 112, LOE, (), route="subcutaneous"),
    Child(0.80, "female", 4, 3, None, 119, LOE, ((GI, 21, False),)),
    Child(3.55, "male", 3, 2, None, 126, PC, ()),
    Child(0.95, "female", 4, 4, None, 130, LOE, ((INF, 60, False),)),
    Child(3.65, "male", 3, 3, None, 133, LOE, ()),
    Child(3.75, "female", 4, 3, None, 135, PC, ()),
)

GIVEN = [
    "Ari",
    "Bea",
    "Cal",
    "Dov",
    "Eli",
    "Fay",
    "Gil",
    "Hana",
    "Ido",
    "Jo",
    "Kai",
    "Lia",
    "Mor",
    "Noa",
    "Ori",
    "Pia",
    "Rafi",
    "Shai",
    "Tal",
    "Uri",
    "Vered",
    "Yael",
    "Zev",
    "Adi",
    "Ben",
    "Dana",
    "Erez",
    "Gali",
]


def _weekday(d: date) -> str:
    return d.strftime("%A").lower()


def _weight_kg(age: float) -> Decimal:
    return Decimal(str(7.6 + 2.3 * age)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _height_cm(age: float) -> Decimal:
    return Decimal(str(68 + 9.5 * age)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _dose_mg(weight: Decimal, per_kg: str) -> Decimal:
    """About per_kg mg/kg/week, to the nearest 0.2 mg (0.1 mL of the 2 mg/mL solution)."""
    return (weight * Decimal(per_kg) * 5).quantize(Decimal(1), rounding=ROUND_HALF_UP) / 5


def seed_cohort_clinic(*, clinician, nurse=None) -> tuple[object, int]:
    """Create the cohort clinic's 28 children and their records; returns (clinic, children).

    `clinician` and `nurse` are users made by the caller (seed_demo) with roles in the clinic
    returned by `cohort_clinic()`; idempotent through that clinic's existence.
    """
    from patients.models import Clinic
    from schedules.services import sync_plan

    clinic = Clinic.objects.get(name=COHORT_CLINIC)
    for i, child in enumerate(CHILDREN):
        _seed_child(clinic, i, child, clinician, nurse)
    # Every course has ended: plan each child now, as the worker's re-plan would after the stop,
    # so no draw of a course stopped years ago is left open (and in a nurse's digest) until then.
    for pid in clinic.patients.values_list("id", flat=True):
        sync_plan(pid)
    return clinic, len(CHILDREN)


def cohort_clinic():
    from patients.models import Clinic

    return Clinic.objects.create(
        name=COHORT_CLINIC,
        time_zone="Asia/Jerusalem",
        contact_email="paeds-derm@southside.example",
    )


def _seed_child(clinic, i: int, child: Child, clinician, nurse) -> None:
    from patients.models import LabResult, Patient
    from patients.prescriptions import (
        prescription_change_dose,
        prescription_hold,
        prescription_restart,
        prescription_start,
        prescription_stop,
    )
    from patients.services import adverse_event_record, assessment_record, measurement_record
    from schedules.services import evaluate_result

    start = FIRST_START + timedelta(days=START_EVERY_DAYS * i)
    birth = start - timedelta(days=round(child.age * 365.25))
    p = Patient(
        clinic=clinic,
        mrn=f"SS-{2001 + i}",
        given_name=GIVEN[i],
        family_name="Demo",
        birth_date=birth,
        sex=child.sex,
        diagnosis="atopic_dermatitis",
        risk_factors=[],
        responsible_nurse=getattr(nurse, "membership", None),
    )
    p.full_clean()
    p.save()
    weight = _weight_kg(child.age)
    measurement_record(
        patient=p,
        measured_on=start - timedelta(days=3),
        weight_kg=weight,
        height_cm=_height_cm(child.age),
    )
    day = _weekday(start)
    sc = child.route == "subcutaneous"
    folic = prescription_start(
        patient=p,
        drug="folic_acid",
        dose_mg="1",
        frequency="once_weekly",
        weekday=_weekday(start + timedelta(days=2)),
        formulation="folic_acid_tablet_1mg",
        start_date=start,
        reason="Companion to methotrexate.",
        user=clinician,
    ).prescription
    dose = Decimal("7.5") if sc else _dose_mg(weight, "0.4")
    rx = prescription_start(
        patient=p,
        drug="methotrexate",
        dose_mg=dose,
        frequency="once_weekly",
        weekday=day,
        route=child.route,
        formulation="sc_pen" if sc else "oral_solution_2mg_ml",
        start_date=start,
        basis="fixed" if sc else "mg_per_kg",
        basis_amount=None if sc else Decimal("0.4"),
        reason="Moderate-to-severe atopic dermatitis despite optimal topical treatment.",
        user=clinician,
    ).prescription
    if child.dose_up_at_week:
        rx = prescription_change_dose(
            prescription=rx,
            dose_mg=dose + Decimal("1"),
            effective_date=start + timedelta(weeks=child.dose_up_at_week),
            reason="Partial response: dose increased.",
            user=clinician,
        ).prescription
    if child.hold_weeks:
        held_at, restart_at = child.hold_weeks
        rx = prescription_hold(
            prescription=rx,
            effective_date=start + timedelta(weeks=held_at),
            reason="Chickenpox contact: held.",
            user=clinician,
        ).prescription
        rx = prescription_restart(
            prescription=rx,
            effective_date=start + timedelta(weeks=restart_at),
            reason="Well: restarted at the same dose.",
            user=clinician,
        ).prescription

    assessment_record(patient=p, assessed_on=start, iga=child.baseline, user=clinician)
    # Reviews a few days either side of the target, as clinics run them (inside ±2 weeks).
    shift = (i % 5) - 2
    for weeks, iga in ((12, child.week_12), (24, child.week_24)):
        if iga is not None:
            on = start + timedelta(weeks=weeks, days=shift)
            on = min(on, start + timedelta(days=child.days))
            assessment_record(patient=p, assessed_on=on, iga=iga, user=clinician)

    for kind, onset, stopped in child.events:
        on = start + timedelta(days=onset)
        adverse_event_record(
            patient=p,
            kind=kind,
            onset_date=on,
            severity="moderate" if stopped else "mild",
            led_to_stop=stopped,
            description="Synthetic demo event.",
            prescription=rx,
            user=clinician,
        )
        if kind == LIVER:
            # The liver test behind it: ALT 3.4× (leading to the stop) or 2.2× the ULN of 25.
            value = "85" if stopped else "55"
            result = LabResult(
                patient=p,
                analyte="alt",
                reported_value=value,
                reported_unit="U/L",
                reference_high=Decimal(25),
                collected_at=datetime.combine(on, time(9, 30), tzinfo=clinic.tz),
                accession=f"DEMO-{p.mrn}-ALT-{on:%Y%m%d}",
                source="demo",
            )
            result.full_clean()
            result.save()
            evaluate_result(result.pk)
            # The repeat the rules asked for, done a week later and normal again (the cohort is
            # historical: nothing of it is left for a nurse to chase).
            repeat = LabResult(
                patient=p,
                analyte="alt",
                reported_value="22",
                reported_unit="U/L",
                reference_high=Decimal(25),
                collected_at=datetime.combine(
                    on + timedelta(days=7), time(9, 30), tzinfo=clinic.tz
                ),
                accession=f"DEMO-{p.mrn}-ALT-{on + timedelta(days=7):%Y%m%d}",
                source="demo",
            )
            repeat.full_clean()
            repeat.save()
            evaluate_result(repeat.pk)

    end = start + timedelta(days=child.days)
    for row in (rx, folic):
        prescription_stop(
            prescription=row,
            effective_date=end,
            reason="Treatment ended (synthetic demo).",
            end_reason=child.end_reason,
            user=clinician,
        )
