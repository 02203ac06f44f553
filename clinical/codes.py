"""Stable codes shared by the clinical core, the database and the REST API.

The string values are a public contract (API v1, stored rows): add codes, never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Diagnosis(StrEnum):
    ATOPIC_DERMATITIS = "atopic_dermatitis"
    PSORIASIS = "psoriasis"
    DERMATOMYOSITIS = "dermatomyositis"
    AMYOPATHIC_DERMATOMYOSITIS = "amyopathic_dermatomyositis"
    JUVENILE_DERMATOMYOSITIS = "juvenile_dermatomyositis"
    JIA = "jia"
    RHEUMATOID_ARTHRITIS = "rheumatoid_arthritis"
    OTHER = "other"
    # Skin disease other than atopic dermatitis/psoriasis (e.g. morphea): the paediatric
    # skin-disease methotrexate cap applies to it (REF §4, Siegfried 2023).
    OTHER_SKIN_DISEASE = "other_skin_disease"


class RiskFactor(StrEnum):
    """Risk factors that change monitoring (REF §1 last bullet, §2 'Children', issue #4)."""

    DIABETES = "diabetes"
    OBESITY = "obesity"
    ALCOHOL_EXCESS = "alcohol_excess"
    RENAL_IMPAIRMENT = "renal_impairment"
    LIVER_DISEASE = "liver_disease"
    HEPATITIS = "hepatitis"
    HEPATOTOXIC_COMEDICATION = "hepatotoxic_comedication"


class Drug(StrEnum):
    METHOTREXATE = "methotrexate"
    MYCOPHENOLATE_MOFETIL = "mycophenolate_mofetil"
    FOLIC_ACID = "folic_acid"
    # Corticosteroids as companion drugs (REF §1: prednisone 0.5–1 mg/kg/day plus methotrexate;
    # mycophenolate never stopped while on corticosteroids). Dosed per DAY. Issue #15.
    PREDNISOLONE = "prednisolone"
    PREDNISONE = "prednisone"


# Corticosteroid companion drugs (issue #15, REF §1).
CORTICOSTEROIDS: frozenset[Drug] = frozenset({Drug.PREDNISOLONE, Drug.PREDNISONE})


class Frequency(StrEnum):
    """How often a dose is taken.

    Methotrexate accepts only ``once_weekly`` (REF §4 daily-dosing errors); the other codes exist
    so that such an entry can be *named and refused* rather than silently coerced.
    """

    ONCE_WEEKLY = "once_weekly"
    ONCE_DAILY = "once_daily"
    TWICE_DAILY = "twice_daily"
    TWICE_WEEKLY = "twice_weekly"
    AS_DIRECTED = "as_directed"


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def iso(self) -> int:
        """ISO weekday number, Monday = 1 (as ``date.isoweekday()``)."""
        return list(Weekday).index(self) + 1


class Route(StrEnum):
    ORAL = "oral"
    SUBCUTANEOUS = "subcutaneous"


class Formulation(StrEnum):
    TABLET_2_5MG = "tablet_2.5mg"
    TABLET_10MG = "tablet_10mg"
    ORAL_SOLUTION_2MG_ML = "oral_solution_2mg_ml"
    ORAL_SOLUTION_2_5MG_ML = "oral_solution_2.5mg_ml"
    SC_PEN = "sc_pen"
    CAPSULE_250MG = "capsule_250mg"
    TABLET_500MG = "tablet_500mg"
    SUSPENSION_200MG_ML = "suspension_200mg_ml"
    FOLIC_ACID_TABLET_1MG = "folic_acid_tablet_1mg"
    FOLIC_ACID_TABLET_5MG = "folic_acid_tablet_5mg"
    PREDNISOLONE_TABLET_1MG = "prednisolone_tablet_1mg"
    PREDNISOLONE_TABLET_5MG = "prednisolone_tablet_5mg"
    PREDNISOLONE_SOLUTION_1MG_ML = "prednisolone_solution_1mg_ml"
    PREDNISONE_TABLET_1MG = "prednisone_tablet_1mg"
    PREDNISONE_TABLET_5MG = "prednisone_tablet_5mg"


class PrescriptionStatus(StrEnum):
    ACTIVE = "active"
    HELD = "held"
    STOPPED = "stopped"


class BSAFormula(StrEnum):
    MOSTELLER = "mosteller"
    DUBOIS = "dubois"
    HAYCOCK = "haycock"
    GEHAN_GEORGE = "gehan_george"
    BOYD = "boyd"


class DoseBasis(StrEnum):
    MG_PER_M2 = "mg_per_m2"
    MG_PER_KG = "mg_per_kg"
    FIXED = "fixed"


class Analyte(StrEnum):
    ALT = "alt"
    AST = "ast"
    ALBUMIN = "albumin"
    CREATININE = "creatinine"
    EGFR = "egfr"
    WBC = "wbc"
    NEUTROPHILS = "neutrophils"
    LYMPHOCYTES = "lymphocytes"
    EOSINOPHILS = "eosinophils"
    PLATELETS = "platelets"
    HAEMOGLOBIN = "haemoglobin"
    MCV = "mcv"


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class CheckLevel(StrEnum):
    """Outcome of a prescription check: a hard stop refuses the save; a warning is shown."""

    HARD_STOP = "hard_stop"
    WARNING = "warning"


class EventKind(StrEnum):
    BASELINE = "baseline"
    ROUTINE = "routine"
    CONFIRMATORY = "confirmatory"
    RESPONSE_REVIEW = "response_review"


class TreatmentEndReason(StrEnum):
    """Why a treatment ended (REF §7)."""

    LACK_OF_EFFICACY = "lack_of_efficacy"
    ADVERSE_EVENT = "adverse_event"
    PATIENT_OR_PARENT_CONCERN = "patient_or_parent_concern"
    REMISSION = "remission"
    OTHER = "other"
