"""Dose calculation: hand-computed tables, caps, rounding rules and input errors."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.codes import (
    BSAFormula,
    CheckLevel,
    Diagnosis,
    DoseBasis,
    Drug,
    Formulation,
    Route,
    Weekday,
)
from clinical.dosing import DoseRequest, calculate_dose
from clinical.products import (
    CAP_RULES,
    LIMITED_PEN_STRENGTHS_MG,
    METOJECT_PEN_STRENGTHS_MG,
    PRODUCTS,
    ProductKind,
    applicable_cap,
    is_deliverable,
    paediatric_limit,
    round_to_deliverable,
)
from clinical.types import ClinicalInputError

D = Decimal
MTX, MMF = Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL
ON = date(2025, 6, 2)
TODDLER = date(2023, 1, 15)  # 2 y on ON
ADULT = date(1980, 4, 1)
TEEN = date(2010, 1, 1)  # 15 y
INFANT = date(2025, 5, 1)  # 1 month


def mtx(**kw) -> DoseRequest:
    base = {
        "drug": MTX,
        "basis": DoseBasis.MG_PER_M2,
        "amount": D(15),
        "weight_kg": D("12.5"),
        "height_cm": D(88),
        "birth_date": TODDLER,
        "on_date": ON,
        "indication": Diagnosis.ATOPIC_DERMATITIS,
        "weekday": Weekday.MONDAY,
    }
    base.update(kw)
    return DoseRequest(**base)


def mmf(**kw) -> DoseRequest:
    base = {
        "drug": MMF,
        "basis": DoseBasis.FIXED,
        "amount": D(1000),
        "weight_kg": D(70),
        "height_cm": D(170),
        "birth_date": ADULT,
        "on_date": ON,
        "indication": Diagnosis.DERMATOMYOSITIS,
    }
    base.update(kw)
    return DoseRequest(**base)


def codes(calc) -> set[str]:
    return {w.code for w in calc.warnings}


# --- hand-computed methotrexate table ---------------------------------------------------------


def test_toddler_atopic_dermatitis_15_mg_m2_on_tablets():
    calc = calculate_dose(mtx())
    assert calc.bsa is not None and calc.bsa.value_m2 == D("0.553")  # REF §5
    assert calc.raw_dose_mg == D("8.295")  # 15 × 0.553
    assert calc.cap_mg == D("12.5")  # 1 mg/kg × 12.5 kg < 25 mg (Siegfried 2023)
    assert calc.cap_rule == "MTX_CAP_PAEDIATRIC_SKIN"
    assert calc.capped_dose_mg == D("8.295")
    assert calc.final_dose_mg == D("7.5")  # nearest whole 2.5 mg tablets: 7.5 (0.795 away)
    assert calc.units == 3
    assert calc.unit_label == "tablet"
    assert calc.administration == "3 × 2.5 mg tablets (7.5 mg) once weekly on Mondays"
    assert "whole number of 2.5 mg tablets" in calc.rounding_rule
    assert "never above 12.5 mg" in calc.rounding_rule
    assert [s.name for s in calc.steps] == [
        "BSA",
        "Raw dose",
        "Cap",
        "Capped dose",
        "Rounding",
        "Final dose",
        "What to give",
    ]
    assert "15 mg/m² × 0.553 m² = 8.295 mg" in calc.steps[1].explanation
    assert calc.warnings == ()  # −9.6 % is within the 10 % rounding tolerance


@pytest.mark.parametrize(
    ("formulation", "final", "units", "text"),
    [
        (
            Formulation.ORAL_SOLUTION_2_5MG_ML,
            D("8.25"),  # 8.295 / 2.5 = 3.318 mL → 3.3 mL
            D("3.3"),
            "3.3 mL of 2.5 mg/mL oral solution (8.25 mg) once weekly on Mondays",
        ),
        (
            Formulation.ORAL_SOLUTION_2MG_ML,
            D("8.2"),  # 8.295 / 2 = 4.1475 mL → 4.1 mL
            D("4.1"),
            "4.1 mL of 2 mg/mL oral solution (8.2 mg) once weekly on Mondays",
        ),
    ],
)
def test_oral_solutions_round_to_tenths_of_a_ml(formulation, final, units, text):
    calc = calculate_dose(mtx(formulation=formulation))
    assert calc.final_dose_mg == final
    assert calc.units == units
    assert calc.unit_label == "mL"
    assert calc.administration == text


def test_solution_volume_is_written_with_one_decimal():
    calc = calculate_dose(
        mtx(basis=DoseBasis.FIXED, amount=D("7.5"), formulation=Formulation.ORAL_SOLUTION_2_5MG_ML)
    )
    assert calc.administration == (
        "3.0 mL of 2.5 mg/mL oral solution (7.5 mg) once weekly on Mondays"
    )


def test_adult_dermatomyositis_20_mg_m2_is_capped_at_25_mg():
    calc = calculate_dose(
        mtx(
            amount=D(20),
            weight_kg=D(70),
            height_cm=D(170),
            birth_date=ADULT,
            indication=Diagnosis.DERMATOMYOSITIS,
            weekday=Weekday.FRIDAY,
        )
    )
    assert calc.raw_dose_mg == D("36.360")  # 20 × 1.818
    assert calc.cap_mg == D(25)
    assert calc.cap_rule == "MTX_CAP_DEFAULT"
    assert calc.capped_dose_mg == D(25)
    assert calc.final_dose_mg == D(25)
    assert calc.administration == "10 × 2.5 mg tablets (25 mg) once weekly on Fridays"
    capped = [w for w in calc.warnings if w.code == "DOSE_CAPPED"]
    assert len(capped) == 1
    assert capped[0].level is CheckLevel.WARNING
    assert "AAD-NPF 2020" in capped[0].message


def test_juvenile_dermatomyositis_is_capped_at_40_not_25():
    req = mtx(
        amount=D(20),
        weight_kg=D(50),
        height_cm=D(160),
        birth_date=TEEN,
        indication=Diagnosis.JUVENILE_DERMATOMYOSITIS,
    )
    calc = calculate_dose(req)
    assert calc.bsa.value_m2 == D("1.491")  # √(160 × 50 / 3600) = 1.4907
    assert calc.raw_dose_mg == D("29.820")
    assert calc.cap_mg == D(40)
    assert calc.cap_rule == "MTX_CAP_JDM"
    assert calc.final_dose_mg == D(30)  # 30 is 0.18 away, 27.5 is 2.32 away
    skin = calculate_dose(dataclasses.replace(req, indication=Diagnosis.PSORIASIS))
    assert skin.cap_mg == D(25)
    assert skin.final_dose_mg == D(25)


def test_mg_per_kg_needs_no_height():
    calc = calculate_dose(
        mtx(basis=DoseBasis.MG_PER_KG, amount=D("0.5"), weight_kg=D(10), height_cm=None)
    )
    assert calc.bsa is None
    assert calc.raw_dose_mg == D("5.0")
    assert calc.final_dose_mg == D(5)
    assert calc.administration == "2 × 2.5 mg tablets (5 mg) once weekly on Mondays"
    assert calc.steps[0].name == "Raw dose"


def test_one_tablet_is_written_in_the_singular():
    calc = calculate_dose(mtx(basis=DoseBasis.FIXED, amount=D("2.5")))
    assert calc.administration == "1 × 2.5 mg tablet (2.5 mg) once weekly on Mondays"


@pytest.mark.parametrize(
    ("amount", "final", "warned"),
    [
        (D("8.75"), D("7.5"), True),  # exact tie between 7.5 and 10 → DOWN; −14.3 %
        (D("2.75"), D("2.5"), False),  # −9.1 %: within 10 %
        (D("2.8"), D("2.5"), True),  # −10.7 %
        (D("3.8"), D(5), True),  # +31.6 %: nearest is 5 (1.2 away) not 2.5 (1.3 away)
    ],
)
def test_tablet_rounding_nearest_ties_down_and_flags_changes_over_10_percent(amount, final, warned):
    # issue #15 changed this test: it used a toddler; a child's dose moved by more than 10 % is
    # now refused (see test_a_child_dose_is_never_rounded_by_more_than_10_percent), so the
    # rounding warning is tested on an adult.
    calc = calculate_dose(
        mtx(
            basis=DoseBasis.FIXED,
            amount=amount,
            indication=Diagnosis.RHEUMATOID_ARTHRITIS,
            weight_kg=D(70),
            height_cm=D(170),
            birth_date=ADULT,
        )
    )
    assert calc.final_dose_mg == final
    assert ("ROUNDING_CHANGED_DOSE" in codes(calc)) is warned


def test_an_infant_dose_below_half_a_tablet_is_refused_not_rounded_to_zero():
    req = mtx(
        basis=DoseBasis.FIXED, amount=D(1), weight_kg=D("3.5"), height_cm=D(50), birth_date=INFANT
    )
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(req)
    assert exc.value.field == "formulation"
    assert "oral solution" in exc.value.reason
    solution = calculate_dose(
        dataclasses.replace(req, formulation=Formulation.ORAL_SOLUTION_2_5MG_ML)
    )
    assert solution.final_dose_mg == D(1)
    assert solution.units == D("0.4")


def test_when_the_cap_is_below_one_tablet_the_tablet_is_refused():
    # 2 kg infant: cap 1 mg/kg = 2 mg; 15 mg/m² × 0.158 m² = 2.37 mg → capped at 2 mg; the
    # nearest tablet (2.5 mg) would exceed the cap, so tablets are refused.
    req = mtx(weight_kg=D(2), height_cm=D(45), birth_date=INFANT)
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(req)
    assert exc.value.field == "formulation"
    calc = calculate_dose(dataclasses.replace(req, formulation="oral_solution_2.5mg_ml"))
    assert calc.bsa.value_m2 == D("0.158")
    assert calc.cap_mg == D(2)
    assert calc.final_dose_mg == D("2.00")
    assert calc.units == D("0.8")
    assert "DOSE_CAPPED" in codes(calc)


def test_the_infant_ref_worked_value_is_refused_on_tablets_and_given_as_solution():
    # issue #15 changed this test: 2.5 mg tablets (−25.6 %) were accepted with a warning; a
    # child's dose moved by more than 10 % is now refused, naming the products that can give it.
    req = mtx(weight_kg=D("3.5"), height_cm=D(50), birth_date=INFANT, formula=BSAFormula.HAYCOCK)
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(req)
    assert exc.value.field == "formulation"
    assert "-25.6 %" in exc.value.reason and "oral_solution_2.5mg_ml" in exc.value.reason
    calc = calculate_dose(dataclasses.replace(req, formulation=Formulation.ORAL_SOLUTION_2MG_ML))
    assert calc.bsa.value_m2 == D("0.224")
    assert calc.raw_dose_mg == D("3.360")
    assert calc.final_dose_mg == D("3.4")


def test_dubois_in_an_infant_is_flagged():
    calc = calculate_dose(
        mtx(
            weight_kg=D("3.5"),
            height_cm=D(50),
            birth_date=INFANT,
            formula=BSAFormula.DUBOIS,
            formulation=Formulation.ORAL_SOLUTION_2MG_ML,
        )
    )
    assert calc.bsa.value_m2 == D("0.209")
    assert "BSA_DUBOIS_INFANT" in codes(calc)
    assert "BSA_DUBOIS_INFANT" not in codes(calculate_dose(mtx(formula=BSAFormula.DUBOIS)))


@pytest.mark.parametrize(
    ("pens", "final"),
    [
        (None, D("17.5")),  # 10 mg/m² × 1.818 = 18.18: Metoject 17.5 (0.68 away)
        (LIMITED_PEN_STRENGTHS_MG, D(20)),  # 7.5/10/15/20/25 only: 20 (1.82) beats 15 (3.18)
    ],
)
def test_pens_deliver_one_stocked_strength(pens, final):
    calc = calculate_dose(
        mtx(
            amount=D(10),
            weight_kg=D(70),
            height_cm=D(170),
            birth_date=ADULT,
            indication=Diagnosis.RHEUMATOID_ARTHRITIS,
            route=Route.SUBCUTANEOUS,
            pen_strengths_mg=pens,
        )
    )
    assert calc.product.formulation is Formulation.SC_PEN
    assert calc.final_dose_mg == final
    assert calc.units == final
    assert calc.unit_label == "mg pen"
    assert calc.administration == (
        f"one {final} mg pre-filled pen subcutaneously once weekly on Mondays"
    )


@pytest.mark.parametrize(
    ("weight", "birth", "formulation", "final"),
    [
        # 1 mg/kg × 24.9 kg = 24.9 mg: the nearest tablet dose 25 mg would cross it → 22.5 mg
        # (issue #15 changed this case: 12.4 kg → 10 mg is −19 %, now refused for a child)
        (D("24.9"), date(2017, 1, 1), Formulation.TABLET_2_5MG, D("22.5")),
        # 12.35 mg: nearest 0.1 mL of 2 mg/mL is 12.4 mg, above 12.35 → 12.2 mg
        (D("12.35"), TODDLER, Formulation.ORAL_SOLUTION_2MG_ML, D("12.2")),
    ],
)
def test_rounding_never_lifts_a_child_dose_past_1_mg_per_kg(weight, birth, formulation, final):
    # issue #15 changed this test: JIA now has its own 20 mg/m² ceiling, so the 1 mg/kg
    # paediatric maximum is tested with "other"; the rounding text says "paediatric ceiling".
    calc = calculate_dose(
        mtx(
            basis=DoseBasis.FIXED,
            amount=weight,  # exactly 1 mg/kg
            weight_kg=weight,
            height_cm=None,
            birth_date=birth,
            indication=Diagnosis.OTHER,  # cap 25 mg: only the paediatric maximum binds
            formulation=formulation,
        )
    )
    assert calc.cap_mg == D(25)
    assert calc.final_dose_mg == final
    assert "paediatric ceiling" in calc.rounding_rule
    assert "PAEDIATRIC_MAX_EXCEEDED" not in codes(calc)


def test_a_child_dose_asked_above_1_mg_per_kg_is_reduced_unless_overridden():
    # issue #15 changed this test: above the paediatric ceiling the dose was only flagged; it is
    # now reduced to the ceiling (like a cap) unless a clinician records an override reason.
    req = mtx(basis=DoseBasis.FIXED, amount=D(15), indication=Diagnosis.OTHER, weight_kg=D("12.5"))
    over = calculate_dose(req)
    assert over.final_dose_mg == D("12.5")  # under the 25 mg cap, reduced to 1 mg/kg
    assert "PAEDIATRIC_MAX_EXCEEDED" in codes(over)
    kept = calculate_dose(dataclasses.replace(req, override_reason="Refractory, MDT decision"))
    assert kept.final_dose_mg == D(15)
    assert "PAEDIATRIC_MAX_OVERRIDDEN" in codes(kept)


def test_no_weekday_is_a_warning_and_the_text_asks_for_one():
    calc = calculate_dose(mtx(weekday=None))
    assert "MTX_NO_WEEKDAY" in codes(calc)
    assert "ONE named day" in calc.administration


def test_strings_from_a_form_are_accepted():
    calc = calculate_dose(
        mtx(
            drug="methotrexate",
            basis="mg_per_m2",
            amount="15",
            weight_kg="12.5",
            height_cm="88",
            indication="atopic_dermatitis",
            weekday="monday",
            formulation="tablet_2.5mg",
            formula="mosteller",
        )
    )
    assert calc.final_dose_mg == D("7.5")


def test_a_fixed_adult_dose_needs_no_measurement():
    calc = calculate_dose(
        mtx(
            basis=DoseBasis.FIXED,
            amount=D(15),
            weight_kg=None,
            height_cm=None,
            birth_date=ADULT,
            indication=Diagnosis.PSORIASIS,
        )
    )
    assert calc.final_dose_mg == D(15)
    assert calc.warnings == ()
    assert (calc.bsa_m2, calc.bsa_formula) == (None, None)
    assert (calc.formulation, calc.route) == (Formulation.TABLET_2_5MG, Route.ORAL)


def test_a_fixed_child_dose_without_a_weight_says_what_was_not_checked():
    calc = calculate_dose(mtx(basis=DoseBasis.FIXED, amount=D(10), weight_kg=None))
    assert calc.cap_mg == D(25)  # the 1 mg/kg part could not be applied
    assert {"CAP_NOT_FULLY_CHECKED", "PAEDIATRIC_LIMIT_UNCHECKED"} <= codes(calc)
    assert all(w.level is CheckLevel.WARNING for w in calc.warnings)


def test_bsa_conveniences_for_serialisers():
    # issue #15 changed this test: on tablets 8.355 mg → 7.5 mg is −10.2 %, now refused for a
    # child; the 2.5 mg/mL solution gives it.
    calc = calculate_dose(
        mtx(formula=BSAFormula.HAYCOCK, formulation=Formulation.ORAL_SOLUTION_2_5MG_ML)
    )
    assert (calc.bsa_m2, calc.bsa_formula) == (D("0.557"), BSAFormula.HAYCOCK)


# --- mycophenolate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formulation", "text"),
    [
        (None, "4 × 250 mg capsules (1000 mg) twice daily"),
        (Formulation.TABLET_500MG, "2 × 500 mg tablets (1000 mg) twice daily"),
        (
            Formulation.SUSPENSION_200MG_ML,
            "5.0 mL of 200 mg/mL oral suspension (1000 mg) twice daily",
        ),
    ],
)
def test_adult_mycophenolate_fixed_dose(formulation, text):
    calc = calculate_dose(mmf(formulation=formulation))
    assert calc.final_dose_mg == D(1000)
    assert calc.cap_mg == D(1500)
    assert calc.cap_rule == "MMF_MAX_ADULT"
    assert calc.administration == text
    assert calc.frequency.value == "twice_daily"


def test_adult_mycophenolate_above_3_g_a_day_is_capped():
    calc = calculate_dose(mmf(amount=D(2000)))
    assert calc.final_dose_mg == D(1500)
    assert "DOSE_CAPPED" in codes(calc)


@pytest.mark.parametrize(
    ("egfr", "cap", "rule"),
    [
        (D("24.9"), D(1000), "MMF_MAX_RENAL"),
        (D(25), D(1500), "MMF_MAX_ADULT"),
        (None, D(1500), "MMF_MAX_ADULT"),
    ],
)
def test_mycophenolate_renal_cap_below_gfr_25(egfr, cap, rule):
    calc = calculate_dose(mmf(amount=D(1500), egfr=egfr))
    assert calc.cap_mg == cap
    assert calc.cap_rule == rule
    assert calc.final_dose_mg == cap


def test_child_mycophenolate_600_mg_m2_on_suspension():
    calc = calculate_dose(
        mmf(
            basis=DoseBasis.MG_PER_M2,
            amount=D(600),
            weight_kg=D("12.5"),
            height_cm=D(88),
            birth_date=TODDLER,
            indication=Diagnosis.ATOPIC_DERMATITIS,
            formulation=Formulation.SUSPENSION_200MG_ML,
        )
    )
    assert calc.raw_dose_mg == D("331.8")  # 600 × 0.553
    assert calc.cap_mg == D(1000)  # 2 g/day
    # issue #15 changed this test: 600 mg/m² is the label dose, so it is rounded to the NEAREST
    # giveable dose (1.7 mL = 340 mg, +2.5 %), not down (was 1.6 mL = 320 mg).
    assert calc.final_dose_mg == D(340)
    assert calc.units == D("1.7")
    assert calc.administration == "1.7 mL of 200 mg/mL oral suspension (340 mg) twice daily"
    assert calc.warnings == ()


def test_child_mycophenolate_on_capsules_is_refused_and_names_the_suspension():
    # issue #15 changed this test: 250 mg capsules (−24.7 %) were accepted with a warning; a
    # child's dose is never moved by more than 10 %: refused, naming the 200 mg/mL suspension.
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(
            mmf(
                basis=DoseBasis.MG_PER_M2,
                amount=D(600),
                weight_kg=D("12.5"),
                height_cm=D(88),
                birth_date=TODDLER,
            )
        )
    assert exc.value.field == "formulation"
    assert "suspension_200mg_ml: 1.7 mL = 340 mg" in exc.value.reason


def test_large_teenager_mycophenolate_is_capped_at_1_g_twice_daily():
    calc = calculate_dose(mmf(basis=DoseBasis.MG_PER_M2, amount=D(600), birth_date=TEEN))
    assert calc.raw_dose_mg == D("1090.800")  # 600 × 1.818
    assert calc.cap_rule == "MMF_MAX_CHILD"
    assert calc.final_dose_mg == D(1000)


def test_child_mycophenolate_without_height_warns_the_m2_limit_was_not_checked():
    calc = calculate_dose(
        mmf(amount=D(250), weight_kg=D("12.5"), height_cm=None, birth_date=TODDLER)
    )
    assert "PAEDIATRIC_LIMIT_UNCHECKED" in codes(calc)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"height_cm": None}, "height_cm"),
        ({"weight_kg": D(0)}, "weight_kg"),
        ({"weight_kg": None}, "weight_kg"),  # mg/m² needs it
        ({"weight_kg": None, "basis": DoseBasis.MG_PER_KG}, "weight_kg"),
        ({"weight_kg": D(80)}, "weight_kg"),  # a toddler of 80 kg
        ({"height_cm": D(40), "birth_date": ADULT, "weight_kg": D(70)}, "height_cm"),
        ({"amount": D(0)}, "amount"),
        ({"amount": D(-15)}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"formulation": Formulation.CAPSULE_250MG}, "formulation"),
        ({"formulation": "tablet_5mg"}, "formulation"),
        ({"formulation": Formulation.SC_PEN, "route": Route.ORAL}, "route"),
        ({"drug": Drug.FOLIC_ACID}, "drug"),
        ({"drug": "aspirin"}, "drug"),
        ({"basis": "mg_per_lb"}, "basis"),
        ({"weekday": "funday"}, "weekday"),
        ({"indication": "acne"}, "indication"),
        ({"formula": "fujimoto"}, "formula"),
        ({"birth_date": date(2025, 7, 1)}, "birth_date"),
        ({"birth_date": "2023-01-15"}, "birth_date"),
        ({"pen_strengths_mg": (D(15),)}, "pen_strengths_mg"),  # not a pen
    ],
)
def test_bad_input_names_the_field(change, field):
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(mtx(**change))
    assert exc.value.field == field


def test_mycophenolate_has_no_subcutaneous_product():
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(mmf(route=Route.SUBCUTANEOUS))
    assert exc.value.field == "route"


def test_an_unlisted_pen_strength_is_refused():
    with pytest.raises(ClinicalInputError) as exc:
        calculate_dose(mtx(route="subcutaneous", pen_strengths_mg=(D(12),)))
    assert exc.value.field == "pen_strengths_mg"


# --- products and caps as data ----------------------------------------------------------------


def test_every_formulation_has_a_product_with_a_source():
    assert set(PRODUCTS) == set(Formulation)
    for code, product in PRODUCTS.items():
        assert product.formulation is code
        assert product.strength_mg > 0
        assert product.source.cite()
    assert PRODUCTS[Formulation.ORAL_SOLUTION_2MG_ML].strength_mg == D(2)
    assert PRODUCTS[Formulation.SUSPENSION_200MG_ML].drug is MMF
    assert PRODUCTS[Formulation.FOLIC_ACID_TABLET_5MG].drug is Drug.FOLIC_ACID


def test_metoject_pens_are_7_5_to_30_in_2_5_steps():
    assert [str(s) for s in METOJECT_PEN_STRENGTHS_MG] == [
        "7.5", "10.0", "12.5", "15.0", "17.5", "20.0", "22.5", "25.0", "27.5", "30.0"
    ]  # fmt: skip
    assert set(LIMITED_PEN_STRENGTHS_MG) <= set(METOJECT_PEN_STRENGTHS_MG)


def test_every_cap_rule_has_a_source_and_a_limit():
    assert len({r.code for r in CAP_RULES}) == len(CAP_RULES)
    for rule in CAP_RULES:
        assert rule.source.cite()
        assert any(v is not None for v in (rule.max_mg, rule.max_mg_per_kg, rule.max_mg_per_m2))


@pytest.mark.parametrize(
    ("diagnosis", "age", "weight", "cap", "rule"),
    [
        (Diagnosis.ATOPIC_DERMATITIS, 2, D(10), D(10), "MTX_CAP_PAEDIATRIC_SKIN"),
        (Diagnosis.PSORIASIS, 17, D(40), D(25), "MTX_CAP_PAEDIATRIC_SKIN"),
        (Diagnosis.OTHER_SKIN_DISEASE, 10, D(24), D(24), "MTX_CAP_PAEDIATRIC_SKIN"),
        (Diagnosis.ATOPIC_DERMATITIS, 18, D(10), D(25), "MTX_CAP_DEFAULT"),  # adult: no per-kg
        (Diagnosis.JIA, 5, D(10), D(25), "MTX_CAP_DEFAULT"),
        (Diagnosis.JUVENILE_DERMATOMYOSITIS, 9, D(20), D(40), "MTX_CAP_JDM"),
        (Diagnosis.DERMATOMYOSITIS, 50, D(70), D(25), "MTX_CAP_DEFAULT"),
    ],
)
def test_methotrexate_cap_table(diagnosis, age, weight, cap, rule):
    applied = applicable_cap(MTX, diagnosis=diagnosis, age_years=age, weight_kg=weight)
    assert applied is not None
    assert applied.cap_mg == cap
    assert applied.rule.code == rule


def test_a_per_kg_cap_without_a_weight_is_reported_unchecked():
    applied = applicable_cap(MTX, diagnosis=Diagnosis.ATOPIC_DERMATITIS, age_years=3)
    assert applied.cap_mg == D(25)
    assert applied.unchecked == ("1 mg/kg (no weight)",)


def test_folic_acid_has_no_cap_and_children_have_paediatric_limits():
    assert applicable_cap(Drug.FOLIC_ACID, diagnosis=Diagnosis.OTHER, age_years=40) is None
    assert paediatric_limit(MTX, weight_kg=D(12), bsa_m2=None).limit_mg == D(12)
    # issue #15: every indication has a child ceiling (JDM and JIA per m²)
    jdm = paediatric_limit(
        MTX, weight_kg=D(12), bsa_m2=D("0.5"), diagnosis=Diagnosis.JUVENILE_DERMATOMYOSITIS
    )
    assert (jdm.limit_mg, jdm.rule.code) == (D(10), "MTX_PAED_JDM")
    assert paediatric_limit(MTX, weight_kg=D(12), bsa_m2=None, diagnosis=Diagnosis.JIA) is None
    assert paediatric_limit(MMF, weight_kg=D(12), bsa_m2=D("0.5")).limit_mg == D(300)
    assert paediatric_limit(MMF, weight_kg=D(12), bsa_m2=None) is None


# --- properties -------------------------------------------------------------------------------

dec = st.decimals(min_value=D("0.01"), max_value=D(2000), places=2)


@settings(max_examples=300, deadline=None)
@given(
    formulation=st.sampled_from(list(Formulation)),
    target=dec,
    ceiling=st.one_of(st.none(), dec),
    limited=st.booleans(),
)
def test_rounding_is_optimal_deliverable_and_never_above_the_ceiling(
    formulation, target, ceiling, limited
):
    product = PRODUCTS[formulation]
    pens = LIMITED_PEN_STRENGTHS_MG if limited and product.kind is ProductKind.PEN else None
    result = round_to_deliverable(product, target, ceiling, pen_strengths_mg=pens)
    if result is None:
        return
    assert result.dose_mg > 0
    assert ceiling is None or result.dose_mg <= ceiling
    assert is_deliverable(product, result.dose_mg, pen_strengths_mg=pens)
    # optimality: no deliverable dose within the ceiling is strictly nearer, and on a tie the
    # lower one was taken
    step = product.strength_mg / 10 if product.is_liquid else product.strength_mg
    candidates = (
        list(pens or product.pen_strengths_mg)
        if product.kind is ProductKind.PEN
        else [result.dose_mg - step, result.dose_mg + step]
    )
    for other in candidates:
        if other <= 0 or (ceiling is not None and other > ceiling):
            continue
        gap, best_gap = abs(other - target), abs(result.dose_mg - target)
        assert (
            gap > best_gap
            or (gap == best_gap and other > result.dose_mg)
            or other == (result.dose_mg)
        )


@st.composite
def requests(draw) -> DoseRequest:
    drug = draw(st.sampled_from([MTX, MMF]))
    adult = draw(st.booleans())
    if adult:
        birth = ADULT
        weight = draw(st.decimals(min_value=D(40), max_value=D(180), places=1))
        height = draw(st.decimals(min_value=D(140), max_value=D(210), places=0))
    else:
        birth = draw(st.sampled_from([INFANT, TODDLER, date(2019, 9, 1), TEEN]))
        band = {INFANT: (2, 9, 45, 75), TODDLER: (8, 20, 75, 100)}.get(birth, (15, 70, 100, 180))
        weight = draw(st.decimals(min_value=D(band[0]), max_value=D(band[1]), places=1))
        height = draw(st.decimals(min_value=D(band[2]), max_value=D(band[3]), places=0))
    basis = draw(st.sampled_from(list(DoseBasis)))
    if drug is MTX:
        amount = {
            DoseBasis.MG_PER_M2: st.decimals(min_value=D(5), max_value=D(40), places=1),
            DoseBasis.MG_PER_KG: st.decimals(min_value=D("0.1"), max_value=D(2), places=2),
            DoseBasis.FIXED: st.decimals(min_value=D("2.5"), max_value=D(60), places=2),
        }[basis]
        forms = [f for f, p in PRODUCTS.items() if p.drug is MTX]
    else:
        amount = {
            DoseBasis.MG_PER_M2: st.decimals(min_value=D(100), max_value=D(1200), places=0),
            DoseBasis.MG_PER_KG: st.decimals(min_value=D(5), max_value=D(40), places=1),
            DoseBasis.FIXED: st.decimals(min_value=D(100), max_value=D(3000), places=0),
        }[basis]
        forms = [f for f, p in PRODUCTS.items() if p.drug is MMF]
    return DoseRequest(
        drug=drug,
        basis=basis,
        amount=draw(amount),
        weight_kg=weight,
        height_cm=height,
        formula=draw(st.sampled_from(list(BSAFormula))),
        birth_date=birth,
        on_date=ON,
        indication=draw(st.sampled_from(list(Diagnosis))),
        formulation=draw(st.sampled_from(forms)),
        weekday=Weekday.WEDNESDAY,
        egfr=draw(st.one_of(st.none(), st.decimals(min_value=D(5), max_value=D(120), places=0))),
        pen_strengths_mg=draw(st.sampled_from([None, LIMITED_PEN_STRENGTHS_MG])),
    )


@settings(max_examples=300, deadline=None)
@given(req=requests())
def test_no_calculation_ever_exceeds_its_cap(req):
    if req.pen_strengths_mg is not None and req.formulation is not Formulation.SC_PEN:
        req = dataclasses.replace(req, pen_strengths_mg=None)
    try:
        calc = calculate_dose(req)
    except ClinicalInputError as exc:
        # the only refusals for these plausible inputs: nothing deliverable (within 10 % for a
        # child), or methotrexate below eGFR 30 (issue #15 changed this test: added egfr)
        assert exc.field == "formulation" or (
            exc.field == "egfr" and req.drug is MTX and req.egfr < 30
        )
        return
    assert calc.cap_mg is not None
    assert 0 < calc.final_dose_mg <= calc.cap_mg
    if "PAEDIATRIC_MAX_EXCEEDED" in codes(calc):  # issue #15: reduced to the child ceiling
        assert calc.capped_dose_mg < min(calc.raw_dose_mg, calc.cap_mg)
    else:
        assert calc.capped_dose_mg == min(calc.raw_dose_mg, calc.cap_mg)
    assert is_deliverable(calc.product, calc.final_dose_mg, pen_strengths_mg=req.pen_strengths_mg)
    if calc.drug is MTX:
        assert calc.final_dose_mg <= 40  # the highest methotrexate cap of all (JDM)
    else:
        assert calc.final_dose_mg <= 1500  # 3 g/day
        if calc.age_years < 18 or (req.egfr is not None and req.egfr < 25):
            assert calc.final_dose_mg <= 1000  # 2 g/day child; 1 g twice daily renal
    change = abs(calc.final_dose_mg - calc.capped_dose_mg) / calc.capped_dose_mg
    if calc.age_years < 18:
        # issue #15 changed this test: per-indication ceilings, reduced to unless overridden,
        # and a child's dose never moved by more than 10 % by rounding.
        limit = paediatric_limit(
            calc.drug,
            weight_kg=req.weight_kg,
            bsa_m2=calc.bsa.value_m2 if calc.bsa else None,
            diagnosis=calc.request.indication,
        )
        if limit is not None:
            assert calc.final_dose_mg <= limit.accepted_mg
        assert change <= D("0.1")
    assert ("ROUNDING_CHANGED_DOSE" in codes(calc)) is (change > D("0.1"))
