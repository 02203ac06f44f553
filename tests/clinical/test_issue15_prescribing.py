"""Issue #15 (dosing items 1–5, 8, 12, 13): what the audit found let through, in the core.

Each test fails on the code before issue #15. REF = shared/CLINICAL_REFERENCE.md.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from clinical.codes import (
    CheckLevel,
    Diagnosis,
    DoseBasis,
    Drug,
    Formulation,
    Frequency,
    PrescriptionStatus,
    RiskFactor,
    Route,
    Sex,
    Weekday,
)
from clinical.dosing import DoseRequest, calculate_dose
from clinical.planner import PlanInput, PrescriptionEpisode, plan
from clinical.prescription_checks import (
    CHECK_CODES,
    ActivePrescription,
    Assessment,
    LiverStop,
    LiverValue,
    Measurement,
    PatientContext,
    PrescriptionDraft,
    RenalFunction,
    StopDraft,
    check_prescription,
    check_stop,
)
from clinical.protocols import EULAR_3E_2009
from clinical.types import ClinicalInputError

D = Decimal
MTX, MMF, FA, PRED = (
    Drug.METHOTREXATE,
    Drug.MYCOPHENOLATE_MOFETIL,
    Drug.FOLIC_ACID,
    Drug.PREDNISOLONE,
)
TODAY = date(2025, 6, 2)  # a Monday
TODDLER = date(2023, 2, 1)  # 2 y 4 m
SIX = date(2019, 3, 1)  # 6 y
FOLIC_THURSDAY = ActivePrescription(
    drug=FA, frequency=Frequency.ONCE_WEEKLY, weekday=Weekday.THURSDAY, dose_mg=D(5)
)
PREDNISOLONE = ActivePrescription(drug=PRED, frequency=Frequency.ONCE_DAILY, dose_mg=D(35))


def ctx(**kw) -> PatientContext:
    base = {
        "birth_date": date(1970, 3, 1),
        "sex": Sex.FEMALE,
        "diagnosis": Diagnosis.PSORIASIS,
        "today": TODAY,
        "measurement": Measurement(date(2025, 5, 20), D(70), D(170)),
        "renal": RenalFunction(D(90), date(2025, 5, 1)),
        "other_prescriptions": (FOLIC_THURSDAY,),
    }
    base.update(kw)
    return PatientContext(**base)


def toddler(**kw) -> PatientContext:
    """12 kg / 85 cm: BSA √(85 × 12 / 3600) = 0.532 m² (Mosteller)."""
    base = {
        "birth_date": TODDLER,
        "measurement": Measurement(date(2025, 5, 20), D(12), D(85)),
    }
    base.update(kw)
    return ctx(**base)


def mtx(**kw) -> PrescriptionDraft:
    base = {
        "drug": MTX,
        "dose_mg": D(15),
        "frequency": Frequency.ONCE_WEEKLY,
        "weekday": Weekday.MONDAY,
        "route": Route.ORAL,
        "formulation": Formulation.TABLET_2_5MG,
        "start_date": TODAY,
    }
    base.update(kw)
    return PrescriptionDraft(**base)


def mmf(**kw) -> PrescriptionDraft:
    base = {
        "drug": MMF,
        "dose_mg": D(500),
        "frequency": Frequency.TWICE_DAILY,
        "formulation": Formulation.TABLET_500MG,
    }
    base.update(kw)
    return PrescriptionDraft(**base)


def found(draft: PrescriptionDraft, context: PatientContext) -> dict:
    results = check_prescription(draft, context)
    assert {r.code for r in results} <= CHECK_CODES
    return {r.code: r for r in results}


def calc_codes(calc) -> set[str]:
    return {w.code for w in calc.warnings}


# --- item 1: the child's ceiling whatever the basis -------------------------------------------


def test_a_toddler_with_jdm_on_2_mg_per_kg_is_stopped_at_20_mg_per_m2():
    jdm = toddler(diagnosis=Diagnosis.JUVENILE_DERMATOMYOSITIS)
    draft = mtx(
        dose_mg=D(24),
        basis=DoseBasis.MG_PER_KG,
        amount=D(2),
        formulation=Formulation.ORAL_SOLUTION_2MG_ML,
    )
    got = found(draft, jdm)
    stop = got["PAEDIATRIC_MAX_EXCEEDED"]
    assert stop.level is CheckLevel.HARD_STOP and stop.overridable
    assert "20 mg/m²" in stop.message and "SHARE 2017" in stop.message
    assert stop.source.section == "REF §4 JDM"
    ok = found(dataclasses.replace(draft, override_reason="Refractory JDM, MDT 2025-06-01"), jdm)
    assert ok["PAEDIATRIC_MAX_OVERRIDDEN"].level is CheckLevel.WARNING
    assert "Refractory JDM" in ok["PAEDIATRIC_MAX_OVERRIDDEN"].message
    # 15 mg/m² × 0.532 = 8 mg is fine
    assert "PAEDIATRIC_MAX_EXCEEDED" not in found(dataclasses.replace(draft, dose_mg=D(8)), jdm)


@pytest.mark.parametrize(
    "diagnosis",
    [Diagnosis.DERMATOMYOSITIS, Diagnosis.JIA, Diagnosis.OTHER, Diagnosis.RHEUMATOID_ARTHRITIS],
)
def test_25_mg_a_week_for_a_toddler_is_stopped_for_every_indication(diagnosis):
    got = found(mtx(dose_mg=D(25)), toddler(diagnosis=diagnosis))
    assert got["PAEDIATRIC_MAX_EXCEEDED"].level is CheckLevel.HARD_STOP


def test_mycophenolate_1250_mg_per_m2_in_a_six_year_old_is_stopped():
    six = ctx(birth_date=SIX, measurement=Measurement(date(2025, 5, 20), D(20), D(115)))
    # BSA 0.799 m²: 1250 mg/m² = 999 mg ≈ 1000 mg, within the 1 g twice-daily cap
    draft = mmf(dose_mg=D(1000), basis=DoseBasis.MG_PER_M2, amount=D(1250))
    got = found(draft, six)
    assert got["PAEDIATRIC_MAX_EXCEEDED"].level is CheckLevel.HARD_STOP
    assert "600 mg/m²" in got["PAEDIATRIC_MAX_EXCEEDED"].message
    # 600 mg/m² rounded to the nearest giveable dose (480 → 500 mg tablet) is accepted
    assert "PAEDIATRIC_MAX_EXCEEDED" not in found(mmf(dose_mg=D(500)), six)


def test_a_child_without_a_height_says_the_per_m2_ceiling_was_not_checked():
    jia = toddler(diagnosis=Diagnosis.JIA, measurement=Measurement(date(2025, 5, 20), D(12)))
    got = found(mtx(dose_mg=D(10)), jia)
    assert got["PAEDIATRIC_LIMIT_UNCHECKED"].level is CheckLevel.WARNING
    assert "20 mg/m²" in got["PAEDIATRIC_LIMIT_UNCHECKED"].message


def test_the_calculator_reduces_to_the_child_ceiling_whatever_the_basis():
    req = DoseRequest(
        drug=MTX,
        basis=DoseBasis.MG_PER_KG,
        amount=D(2),
        weight_kg=D(12),
        height_cm=D(85),
        birth_date=TODDLER,
        on_date=TODAY,
        indication=Diagnosis.JUVENILE_DERMATOMYOSITIS,
        formulation=Formulation.ORAL_SOLUTION_2MG_ML,
        weekday=Weekday.MONDAY,
    )
    calc = calculate_dose(req)
    assert calc.raw_dose_mg == D(24)
    assert calc.final_dose_mg == D("10.6")  # 20 mg/m² × 0.532 = 10.64 → 5.3 mL
    assert "PAEDIATRIC_MAX_EXCEEDED" in calc_codes(calc)
    kept = calculate_dose(dataclasses.replace(req, override_reason="MDT decision"))
    assert kept.final_dose_mg == D(24) and "PAEDIATRIC_MAX_OVERRIDDEN" in calc_codes(kept)


# --- item 2: rounding never moves a child's dose by more than 10 % ----------------------------


def _child_req(**kw) -> DoseRequest:
    base = {
        "drug": MTX,
        "basis": DoseBasis.MG_PER_KG,
        "amount": D("0.5"),
        "weight_kg": D(9),
        "height_cm": D(72),
        "birth_date": date(2024, 8, 1),  # 10 months
        "on_date": TODAY,
        "indication": Diagnosis.ATOPIC_DERMATITIS,
        "weekday": Weekday.MONDAY,
    }
    base.update(kw)
    return DoseRequest(**base)


def test_a_9_kg_infant_is_not_offered_a_7_5_mg_pen_for_4_5_mg():
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(_child_req(route=Route.SUBCUTANEOUS))
    assert exc.value.field == "formulation"
    assert "4.5 mg" in exc.value.reason and "+66.7 %" in exc.value.reason
    assert "oral_solution_2.5mg_ml: 1.8 mL = 4.5 mg" in exc.value.reason
    ok = calculate_dose(_child_req(formulation=Formulation.ORAL_SOLUTION_2_5MG_ML))
    assert ok.final_dose_mg == D("4.5") and ok.units == D("1.8")


def test_a_12_kg_toddler_is_not_offered_one_10_mg_tablet_for_6_mg():
    req = _child_req(weight_kg=D(12), height_cm=D(85), birth_date=TODDLER)
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(dataclasses.replace(req, formulation=Formulation.TABLET_10MG))
    assert exc.value.field == "formulation" and "oral solution" in exc.value.reason
    # even overridden, one 10 mg tablet for 6 mg (+67 %) is refused, naming the solutions
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(
            dataclasses.replace(req, formulation=Formulation.TABLET_10MG, override_reason="x")
        )
    assert "oral_solution_2mg_ml: 3.0 mL = 6 mg" in exc.value.reason


def test_child_mycophenolate_600_mg_per_m2_is_rounded_to_the_nearest_giveable_dose():
    req = DoseRequest(
        drug=MMF,
        basis=DoseBasis.MG_PER_M2,
        amount=D(600),
        weight_kg=D(20),
        height_cm=D(115),
        birth_date=SIX,
        on_date=TODAY,
        indication=Diagnosis.DERMATOMYOSITIS,
        formulation=Formulation.CAPSULE_250MG,
    )
    # 300 mg/m² = 239.7 mg: a 500 mg tablet cannot give it; the products that can are named
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(
            dataclasses.replace(req, formulation=Formulation.TABLET_500MG, amount=D(300))
        )
    assert "suspension_200mg_ml: 1.2 mL = 240 mg" in exc.value.reason
    calc = calculate_dose(req)
    assert calc.raw_dose_mg == D("479.400")
    assert calc.final_dose_mg == D(500)  # nearest (+4.3 %), not 250 (−48 %)
    sus = calculate_dose(dataclasses.replace(req, formulation=Formulation.SUSPENSION_200MG_ML))
    assert sus.final_dose_mg == D(480)


# --- item 3: 10 mg tablets for a child ------------------------------------------------------


def test_10_mg_tablets_for_a_child_are_refused_unless_overridden():
    jia = toddler(diagnosis=Diagnosis.JIA)
    draft = mtx(dose_mg=D(10), formulation=Formulation.TABLET_10MG)
    got = found(draft, jia)
    assert got["MTX_10MG_TABLETS_CHILD"].level is CheckLevel.HARD_STOP
    assert got["MTX_10MG_TABLETS_CHILD"].overridable
    assert "NPSA" in got["MTX_10MG_TABLETS_CHILD"].message
    over = found(dataclasses.replace(draft, override_reason="Only stock on the ward"), jia)
    assert over["MTX_10MG_TABLETS_CHILD_OVERRIDDEN"].level is CheckLevel.WARNING
    # an adult keeps the warning
    assert found(draft, ctx())["MTX_10MG_TABLETS"].level is CheckLevel.WARNING


def test_the_calculator_refuses_10_mg_tablets_for_a_child_and_says_so():
    req = DoseRequest(
        drug=MTX,
        basis=DoseBasis.FIXED,
        amount=D(10),
        weight_kg=D(30),
        height_cm=D(135),
        birth_date=date(2016, 1, 1),
        on_date=TODAY,
        indication=Diagnosis.JIA,
        formulation=Formulation.TABLET_10MG,
        weekday=Weekday.MONDAY,
    )
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(req)
    assert exc.value.field == "formulation" and "10 mg" in exc.value.reason
    over = calculate_dose(dataclasses.replace(req, override_reason="Pharmacy shortage"))
    assert over.final_dose_mg == D(10)
    assert "MTX_10MG_TABLETS_CHILD_OVERRIDDEN" in calc_codes(over)


# --- item 4: mycophenolate is twice daily ---------------------------------------------------


@pytest.mark.parametrize(
    "frequency", [Frequency.ONCE_WEEKLY, Frequency.TWICE_WEEKLY, Frequency.AS_DIRECTED]
)
def test_mycophenolate_weekly_or_as_directed_is_refused(frequency):
    got = found(mmf(frequency=frequency), ctx())
    assert got["MMF_NOT_DAILY"].level is CheckLevel.HARD_STOP
    assert got["MMF_NOT_DAILY"].field == "frequency"


def test_mycophenolate_once_daily_stays_a_warning():
    got = found(mmf(frequency=Frequency.ONCE_DAILY), ctx())
    assert got["MMF_NOT_TWICE_DAILY"].level is CheckLevel.WARNING
    assert "MMF_NOT_DAILY" not in got


def test_a_first_mycophenolate_course_above_500_mg_twice_daily_warns():
    first = ctx(first_course=True)
    got = found(mmf(dose_mg=D(1000), change="start"), first)
    assert got["MMF_START_ABOVE_500"].level is CheckLevel.WARNING
    assert "REF §1" in got["MMF_START_ABOVE_500"].message
    assert "MMF_START_ABOVE_500" not in found(mmf(dose_mg=D(500), change="start"), first)
    assert "MMF_START_ABOVE_500" not in found(mmf(dose_mg=D(1000), change="start"), ctx())
    assert "MMF_START_ABOVE_500" not in found(mmf(dose_mg=D(1000), change="dose_increase"), first)


# --- item 5: the calculator's renal rules ---------------------------------------------------


def _adult_req(**kw) -> DoseRequest:
    base = {
        "drug": MTX,
        "basis": DoseBasis.FIXED,
        "amount": D(15),
        "weight_kg": D(70),
        "height_cm": D(170),
        "birth_date": date(1970, 3, 1),
        "on_date": TODAY,
        "indication": Diagnosis.PSORIASIS,
        "weekday": Weekday.MONDAY,
    }
    base.update(kw)
    return DoseRequest(**base)


@pytest.mark.parametrize(("egfr", "refused"), [(D(20), True), (D("29.9"), True), (D(30), False)])
def test_the_calculator_refuses_methotrexate_below_egfr_30(egfr, refused):
    if refused:
        with pytest.raises(ClinicalInputError) as exc:
            calculate_dose(_adult_req(egfr=egfr))
        assert exc.value.field == "egfr" and "contraindicated" in exc.value.reason
    else:
        calc = calculate_dose(_adult_req(egfr=egfr))
        assert "MTX_RENAL_REDUCE" in calc_codes(calc)
    assert calc_codes(calculate_dose(_adult_req(egfr=D(60)))) == set()


# --- item 8: restart after a confirmed ALT/AST > 3× ULN --------------------------------------

LIVER = LiverStop(confirmed_on=date(2025, 4, 1), dose_mg=D(20))


@pytest.mark.parametrize(
    ("since", "dose", "warned"),
    [
        ((LiverValue("alt", date(2025, 5, 20), D(30), D(40)),), D(15), False),  # normal, lower
        ((LiverValue("alt", date(2025, 5, 20), D(30), D(40)),), D(20), True),  # same dose
        ((LiverValue("alt", date(2025, 5, 20), D(90), D(40)),), D(15), True),  # not normal
        ((), D(15), True),  # nothing measured since
        (
            (
                LiverValue("alt", date(2025, 5, 1), D(90), D(40)),
                LiverValue("alt", date(2025, 5, 20), D(35), D(40)),
                LiverValue("ast", date(2025, 5, 20), D(38), D(40)),
            ),
            D(15),
            False,
        ),
    ],
)
def test_restarting_after_a_confirmed_liver_stop(since, dose, warned):
    context = ctx(liver_stop=dataclasses.replace(LIVER, since=since))
    got = found(mtx(dose_mg=dose, change="restart"), context)
    assert ("MTX_RESTART_AFTER_LIVER_STOP" in got) is warned
    if warned:
        assert got["MTX_RESTART_AFTER_LIVER_STOP"].level is CheckLevel.WARNING
        assert "lower dose" in got["MTX_RESTART_AFTER_LIVER_STOP"].message.lower()
        assert "REF §1" in got["MTX_RESTART_AFTER_LIVER_STOP"].message
    # a dose change is not a restart
    assert "MTX_RESTART_AFTER_LIVER_STOP" not in found(
        mtx(dose_mg=dose, change="dose_decrease"), context
    )


# --- item 12: corticosteroids and the stopping rules -----------------------------------------


def test_starting_methotrexate_for_active_dermatomyositis_without_a_corticosteroid_warns():
    dm = ctx(diagnosis=Diagnosis.AMYOPATHIC_DERMATOMYOSITIS)
    got = found(mtx(change="start"), dm)
    warning = got["MTX_DERMATOMYOSITIS_NO_CORTICOSTEROID"]
    assert warning.level is CheckLevel.WARNING
    assert "combination therapy initially" in warning.message and "REF §1" in warning.message
    with_steroid = ctx(
        diagnosis=Diagnosis.AMYOPATHIC_DERMATOMYOSITIS,
        other_prescriptions=(FOLIC_THURSDAY, PREDNISOLONE),
    )
    assert found(mtx(change="start"), with_steroid) == {}
    in_remission = ctx(
        diagnosis=Diagnosis.DERMATOMYOSITIS, assessments=(Assessment(date(2025, 5, 1), 1),)
    )
    assert "MTX_DERMATOMYOSITIS_NO_CORTICOSTEROID" not in found(mtx(change="start"), in_remission)
    assert "MTX_DERMATOMYOSITIS_NO_CORTICOSTEROID" not in found(mtx(change="start"), ctx())


def test_prednisolone_is_a_daily_companion_drug_dosed_per_kg_per_day():
    draft = PrescriptionDraft(
        drug=PRED,
        dose_mg=D(35),
        frequency=Frequency.ONCE_DAILY,
        formulation=Formulation.PREDNISOLONE_TABLET_5MG,
        basis=DoseBasis.MG_PER_KG,
        amount=D("0.5"),
    )
    assert found(draft, ctx()) == {}
    high = found(dataclasses.replace(draft, dose_mg=D(80)), ctx())
    assert high["CORTICOSTEROID_ABOVE_1_MG_PER_KG"].level is CheckLevel.WARNING
    weekly = found(dataclasses.replace(draft, frequency=Frequency.ONCE_WEEKLY), ctx())
    assert weekly["CORTICOSTEROID_NOT_DAILY"].level is CheckLevel.WARNING
    calc = calculate_dose(
        DoseRequest(
            drug=PRED,
            basis=DoseBasis.MG_PER_KG,
            amount=D(1),
            weight_kg=D(12),
            height_cm=D(85),
            birth_date=TODDLER,
            on_date=TODAY,
            indication=Diagnosis.JUVENILE_DERMATOMYOSITIS,
            formulation=Formulation.PREDNISOLONE_TABLET_1MG,
        )
    )
    assert calc.final_dose_mg == D(12)
    assert calc.administration == "12 × prednisolone 1 mg tablets (12 mg) once daily"
    with pytest.raises(ClinicalInputError) as exc:  # 5 mg tablets: 10 mg is −16.7 %
        calculate_dose(dataclasses.replace(calc.request, formulation=None))
    assert "prednisolone_tablet_1mg" in exc.value.reason


def test_stopping_mycophenolate_on_a_corticosteroid_or_with_active_disease_warns():
    stop = StopDraft(drug=MMF, stop_date=TODAY, end_reason="other")
    remission = (Assessment(date(2025, 5, 1), 0),)
    on_steroid = ctx(other_prescriptions=(PREDNISOLONE,), assessments=remission)
    got = {r.code: r for r in check_stop(stop, on_steroid)}
    assert set(got) == {"MMF_STOP_ON_CORTICOSTEROID"}
    assert "REF §1" in got["MMF_STOP_ON_CORTICOSTEROID"].message
    active = ctx(assessments=(Assessment(date(2025, 5, 1), 3),))
    assert {r.code for r in check_stop(stop, active)} == {"MMF_STOP_ACTIVE_DISEASE"}
    assert {r.code for r in check_stop(stop, ctx())} == {"MMF_STOP_ACTIVE_DISEASE"}  # no IGA
    assert check_stop(stop, ctx(assessments=remission)) == []
    harm = dataclasses.replace(stop, end_reason="adverse_event")
    assert check_stop(harm, on_steroid) == []


@pytest.mark.parametrize(
    ("stop_date", "end_reason", "warned"),
    [
        (date(2025, 6, 2), "other", True),  # 4 months after improvement
        (date(2026, 2, 28), "patient_or_parent_concern", True),  # 11 months 27 days
        (date(2026, 3, 1), "other", False),  # 12 months after improvement
        (date(2025, 6, 2), "adverse_event", False),
    ],
)
def test_stopping_methotrexate_within_12_months_of_improvement_warns(stop_date, end_reason, warned):
    igas = (
        Assessment(date(2024, 12, 1), 4),  # baseline
        Assessment(date(2025, 3, 1), 2),  # drop of 2: improvement
    )
    stop = StopDraft(
        drug=MTX, stop_date=stop_date, end_reason=end_reason, course_start=date(2024, 12, 2)
    )
    got = {r.code: r for r in check_stop(stop, ctx(today=stop_date, assessments=igas))}
    assert ("MTX_STOP_WITHIN_12_MONTHS_OF_IMPROVEMENT" in got) is warned
    if warned:
        message = got["MTX_STOP_WITHIN_12_MONTHS_OF_IMPROVEMENT"].message
        assert "2025-03-01" in message and "12 months" in message and "REF §1" in message


def test_stopping_methotrexate_without_improvement_is_quiet_but_a_stop_for_remission_warns():
    igas = (Assessment(date(2024, 12, 1), 4), Assessment(date(2025, 3, 1), 3))
    stop = StopDraft(drug=MTX, stop_date=TODAY, end_reason="other", course_start=date(2024, 12, 2))
    assert check_stop(stop, ctx(assessments=igas)) == []
    remission = dataclasses.replace(stop, end_reason="remission")
    codes_ = {r.code for r in check_stop(remission, ctx(assessments=igas))}
    assert codes_ == {"MTX_STOP_WITHIN_12_MONTHS_OF_IMPROVEMENT"}


def test_diabetes_keeps_its_shorter_interval_and_names_the_fibrosis_risk():
    episode = PrescriptionEpisode(
        id="1",
        drug=MTX,
        dose_mg=D(15),
        route=Route.ORAL,
        status=PrescriptionStatus.ACTIVE,
        start_date=date(2025, 1, 6),
    )
    inp = PlanInput(
        protocol=EULAR_3E_2009,
        drug=MTX,
        today=date(2025, 6, 2),
        birth_date=date(1970, 3, 1),
        prescriptions=(episode,),
        risk_factors=frozenset({RiskFactor.DIABETES}),
    )
    routine = [e for e in plan(inp) if e.kind.value == "routine"]
    assert routine
    assert all("liver fibrosis" in e.explanation and "REF §1" in e.explanation for e in routine)
    assert all("short end" in e.explanation for e in routine)


# --- item 13: folic acid ---------------------------------------------------------------------


def test_weekly_folic_acid_needs_a_weekday():
    draft = PrescriptionDraft(
        drug=FA,
        dose_mg=D(5),
        frequency=Frequency.ONCE_WEEKLY,
        formulation=Formulation.FOLIC_ACID_TABLET_5MG,
    )
    got = found(draft, ctx())
    assert got["FOLIC_ACID_NO_WEEKDAY"].level is CheckLevel.HARD_STOP
    assert got["FOLIC_ACID_NO_WEEKDAY"].field == "weekday"
    assert found(dataclasses.replace(draft, weekday=Weekday.THURSDAY), ctx()) == {}


def test_daily_folic_acid_is_advised_to_skip_the_methotrexate_day():
    methotrexate = ActivePrescription(
        drug=MTX, frequency=Frequency.ONCE_WEEKLY, weekday=Weekday.MONDAY, dose_mg=D(15)
    )
    draft = PrescriptionDraft(
        drug=FA,
        dose_mg=D(1),
        frequency=Frequency.ONCE_DAILY,
        formulation=Formulation.FOLIC_ACID_TABLET_1MG,
    )
    got = found(draft, ctx(other_prescriptions=(methotrexate,)))
    advice = got["FOLIC_ACID_DAILY_SKIP_MTX_DAY"]
    assert advice.level is CheckLevel.WARNING
    assert "EXCEPT the methotrexate day (Mondays)" in advice.message
    assert "BSR" in advice.message
