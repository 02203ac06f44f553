"""Django choices built from the clinical core's codes (clinical/codes.py): one vocabulary."""

from __future__ import annotations

from enum import StrEnum

from clinical import codes


def choices(enum: type[StrEnum], labels: dict[str, str] | None = None) -> list[tuple[str, str]]:
    labels = labels or {}
    return [(m.value, labels.get(m.value, m.value.replace("_", " ").capitalize())) for m in enum]


SEX = choices(codes.Sex)
DIAGNOSIS = choices(codes.Diagnosis, {"jia": "Juvenile idiopathic arthritis (JIA)"})
RISK_FACTOR = choices(
    codes.RiskFactor,
    {"hepatitis": "Hepatitis B/C", "hepatotoxic_comedication": "Hepatotoxic co-medication"},
)
DRUG = choices(codes.Drug)
FREQUENCY = choices(codes.Frequency)
WEEKDAY = choices(codes.Weekday)
ROUTE = choices(codes.Route)
FORMULATION = choices(
    codes.Formulation,
    {
        "tablet_2.5mg": "Methotrexate 2.5 mg tablet",
        "tablet_10mg": "Methotrexate 10 mg tablet",
        "oral_solution_2mg_ml": "Methotrexate oral solution 2 mg/mL",
        "oral_solution_2.5mg_ml": "Methotrexate oral solution 2.5 mg/mL",
        "sc_pen": "Methotrexate subcutaneous pen/syringe",
        "capsule_250mg": "Mycophenolate mofetil 250 mg capsule",
        "tablet_500mg": "Mycophenolate mofetil 500 mg tablet",
        "suspension_200mg_ml": "Mycophenolate mofetil suspension 200 mg/mL",
        "folic_acid_tablet_1mg": "Folic acid 1 mg tablet",
        "folic_acid_tablet_5mg": "Folic acid 5 mg tablet",
    },
)
PRESCRIPTION_STATUS = choices(codes.PrescriptionStatus)
BSA_FORMULA = choices(
    codes.BSAFormula,
    {"dubois": "DuBois & DuBois", "gehan_george": "Gehan & George"},
)
DOSE_BASIS = choices(
    codes.DoseBasis,
    {
        # issue #15: corticosteroids are dosed per day
        "mg_per_m2": "mg/m²/week (per dose for MMF, per day for corticosteroids)",
        "mg_per_kg": "mg/kg/week (per day for corticosteroids)",
        "fixed": "Fixed",
    },
)
ANALYTE = choices(
    codes.Analyte,
    {
        "alt": "ALT",
        "ast": "AST",
        "egfr": "eGFR",
        "wbc": "WBC",
        "mcv": "MCV",
    },
)
TREATMENT_END_REASON = choices(codes.TreatmentEndReason)
