"""Prescription checks: the weekly rule, strengths, folic acid, caps and overrides, measurements,
renal function, children, and that no string input can crash the check."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.codes import (
    CheckLevel,
    Diagnosis,
    DoseBasis,
    Drug,
    Formulation,
    Frequency,
    Route,
    Sex,
    Weekday,
)
from clinical.prescription_checks import (
    CHECK_CODES,
    ActivePrescription,
    Measurement,
    PatientContext,
    PrescriptionDraft,
    RenalFunction,
    RenalKind,
    check_prescription,
    hard_stops,
)

D = Decimal
MTX, MMF, FA = Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL, Drug.FOLIC_ACID
TODAY = date(2025, 6, 2)  # a Monday
FOLIC_THURSDAY = ActivePrescription(
    drug=FA, frequency=Frequency.ONCE_WEEKLY, weekday=Weekday.THURSDAY, dose_mg=D(5)
)


def adult(**kw) -> PatientContext:
    base = {
        "birth_date": date(1970, 3, 1),
        "sex": Sex.FEMALE,
        "diagnosis": Diagnosis.DERMATOMYOSITIS,
        "today": TODAY,
        "measurement": Measurement(date(2025, 5, 1), D(70), D(170)),
        "renal": RenalFunction(D(90), date(2025, 5, 1)),
        "other_prescriptions": (FOLIC_THURSDAY,),
    }
    base.update(kw)
    return PatientContext(**base)


def toddler(**kw) -> PatientContext:
    """2 y 4 m, atopic dermatitis, 12.5 kg / 88 cm (BSA 0.553 m²)."""
    base = {
        "birth_date": date(2023, 2, 1),
        "diagnosis": Diagnosis.ATOPIC_DERMATITIS,
        "measurement": Measurement(date(2025, 5, 20), D("12.5"), D(88)),
    }
    base.update(kw)
    return adult(**base)


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
        "dose_mg": D(1000),
        "frequency": Frequency.TWICE_DAILY,
        "formulation": Formulation.TABLET_500MG,
    }
    base.update(kw)
    return PrescriptionDraft(**base)


def run(draft: PrescriptionDraft, ctx: PatientContext | None = None) -> dict[str, object]:
    results = check_prescription(draft, ctx or adult())
    by_code = {r.code: r for r in results}
    assert len(by_code) == len(results), [r.code for r in results]  # no duplicate codes
    return by_code


def stop_codes(draft: PrescriptionDraft, ctx: PatientContext | None = None) -> set[str]:
    return {r.code for r in hard_stops(check_prescription(draft, ctx or adult()))}


# --- a correct prescription raises nothing ----------------------------------------------------


def test_a_correct_weekly_methotrexate_prescription_passes_silently():
    assert check_prescription(mtx(), adult()) == []


def test_a_correct_weight_based_child_prescription_passes_silently():
    draft = mtx(dose_mg=D("7.5"), basis=DoseBasis.MG_PER_M2, amount=D(15))
    assert check_prescription(draft, toddler()) == []


def test_a_correct_mycophenolate_prescription_passes_silently():
    assert check_prescription(mmf(), adult()) == []


# --- once weekly on a named day ---------------------------------------------------------------


@pytest.mark.parametrize(
    "frequency",
    [
        Frequency.ONCE_DAILY,
        Frequency.TWICE_DAILY,
        Frequency.TWICE_WEEKLY,
        Frequency.AS_DIRECTED,
        None,
        "",
        "once_daily",
        "weekly",  # not a code: refused rather than guessed
        "daily",
    ],
)
def test_methotrexate_that_is_not_once_weekly_is_a_hard_stop(frequency):
    found = run(mtx(frequency=frequency))
    result = found["MTX_NOT_WEEKLY"]
    assert result.level is CheckLevel.HARD_STOP
    assert result.field == "frequency"
    assert not result.overridable
    assert "ONCE WEEKLY" in result.message
    assert "NPSA" in result.message and "MHRA" in result.message and "ISMP" in result.message
    assert result.source.year == 2004


def test_an_unknown_frequency_string_is_also_named_as_unknown():
    found = run(mtx(frequency="daily"))
    assert found["INVALID_FREQUENCY"].level is CheckLevel.HARD_STOP
    assert "'daily'" in found["MTX_NOT_WEEKLY"].message


def test_frequency_codes_are_read_case_insensitively():
    assert check_prescription(mtx(frequency=" ONCE_WEEKLY "), adult()) == []


@pytest.mark.parametrize("weekday", [None, "funday", ""])
def test_methotrexate_without_a_named_day_is_a_hard_stop(weekday):
    found = run(mtx(weekday=weekday))
    assert "weekday" in {r.field for r in found.values() if r.level is CheckLevel.HARD_STOP}
    assert ("MTX_NO_WEEKDAY" in found) is (weekday is None)
    assert ("INVALID_WEEKDAY" in found) is (weekday is not None)


def test_a_start_date_on_another_weekday_is_a_warning():
    found = run(mtx(start_date=date(2025, 6, 3)))  # a Tuesday
    assert found["MTX_START_NOT_ON_WEEKDAY"].level is CheckLevel.WARNING
    assert "Tuesday" in found["MTX_START_NOT_ON_WEEKDAY"].message
    assert "Mondays" in found["MTX_START_NOT_ON_WEEKDAY"].message


# --- tablet strengths -------------------------------------------------------------------------


def test_two_tablet_strengths_on_one_prescription_is_a_hard_stop():
    found = run(mtx(dose_mg=D("12.5"), tablet_strengths={D("2.5"), D(10)}))
    assert found["MTX_MULTIPLE_TABLET_STRENGTHS"].level is CheckLevel.HARD_STOP
    assert found["MTX_MULTIPLE_TABLET_STRENGTHS"].field == "tablet_strengths"
    assert "FORMULATION_STRENGTH_MISMATCH" not in found  # 2.5 mg is among them


def test_10_mg_tablets_are_a_warning_preferring_2_5_mg():
    found = run(mtx(dose_mg=D(20), formulation=Formulation.TABLET_10MG))
    assert set(found) == {"MTX_10MG_TABLETS"}
    assert found["MTX_10MG_TABLETS"].level is CheckLevel.WARNING
    assert "2.5 mg" in found["MTX_10MG_TABLETS"].message


def test_a_dose_that_is_not_whole_tablets_is_a_hard_stop():
    assert stop_codes(mtx(dose_mg=D(15), formulation=Formulation.TABLET_10MG)) == {
        "DOSE_NOT_DELIVERABLE"
    }
    assert stop_codes(mtx(dose_mg=D(16))) == {"DOSE_NOT_DELIVERABLE"}


@pytest.mark.parametrize(
    ("formulation", "dose", "ok"),
    [
        (Formulation.SC_PEN, D("17.5"), True),
        (Formulation.SC_PEN, D(16), False),
        (Formulation.ORAL_SOLUTION_2MG_ML, D("8.2"), True),
        (Formulation.ORAL_SOLUTION_2MG_ML, D("8.3"), False),
        (Formulation.ORAL_SOLUTION_2_5MG_ML, D("8.25"), True),
    ],
)
def test_deliverability_of_pens_and_solutions(formulation, dose, ok):
    route = Route.SUBCUTANEOUS if formulation is Formulation.SC_PEN else Route.ORAL
    codes = stop_codes(mtx(dose_mg=dose, formulation=formulation, route=route))
    assert ("DOSE_NOT_DELIVERABLE" not in codes) is ok


def test_an_unknown_tablet_strength_is_a_hard_stop():
    found = run(mtx(formulation=None, tablet_strengths=[D(5)]))
    assert found["MTX_UNKNOWN_TABLET_STRENGTH"].level is CheckLevel.HARD_STOP


def test_methotrexate_without_a_product_is_a_hard_stop_unless_strengths_are_given():
    assert "FORMULATION_MISSING" in stop_codes(mtx(formulation=None))
    assert stop_codes(mtx(formulation=None, tablet_strengths="2.5")) == set()


def test_a_product_of_another_drug_or_route_is_a_hard_stop():
    assert stop_codes(mtx(formulation=Formulation.CAPSULE_250MG)) == {"FORMULATION_WRONG_DRUG"}
    assert stop_codes(mtx(formulation="tablet_5mg")) >= {"INVALID_FORMULATION"}
    assert stop_codes(mtx(formulation=Formulation.SC_PEN, dose_mg=D(15))) == {"ROUTE_MISMATCH"}


# --- folic acid -------------------------------------------------------------------------------


def test_methotrexate_without_folic_acid_is_a_warning():
    found = run(mtx(), adult(other_prescriptions=()))
    assert set(found) == {"FOLIC_ACID_MISSING"}
    assert found["FOLIC_ACID_MISSING"].level is CheckLevel.WARNING
    assert "BSR" in found["FOLIC_ACID_MISSING"].message


def test_weekly_folic_acid_on_the_methotrexate_day_is_a_warning():
    folic_monday = dataclasses.replace(FOLIC_THURSDAY, weekday=Weekday.MONDAY)
    found = run(mtx(), adult(other_prescriptions=(folic_monday,)))
    assert set(found) == {"FOLIC_ACID_ON_MTX_DAY"}
    daily = ActivePrescription(drug=FA, frequency=Frequency.ONCE_DAILY, dose_mg=D(1))
    assert check_prescription(mtx(), adult(other_prescriptions=(daily,))) == []


def test_a_folic_acid_draft_on_the_methotrexate_day_is_a_warning():
    methotrexate = ActivePrescription(
        drug="methotrexate", frequency="once_weekly", weekday="monday", dose_mg=D(15)
    )
    draft = PrescriptionDraft(
        drug=FA,
        dose_mg=D(5),
        frequency=Frequency.ONCE_WEEKLY,
        weekday=Weekday.MONDAY,
        formulation=Formulation.FOLIC_ACID_TABLET_5MG,
    )
    assert set(run(draft, adult(other_prescriptions=(methotrexate,)))) == {"FOLIC_ACID_ON_MTX_DAY"}
    tuesday = dataclasses.replace(draft, weekday=Weekday.TUESDAY)
    assert check_prescription(tuesday, adult(other_prescriptions=(methotrexate,))) == []
    low = dataclasses.replace(tuesday, dose_mg=D(1), formulation=Formulation.FOLIC_ACID_TABLET_1MG)
    assert set(run(low, adult(other_prescriptions=(methotrexate,)))) == {"FOLIC_ACID_LOW_DOSE"}


def test_a_second_active_methotrexate_prescription_is_a_hard_stop():
    other = ActivePrescription(drug=MTX, frequency=Frequency.ONCE_WEEKLY, weekday=Weekday.FRIDAY)
    ctx = adult(other_prescriptions=(FOLIC_THURSDAY, other))
    assert stop_codes(mtx(), ctx) == {"DUPLICATE_ACTIVE_PRESCRIPTION"}


# --- caps and overrides -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dose", "stopped"),
    [(D(25), False), (D("25.01"), True), (D("27.5"), True)],
)
def test_the_25_mg_cap_boundary(dose, stopped):
    found = run(mtx(dose_mg=dose, formulation=Formulation.ORAL_SOLUTION_2_5MG_ML))
    assert ("DOSE_ABOVE_CAP" in found) is stopped
    if stopped:
        assert found["DOSE_ABOVE_CAP"].level is CheckLevel.HARD_STOP
        assert found["DOSE_ABOVE_CAP"].overridable
        assert found["DOSE_ABOVE_CAP"].field == "dose_mg"


def test_an_override_reason_turns_the_cap_into_a_recorded_warning():
    draft = mtx(dose_mg=D(30), override_reason="EULAR allows 30 mg; rheumatology agreed")
    results = check_prescription(draft, adult())
    assert hard_stops(results) == []
    (result,) = (r for r in results if r.code == "DOSE_ABOVE_CAP_OVERRIDDEN")
    assert result.level is CheckLevel.WARNING
    assert "EULAR allows 30 mg; rheumatology agreed" in result.message
    assert "Override recorded" in result.message


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_blank_override_reason_does_not_override(reason):
    assert "DOSE_ABOVE_CAP" in stop_codes(mtx(dose_mg=D(30), override_reason=reason))


def test_above_40_mg_a_week_no_override_is_accepted():
    draft = mtx(dose_mg=D("42.5"), override_reason="typed by mistake?")
    found = run(draft)
    assert found["MTX_ABOVE_ABSOLUTE_MAX"].level is CheckLevel.HARD_STOP
    assert not found["MTX_ABOVE_ABSOLUTE_MAX"].overridable
    assert found["DOSE_ABOVE_CAP_OVERRIDDEN"].level is CheckLevel.WARNING


@pytest.mark.parametrize(("dose", "stopped"), [(D(40), False), (D("42.5"), True)])
def test_juvenile_dermatomyositis_cap_is_40_mg(dose, stopped):
    ctx = toddler(
        birth_date=date(2012, 1, 1),
        diagnosis=Diagnosis.JUVENILE_DERMATOMYOSITIS,
        measurement=Measurement(date(2025, 5, 20), D(55), D(165)),
    )
    assert ("DOSE_ABOVE_CAP" in stop_codes(mtx(dose_mg=dose), ctx)) is stopped


@pytest.mark.parametrize(("dose", "stopped"), [(D("12.5"), False), (D(15), True)])
def test_child_skin_disease_cap_is_1_mg_per_kg(dose, stopped):
    found = run(mtx(dose_mg=dose), toddler())
    assert ("DOSE_ABOVE_CAP" in found) is stopped
    assert "PAEDIATRIC_MAX_EXCEEDED" not in found  # the hard stop already says it
    if stopped:
        assert "1 mg/kg" in found["DOSE_ABOVE_CAP"].message
        assert "Siegfried" in found["DOSE_ABOVE_CAP"].message


def test_a_child_cap_that_needs_a_weight_says_it_was_not_checked():
    found = run(mtx(dose_mg=D(10)), toddler(measurement=None))
    assert found["CAP_NOT_FULLY_CHECKED"].level is CheckLevel.WARNING
    assert "1 mg/kg" in found["CAP_NOT_FULLY_CHECKED"].message


@pytest.mark.parametrize(("dose", "stopped"), [(D(1500), False), (D(1750), True)])
def test_mycophenolate_adult_cap_is_3_g_a_day(dose, stopped):
    assert ("DOSE_ABOVE_CAP" in stop_codes(mmf(dose_mg=dose, formulation=None))) is stopped


# --- measurements -----------------------------------------------------------------------------


def test_a_weight_based_dose_without_a_measurement_is_a_hard_stop():
    draft = mtx(dose_mg=D("7.5"), basis=DoseBasis.MG_PER_M2, amount=D(15))
    found = run(draft, toddler(measurement=None))
    assert found["MEASUREMENT_MISSING"].level is CheckLevel.HARD_STOP
    height_missing = toddler(measurement=Measurement(date(2025, 5, 20), D("12.5"), None))
    assert run(draft, height_missing)["MEASUREMENT_MISSING"].field == "height_cm"


@pytest.mark.parametrize(
    ("ctx_factory", "age_days", "stale"),
    [
        (adult, 90, False),
        (adult, 91, True),
        (toddler, 90, False),  # 2 years old: the 90-day limit
        (toddler, 91, True),
    ],
)
def test_measurement_age_limit_boundaries(ctx_factory, age_days, stale):
    measured = Measurement(TODAY - timedelta(days=age_days), D(70), D(170))
    if ctx_factory is toddler:
        measured = Measurement(TODAY - timedelta(days=age_days), D("12.5"), D(88))
    draft = mtx(dose_mg=D("7.5"), basis=DoseBasis.MG_PER_KG, amount=D("0.6"))
    found = run(draft, ctx_factory(measurement=measured))
    assert ("MEASUREMENT_STALE" in found) is stale


@pytest.mark.parametrize(("age_days", "stale"), [(30, False), (31, True)])
def test_under_2_the_measurement_must_be_30_days_old_at_most(age_days, stale):
    infant = toddler(
        birth_date=date(2024, 1, 1),
        measurement=Measurement(TODAY - timedelta(days=age_days), D(10), D(78)),
    )
    found = run(mtx(dose_mg=D("7.5")), infant)
    assert ("MEASUREMENT_STALE" in found) is stale


def test_an_adult_fixed_dose_does_not_need_a_recent_measurement():
    old = Measurement(date(2020, 1, 1), D(70), D(170))
    assert check_prescription(mtx(), adult(measurement=old)) == []


def test_an_implausible_or_future_measurement_is_a_hard_stop():
    infant_80kg = toddler(measurement=Measurement(date(2025, 5, 20), D(80), D(88)))
    assert run(mtx(dose_mg=D("7.5")), infant_80kg)["MEASUREMENT_IMPLAUSIBLE"].field == "weight_kg"
    future = adult(measurement=Measurement(TODAY + timedelta(days=1), D(70), D(170)))
    draft = mtx(basis=DoseBasis.MG_PER_KG, amount=D("0.2"), dose_mg=D(15))
    assert "MEASUREMENT_IN_FUTURE" in stop_codes(draft, future)


def test_a_dose_far_above_its_stated_basis_is_a_warning():
    jia = toddler(diagnosis=Diagnosis.JIA)
    # 15 mg/m² × 0.553 m² = 8.3 mg, but 15 mg was entered: mg/m² read as mg?
    found = run(mtx(dose_mg=D(15), basis=DoseBasis.MG_PER_M2, amount=D(15)), jia)
    assert found["DOSE_BASIS_MISMATCH"].level is CheckLevel.WARNING
    # 7.5 mg, the nearest whole tablets to 8.3 mg, is ordinary rounding, not a mismatch; 10 mg
    # is more than half a tablet (and 10 %) above it
    assert check_prescription(mtx(dose_mg=D("7.5"), basis="mg_per_m2", amount=D(15)), jia) == []
    assert "DOSE_BASIS_MISMATCH" in run(mtx(dose_mg=D(10), basis="mg_per_m2", amount=D(15)), jia)


# --- renal ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("egfr", "code", "level"),
    [
        (D("29.9"), "MTX_RENAL_CONTRAINDICATED", CheckLevel.HARD_STOP),
        (D(30), "MTX_RENAL_REDUCE", CheckLevel.WARNING),
        (D("59.9"), "MTX_RENAL_REDUCE", CheckLevel.WARNING),
        (D(60), None, None),
    ],
)
def test_methotrexate_renal_bands(egfr, code, level):
    found = run(mtx(), adult(renal=RenalFunction(egfr, date(2025, 5, 1), RenalKind.CRCL)))
    renal = {c: r for c, r in found.items() if r.field == "renal"}
    if code is None:
        assert renal == {}
        return
    assert set(renal) == {code}
    assert renal[code].level is level
    assert not renal[code].overridable
    if code == "MTX_RENAL_REDUCE":
        assert "UNVERIFIED" in renal[code].message
        assert "50 %" in renal[code].message
        assert renal[code].source.verified is False


def test_no_renal_function_on_record_is_a_warning_for_methotrexate():
    assert set(run(mtx(), adult(renal=None))) == {"RENAL_FUNCTION_UNKNOWN"}


@pytest.mark.parametrize(
    ("egfr", "dose", "stopped"),
    [
        (D("24.9"), D(1250), True),
        (D("24.9"), D(1000), False),
        (D(25), D(1250), False),
    ],
)
def test_mycophenolate_at_gfr_below_25_is_at_most_1_g_twice_daily(egfr, dose, stopped):
    ctx = adult(renal=RenalFunction(egfr, date(2025, 5, 1)))
    draft = mmf(dose_mg=dose, formulation=Formulation.CAPSULE_250MG)
    found = run(draft, ctx)
    assert ("MMF_RENAL_MAX" in found) is stopped
    if stopped:
        assert found["MMF_RENAL_MAX"].overridable
        with_reason = dataclasses.replace(draft, override_reason="nephrology advice")
        assert hard_stops(check_prescription(with_reason, ctx)) == []


# --- children and dose changes ----------------------------------------------------------------


def test_a_child_on_an_adult_fixed_methotrexate_dose_is_an_overridable_hard_stop():
    # issue #15 changed this test: it was a CHILD_ADULT_DOSE warning for a fixed dose only; the
    # child's ceiling is now a hard stop whatever the basis (with "other" the 1 mg/kg maximum).
    other = toddler(diagnosis=Diagnosis.OTHER)  # cap 25 mg; paediatric maximum 1 mg/kg = 12.5 mg
    found = run(mtx(dose_mg=D(15)), other)
    assert set(found) == {"PAEDIATRIC_MAX_EXCEEDED"}
    assert found["PAEDIATRIC_MAX_EXCEEDED"].level is CheckLevel.HARD_STOP
    assert found["PAEDIATRIC_MAX_EXCEEDED"].overridable
    assert "12.5 mg" in found["PAEDIATRIC_MAX_EXCEEDED"].message
    assert "adult dose" in found["PAEDIATRIC_MAX_EXCEEDED"].message
    assert check_prescription(mtx(dose_mg=D("12.5")), other) == []
    # a weight-based basis is refused too (issue #15 item 1)
    weight_based = mtx(dose_mg=D(15), basis=DoseBasis.MG_PER_KG, amount=D("1.2"))
    assert "PAEDIATRIC_MAX_EXCEEDED" in stop_codes(weight_based, other)
    overridden = run(dataclasses.replace(weight_based, override_reason="MDT decision"), other)
    assert overridden["PAEDIATRIC_MAX_OVERRIDDEN"].level is CheckLevel.WARNING


def test_a_child_on_an_adult_mycophenolate_dose_is_a_hard_stop():
    # issue #15 changed this test: a warning before; now an overridable hard stop.
    found = run(mmf(dose_mg=D(1000)), toddler())  # 600 mg/m² × 0.553 m² = 331.8 mg
    assert set(found) == {"PAEDIATRIC_MAX_EXCEEDED"}
    assert "331.8 mg" in found["PAEDIATRIC_MAX_EXCEEDED"].message


@pytest.mark.parametrize(
    ("previous", "dose", "warned"),
    [
        (D(10), D(15), False),  # +50 % exactly
        (D(10), D("17.5"), True),
        (D(20), D(10), False),  # −50 % exactly
        (D(20), D("7.5"), True),
    ],
)
def test_a_dose_change_of_more_than_50_percent_is_a_warning(previous, dose, warned):
    found = run(mtx(dose_mg=dose), adult(previous_dose_mg=previous))
    assert ("DOSE_CHANGE_GT_50_PERCENT" in found) is warned


# --- bad input never escapes as an exception --------------------------------------------------


@pytest.mark.parametrize("dose", [D(0), D(-5), "abc", None, float("nan"), True, "", D("Infinity")])
def test_an_unusable_dose_is_a_hard_stop_naming_the_field(dose):
    found = run(mtx(dose_mg=dose))
    assert found["INVALID_DOSE"].level is CheckLevel.HARD_STOP
    assert found["INVALID_DOSE"].field == "dose_mg"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"drug": "aspirin"}, "INVALID_DRUG", "drug"),
        ({"drug": None}, "INVALID_DRUG", "drug"),
        ({"route": "intrathecal"}, "INVALID_ROUTE", "route"),
        ({"basis": "mg_per_lb"}, "INVALID_BASIS", "basis"),
        ({"amount": "x", "basis": "fixed"}, "INVALID_AMOUNT", "amount"),
        ({"tablet_strengths": ["2.5", "ten"]}, "INVALID_TABLET_STRENGTH", "tablet_strengths"),
    ],
)
def test_unknown_strings_are_hard_stops_naming_the_field(change, code, field):
    found = run(mtx(**change))
    assert found[code].level is CheckLevel.HARD_STOP
    assert found[code].field == field


def test_a_bad_context_is_a_hard_stop_not_an_exception():
    assert stop_codes(mtx(), adult(diagnosis="lupus")) == {"INVALID_PATIENT_CONTEXT"}
    assert stop_codes(mtx(), adult(birth_date=date(2030, 1, 1))) == {"INVALID_PATIENT_CONTEXT"}
    bad_renal = adult(renal=RenalFunction("n/a", date(2025, 5, 1)))
    assert stop_codes(mtx(), bad_renal) == {"INVALID_PATIENT_CONTEXT"}


anything = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(
        [m.value for e in (Drug, Frequency, Weekday, Route, Formulation, DoseBasis) for m in e]
    ),
    st.integers(min_value=-100, max_value=100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    drug=anything,
    dose=anything,
    frequency=anything,
    weekday=anything,
    route=anything,
    formulation=anything,
    basis=anything,
    amount=anything,
    strengths=st.one_of(st.none(), anything, st.lists(anything, max_size=3)),
    override=st.one_of(st.none(), st.text(max_size=5)),
    child=st.booleans(),
)
def test_check_prescription_never_raises_and_every_result_is_well_formed(
    drug, dose, frequency, weekday, route, formulation, basis, amount, strengths, override, child
):
    draft = PrescriptionDraft(
        drug=drug,
        dose_mg=dose,
        frequency=frequency,
        weekday=weekday,
        route=route,
        formulation=formulation,
        basis=basis,
        amount=amount,
        tablet_strengths=strengths,
        override_reason=override,
    )
    results = check_prescription(draft, toddler() if child else adult())
    for r in results:
        assert r.code in CHECK_CODES
        assert r.level in (CheckLevel.HARD_STOP, CheckLevel.WARNING)
        assert r.message.endswith(f"[{r.source.cite()}]")
    if _is(Drug, drug) is MTX and _is(Frequency, frequency) is not Frequency.ONCE_WEEKLY:
        assert any(r.code == "MTX_NOT_WEEKLY" for r in hard_stops(results))


def _is(enum, value):
    try:
        return enum(value.strip().lower()) if isinstance(value, str) else enum(value)
    except (ValueError, AttributeError):
        return None


@settings(max_examples=200, deadline=None)
@given(
    dose=st.decimals(min_value=D("0.25"), max_value=D(60), places=2),
    child=st.booleans(),
    diagnosis=st.sampled_from(list(Diagnosis)),
)
def test_no_methotrexate_dose_above_its_cap_passes_without_an_override(dose, child, diagnosis):
    ctx = toddler(diagnosis=diagnosis) if child else adult(diagnosis=diagnosis)
    draft = mtx(dose_mg=dose, formulation=Formulation.ORAL_SOLUTION_2_5MG_ML)
    codes = stop_codes(draft, ctx)
    if diagnosis is Diagnosis.JUVENILE_DERMATOMYOSITIS:
        cap = D(40)
    elif child and diagnosis in (
        Diagnosis.ATOPIC_DERMATITIS,
        Diagnosis.PSORIASIS,
        Diagnosis.OTHER_SKIN_DISEASE,
    ):
        cap = D("12.5")  # 1 mg/kg × 12.5 kg
    else:
        cap = D(25)
    assert ("DOSE_ABOVE_CAP" in codes) is (dose > cap)
