"""Monitoring protocols as versioned data, each value with its source (public API).

Guidelines disagree (REF §2), so every interval, test list and lab threshold lives here as data
on a ``Protocol``, chosen per clinic or per prescription, never as a constant in the planner or
the rules. A clinic's local protocol is a copy with different data (``protocol_with_thresholds``;
``LOCAL_STRICT`` is the worked example).

Public API (stable):

- ``Protocol`` and its parts ``Phase``, ``BaselineItem``, ``ResponseReview``, ``Thresholds``,
  ``Limit``, ``DefaultUln``; enums ``NonLabTest``, ``PrescriptionChange``, ``PhaseEnd``,
  ``AfterIncrease``.
- ``PROTOCOLS: dict[str, Protocol]`` keyed by ``Protocol.code``: ``"eular_3e_2009"``,
  ``"bsr_2017"``, ``"mmf_label"``, ``"local_strict_example"``.
- ``get_protocol(code) -> Protocol``; ``default_protocol_for(drug) -> Protocol``.
- ``protocol_with_thresholds(base, *, code, name, source, **overrides) -> Protocol``.
- ``default_uln(thresholds, analyte, sex, age_years) -> DefaultUln``.
- ``DEFAULT_THRESHOLDS``, test-code groups ``BLOOD_COUNT``, ``LIVER_TESTS``, ``RENAL_TESTS``,
  ``ALL_TEST_CODES``.

Test codes. A *test code* is a plain ``str``: an ``Analyte`` value (``"alt"``, ``"wbc"``, ...)
or a ``NonLabTest`` value (``"chest_xray"``, ``"hepatitis_b"``, ``"hepatitis_c"``, ``"hiv"``,
``"pregnancy_test"``). Nothing else is a test code.

Days, weeks and months. Intervals are whole days. **1 month = 28 days (4 weeks)** throughout:
draws stay on the weekday of the weekly methotrexate dose and of weekly blood clinics, and 28
days is never longer than a calendar month, so the mapping errs on the side of testing earlier.
So EULAR/3E "every 1–1.5 months" = 28–42 days, "every 1–3 months" = 28–84 days; BSR "monthly" =
28 days, "every 12 weeks" = 84 days. Exception: MMF label "to the end of year 1" ends 365 days
after the start.

Where a draw falls (used by the planner). Each ``Phase`` has ``min_days`` ≤ ``default_days`` ≤
``max_days`` (the guideline's range) and ``tolerance_days``:

- no shortening risk factor: target = anchor + ``default_days`` (the *midpoint* of a guideline
  range: EULAR/3E initiation 35 days, maintenance 56 days); the window is the guideline's own
  range, earliest = anchor + ``min_days``, latest = anchor + ``max_days``. Where the guideline gives
  one interval (BSR, MMF label; min = default = max) the window is target ± ``tolerance_days``.
- any shortening risk factor (``Protocol.shortening_risk_factors``, age under
  ``shorten_below_age`` or over ``shorten_above_age`` years, an abnormal result within
  ``abnormal_lookback_days``): target = anchor + ``min_days`` (the short end), window
  target ± ``tolerance_days``. Single-interval phases are not shortened further.

Stable dose. A dose is stable once unchanged for ``stable_after_days`` (42 = BSR "stable for 6
weeks"; day 42 itself counts) or from the day a clinician marks it stable. The early phase
restarts on the changes in ``early_phase_restarts_on`` (EULAR/3E rec 4: "when starting
methotrexate or increasing the dose"; restart after a hold and route change are added as project
choices because both can raise exposure).

Sources (REF = shared/CLINICAL_REFERENCE.md): REF §1 (reference guideline restating EULAR/3E
2009, Visser et al., Ann Rheum Dis 2009;68:1086, recs 1, 4, 5), REF §2 (BSR/BHPR 2017, Ledingham
et al., Rheumatology 2017;56:865; CellCept USPI §5.4), REF §3 (BSR action thresholds, EULAR/3E
3× ULN, mycophenolate neutrophils < 1.3, SAFETY study ALT limits in children), REF §7 (reviews at
12 and 24 weeks). Project choices are labelled as such in their ``Source`` and ``note``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TypeAlias

from clinical.codes import Analyte, Drug, RiskFactor, Sex
from clinical.types import ClinicalInputError, Source

__all__ = [
    "ALL_TEST_CODES",
    "BLOOD_COUNT",
    "DEFAULT_THRESHOLDS",
    "DRUG_NOTES",
    "LIVER_TESTS",
    "LOCAL_STRICT",
    "PROTOCOLS",
    "RENAL_TESTS",
    "TEST_LABELS",
    "AfterIncrease",
    "BaselineCondition",
    "BaselineItem",
    "DefaultUln",
    "Limit",
    "NonLabTest",
    "Phase",
    "PhaseEnd",
    "PrescriptionChange",
    "Protocol",
    "ResponseReview",
    "Thresholds",
    "default_protocol_for",
    "default_uln",
    "get_protocol",
    "protocol_with_thresholds",
]


class NonLabTest(StrEnum):
    """Baseline investigations that are not an ``Analyte`` (EULAR/3E rec 1, REF §1)."""

    CHEST_XRAY = "chest_xray"
    HEPATITIS_B = "hepatitis_b"
    HEPATITIS_C = "hepatitis_c"
    HIV = "hiv"
    PREGNANCY_TEST = "pregnancy_test"


TestCode: TypeAlias = str  # an Analyte value or a NonLabTest value

ALL_TEST_CODES: frozenset[str] = frozenset(
    {a.value for a in Analyte} | {t.value for t in NonLabTest}
)

BLOOD_COUNT: tuple[str, ...] = (
    Analyte.WBC,
    Analyte.NEUTROPHILS,
    Analyte.LYMPHOCYTES,
    Analyte.EOSINOPHILS,
    Analyte.PLATELETS,
    Analyte.HAEMOGLOBIN,
    Analyte.MCV,
)
LIVER_TESTS: tuple[str, ...] = (Analyte.ALT, Analyte.AST, Analyte.ALBUMIN)
RENAL_TESTS: tuple[str, ...] = (Analyte.CREATININE, Analyte.EGFR)

TEST_LABELS: dict[str, str] = {
    Analyte.ALT: "ALT",
    Analyte.AST: "AST",
    Analyte.ALBUMIN: "albumin",
    Analyte.CREATININE: "creatinine",
    Analyte.EGFR: "eGFR",
    Analyte.WBC: "WBC",
    Analyte.NEUTROPHILS: "neutrophils",
    Analyte.LYMPHOCYTES: "lymphocytes",
    Analyte.EOSINOPHILS: "eosinophils",
    Analyte.PLATELETS: "platelets",
    Analyte.HAEMOGLOBIN: "haemoglobin",
    Analyte.MCV: "MCV",
    NonLabTest.CHEST_XRAY: "chest X-ray",
    NonLabTest.HEPATITIS_B: "hepatitis B serology",
    NonLabTest.HEPATITIS_C: "hepatitis C serology",
    NonLabTest.HIV: "HIV serology",
    NonLabTest.PREGNANCY_TEST: "pregnancy test",
}


class PrescriptionChange(StrEnum):
    """What changed when a prescription snapshot took effect (stored by the Django layer)."""

    START = "start"
    DOSE_INCREASE = "dose_increase"
    DOSE_DECREASE = "dose_decrease"
    HOLD = "hold"
    RESTART = "restart"
    STOP = "stop"
    ROUTE_CHANGE = "route_change"
    OTHER = "other"


class PhaseEnd(StrEnum):
    DOSE_STABLE = "dose_stable"  # ends the day the dose becomes stable
    AFTER_DAYS = "after_days"  # ends duration_days after the phase began
    NEVER = "never"  # the last phase


class AfterIncrease(StrEnum):
    """What follows the early phase after a dose increase (REF §2, last column)."""

    RESTART = "restart"  # the whole schedule from its first phase again
    RESUME = "resume"  # early phase, then back to the phase in force before the increase (BSR)


class BaselineCondition(StrEnum):
    FEMALE_12_55 = "female_12_55"  # female (or sex not recorded) aged 12–55 at the start


# --- sources ---------------------------------------------------------------------------------

_EULAR = "EULAR/3E 2009 (Visser et al., Ann Rheum Dis 2009;68:1086)"
_BSR = "BSR/BHPR 2017 (Ledingham et al., Rheumatology 2017;56:865)"
_MMF_LABEL = "CellCept (mycophenolate mofetil) US prescribing information"
_REFERENCE = "Reference guideline (2025 clinical summary restating EULAR/3E 2009, REF §1)"
_PROJECT = "mtxmonitor project choice, not from a guideline"
_CONFIGURED = "mtxmonitor configured default, not from a guideline"

SRC_EULAR_BASELINE = Source(_EULAR, 2009, "rec 1")
SRC_EULAR_MONITORING = Source(_EULAR, 2009, "rec 4")
SRC_EULAR_LIVER = Source(_EULAR, 2009, "rec 5")
SRC_BSR_MONITORING = Source(_BSR, 2017, "monitoring schedule (REF §2)")
SRC_BSR_THRESHOLDS = Source(_BSR, 2017, "action thresholds as restated by NHS SPS (REF §3)")
SRC_BSR_LYMPHOCYTES = Source(_BSR, 2017, "lymphocytes < 0.5 (REF §3)", verified=False)
SRC_MMF_LABEL = Source(_MMF_LABEL, 2025, "§5.4 (REF §2, §3)")
SRC_SAFETY = Source(
    "SAFETY study (Schwimmer et al., Gastroenterology 2010)",
    2010,
    "95th-percentile ALT in children (REF §3)",
)
SRC_REVIEWS = Source(_REFERENCE, 2025, "response reviews at 12 and 24 weeks (REF §1, §7)")
SRC_PROJECT_RISK = Source(_PROJECT, 2026, "risk factors that shorten intervals (REF §1, §2)")
SRC_PROJECT_MMF_BASELINE = Source(_PROJECT, 2026, "mycophenolate baseline tests (issue #4)")
SRC_PROJECT_MMF_AFTER_YEAR_1 = Source(_PROJECT, 2026, "mycophenolate after year 1 (REF §2)")
SRC_CONFIGURED_ULN = Source(_CONFIGURED, 2026, "default upper limits of normal (REF §3)")
SRC_PROJECT_CONFIRM = Source(_PROJECT, 2026, "confirmation window for repeat results (REF §3)")
SRC_LOCAL_EXAMPLE = Source(
    "Local protocol example (REF §3: local protocols differ)", 2026, "local thresholds"
)


# --- schedule data ---------------------------------------------------------------------------


def _span(days: int) -> str:
    if days == 7:
        return "week"
    return f"{days // 7} weeks" if days % 7 == 0 else f"{days} days"


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of a routine schedule: its interval range and how it ends."""

    name: str
    min_days: int
    default_days: int
    max_days: int
    tolerance_days: int
    ends: PhaseEnd
    description: str  # the guideline's words, e.g. "every 1–1.5 months until the dose is stable"
    duration_days: int | None = None  # for PhaseEnd.AFTER_DAYS
    note: str | None = None  # shown in explanations, e.g. "project choice, the label gives none"
    source: Source | None = None  # overrides Protocol.source for this phase

    def __post_init__(self) -> None:
        if not 0 < self.min_days <= self.default_days <= self.max_days:
            raise ClinicalInputError("phases", f"{self.name}: need 0 < min ≤ default ≤ max days")
        if not 0 <= self.tolerance_days < self.min_days:
            raise ClinicalInputError("phases", f"{self.name}: tolerance must be 0 ≤ t < min_days")
        if (self.ends is PhaseEnd.AFTER_DAYS) != (self.duration_days is not None):
            raise ClinicalInputError("phases", f"{self.name}: duration_days iff ends after_days")
        if self.duration_days is not None and self.duration_days <= 0:
            raise ClinicalInputError("phases", f"{self.name}: duration_days must be positive")

    @property
    def is_range(self) -> bool:
        return self.min_days < self.max_days

    def range_text(self) -> str:
        """``'every 4–6 weeks'`` or ``'every 2 weeks'``."""
        if not self.is_range:
            return f"every {_span(self.min_days)}"
        if self.min_days % 7 == 0 and self.max_days % 7 == 0:
            return f"every {self.min_days // 7}–{self.max_days // 7} weeks"
        return f"every {self.min_days}–{self.max_days} days"


@dataclass(frozen=True, slots=True)
class BaselineItem:
    """A baseline test, how long before the start a result still counts, and when it applies."""

    test: str
    window_days: int
    group: str  # events are grouped by this ("labs", "serology", "chest_xray", "pregnancy")
    condition: BaselineCondition | None = None
    note: str | None = None
    source: Source | None = None  # where the item comes from; None: the protocol's source

    def __post_init__(self) -> None:
        if self.test not in ALL_TEST_CODES:
            raise ClinicalInputError("baseline_tests", f"unknown test code {self.test!r}")
        if self.window_days <= 0:
            raise ClinicalInputError("baseline_tests", "window_days must be positive")


@dataclass(frozen=True, slots=True)
class ResponseReview:
    weeks: int
    tolerance_days: int = 7
    note: str | None = None


# --- thresholds ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """A lab threshold with where it comes from."""

    value: Decimal
    source: Source
    note: str | None = None

    def cite(self) -> str:
        return self.source.cite()


@dataclass(frozen=True, slots=True)
class DefaultUln:
    """An upper limit of normal used when the laboratory sent none (REF §3 'Which ULN?')."""

    analyte: Analyte
    value: Decimal
    source: Source
    label: str  # what the alert says about it
    sex: Sex | None = None  # None: any sex
    min_age_years: int = 0
    max_age_years: int | None = None  # exclusive

    def matches(self, analyte: Analyte, sex: Sex, age_years: int) -> bool:
        return (
            self.analyte is analyte
            and (self.sex is None or self.sex is sex)
            and age_years >= self.min_age_years
            and (self.max_age_years is None or age_years < self.max_age_years)
        )


SRC_CALIPER = Source(
    "CALIPER Canadian paediatric reference intervals (Abbott assay, 97.5th percentile)",
    2026,
    "children's ALT upper limits by age band, assay-dependent (REF §3)",
    verified=False,
)
_SAFETY_BAND = "age 12 to 17 years: SAFETY study 95th percentile (Schwimmer et al., 2010)"
_CALIPER_BAND = "CALIPER, assay-dependent (UNVERIFIED against the primary paper)"

# Children's ALT by age band (REF §3 table, issue #15): under 1 year 33 U/L and 1 to under 12
# years 25 U/L (CALIPER, UNVERIFIED); 12 to 17 years boys 25.8, girls 22.1 U/L (SAFETY study).
# Each label names the band and its source: the alert quotes it.
DEFAULT_ULNS: tuple[DefaultUln, ...] = (
    DefaultUln(
        Analyte.ALT,
        Decimal(33),
        SRC_CALIPER,
        f"children's default for age under 1 year: {_CALIPER_BAND}",
        None,
        0,
        1,
    ),
    DefaultUln(
        Analyte.ALT,
        Decimal(25),
        SRC_CALIPER,
        f"children's default for age 1 to under 12 years (no sex difference): {_CALIPER_BAND}",
        None,
        1,
        12,
    ),
    DefaultUln(
        Analyte.ALT,
        Decimal("25.8"),
        SRC_SAFETY,
        f"children's default for {_SAFETY_BAND}, boys",
        Sex.MALE,
        12,
        18,
    ),
    DefaultUln(
        Analyte.ALT,
        Decimal("22.1"),
        SRC_SAFETY,
        f"children's default for {_SAFETY_BAND}, girls",
        Sex.FEMALE,
        12,
        18,
    ),
    DefaultUln(
        Analyte.ALT,
        Decimal("22.1"),
        SRC_SAFETY,
        f"children's default for {_SAFETY_BAND}; sex not recorded as male or female, so the "
        "lower (girls') limit",
        None,
        12,
        18,
    ),
    DefaultUln(
        Analyte.ALT,
        Decimal(40),
        SRC_CONFIGURED_ULN,
        "configured adult default, not from a guideline",
        None,
        18,
        None,
    ),
    DefaultUln(
        Analyte.AST,
        Decimal(40),
        SRC_CONFIGURED_ULN,
        "configured default for children, not from a guideline: no published paediatric AST "
        "standard was found (REF §3)",
        None,
        0,
        18,
    ),
    DefaultUln(
        Analyte.AST,
        Decimal(40),
        SRC_CONFIGURED_ULN,
        "configured adult default, not from a guideline",
        None,
        18,
        None,
    ),
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Lab action thresholds of a protocol (REF §3). ``None`` switches a rule off.

    Comparisons are strict as in the sources: "> 3× ULN" (exactly 3× is not above), "< 3.5"
    (exactly 3.5 is not below), "rise > 30 %".
    """

    liver_uln_multiple: Limit = Limit(Decimal(3), SRC_EULAR_LIVER)
    liver_absolute: Limit | None = Limit(Decimal(100), SRC_BSR_THRESHOLDS)
    wbc_low: Limit | None = Limit(Decimal("3.5"), SRC_BSR_THRESHOLDS)
    neutrophils_low: Limit | None = Limit(Decimal("1.6"), SRC_BSR_THRESHOLDS)
    platelets_low: Limit | None = Limit(Decimal(140), SRC_BSR_THRESHOLDS)
    eosinophils_high: Limit | None = Limit(Decimal("0.5"), SRC_BSR_THRESHOLDS)
    mcv_high: Limit | None = Limit(Decimal(105), SRC_BSR_THRESHOLDS)
    albumin_low: Limit | None = Limit(Decimal(30), SRC_BSR_THRESHOLDS)
    creatinine_rise_fraction: Limit | None = Limit(Decimal("0.30"), SRC_BSR_THRESHOLDS)
    egfr_low: Limit | None = Limit(Decimal(60), SRC_BSR_THRESHOLDS)
    lymphocytes_low: Limit | None = Limit(Decimal("0.5"), SRC_BSR_LYMPHOCYTES)
    mmf_neutrophils_low: Limit | None = Limit(Decimal("1.3"), SRC_MMF_LABEL)
    repeat_within_days: int = 7  # "repeat within 1 week" (EULAR/3E rec 5 confirm; BSR renal)
    confirm_window_days: int = 28  # an earlier abnormal result this recent confirms (project)
    creatinine_baseline_days: int = 365  # BSR "within 12 months"
    restart_lookback_days: int = 365  # how far back a > 3× result makes normal values news
    default_ulns: tuple[DefaultUln, ...] = DEFAULT_ULNS


DEFAULT_THRESHOLDS = Thresholds()


def default_uln(thresholds: Thresholds, analyte: Analyte, sex: Sex, age_years: int) -> DefaultUln:
    """The configured ULN for an analyte, sex and age (first match in ``default_ulns``)."""
    for item in thresholds.default_ulns:
        if item.matches(Analyte(analyte), Sex(sex), age_years):
            return item
    raise ClinicalInputError(
        "reference_high", f"no configured default ULN for {analyte} ({sex}, age {age_years})"
    )


# --- protocol --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Protocol:
    """A versioned monitoring protocol. Every number on it is data with a source."""

    code: str
    version: str
    name: str
    drugs: frozenset[Drug]
    source: Source
    baseline_tests: tuple[tuple[Drug, tuple[BaselineItem, ...]], ...]
    routine_tests: tuple[str, ...]
    # A draw "covers" the routine tests when, on ONE collection date, every group has a result
    # for at least one of its tests (e.g. ALT *or* AST: BSR says "ALT and/or AST").
    routine_cover: tuple[frozenset[str], ...]
    phases: tuple[Phase, ...]
    early_phase_restarts_on: frozenset[PrescriptionChange]
    after_increase: AfterIncrease = AfterIncrease.RESTART
    stable_after_days: int = 42
    shortening_risk_factors: frozenset[RiskFactor] = frozenset(RiskFactor)
    shorten_below_age: int = 4  # whole years: age < 4 shortens
    shorten_above_age: int = 70  # whole years: age > 70 (from the 71st birthday) shortens
    abnormal_lookback_days: int = 365  # an abnormal result this recent shortens (project choice)
    shortening_source: Source = SRC_PROJECT_RISK
    baseline_target_days_before: int = 7  # aim for results a week before the start
    baseline_late_days: int = 14  # a baseline result up to 14 days after the start still counts
    response_reviews: tuple[ResponseReview, ...] = (ResponseReview(12), ResponseReview(24))
    review_source: Source = SRC_REVIEWS
    thresholds: Thresholds = field(default=DEFAULT_THRESHOLDS)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.phases:
            raise ClinicalInputError("phases", f"{self.code}: a protocol needs phases")
        if self.phases[-1].ends is not PhaseEnd.NEVER:
            raise ClinicalInputError("phases", f"{self.code}: the last phase must never end")
        if any(p.ends is PhaseEnd.NEVER for p in self.phases[:-1]):
            raise ClinicalInputError("phases", f"{self.code}: only the last phase may be open")
        for group in self.routine_cover:
            if not group or not group <= ALL_TEST_CODES:
                raise ClinicalInputError("routine_cover", f"{self.code}: bad group {group}")
        if not set(self.routine_tests) <= ALL_TEST_CODES:
            raise ClinicalInputError("routine_tests", f"{self.code}: unknown test code")
        if PrescriptionChange.START not in self.early_phase_restarts_on:
            raise ClinicalInputError("early_phase_restarts_on", "must include 'start'")
        if self.stable_after_days <= 0:
            raise ClinicalInputError("stable_after_days", "must be positive")

    def baseline_for(self, drug: Drug) -> tuple[BaselineItem, ...]:
        for d, items in self.baseline_tests:
            if d is drug:
                return items
        return ()


# --- the protocols ---------------------------------------------------------------------------

_LABS = "labs"
_MTX_BASELINE: tuple[BaselineItem, ...] = (
    *(
        BaselineItem(t, 28, _LABS, source=SRC_EULAR_BASELINE)
        for t in (*LIVER_TESTS, *BLOOD_COUNT, *RENAL_TESTS)
    ),
    BaselineItem(
        NonLabTest.CHEST_XRAY,
        365,
        "chest_xray",
        note="within the previous year",
        source=SRC_EULAR_BASELINE,
    ),
    *(
        BaselineItem(
            t,
            90,
            "serology",
            note="'consider' (EULAR/3E rec 1); 90-day window is a project choice",
            source=SRC_EULAR_BASELINE,
        )
        for t in (NonLabTest.HEPATITIS_B, NonLabTest.HEPATITIS_C, NonLabTest.HIV)
    ),
    BaselineItem(
        NonLabTest.PREGNANCY_TEST,
        7,
        "pregnancy",
        BaselineCondition.FEMALE_12_55,
        note="'consider' (EULAR/3E rec 1); 7-day window and ages 12–55 are project choices",
        source=SRC_EULAR_BASELINE,
    ),
)
_MMF_BASELINE: tuple[BaselineItem, ...] = (
    *(
        BaselineItem(t, 28, _LABS, source=SRC_PROJECT_MMF_BASELINE)
        for t in (*BLOOD_COUNT, *LIVER_TESTS, *RENAL_TESTS)
    ),
    *(
        BaselineItem(
            t,
            90,
            "serology",
            note="90-day window is a project choice",
            source=SRC_PROJECT_MMF_BASELINE,
        )
        for t in (NonLabTest.HEPATITIS_B, NonLabTest.HEPATITIS_C, NonLabTest.HIV)
    ),
    BaselineItem(
        NonLabTest.PREGNANCY_TEST,
        7,
        "pregnancy",
        BaselineCondition.FEMALE_12_55,
        note="7-day window and ages 12–55 are project choices",
        source=SRC_PROJECT_MMF_BASELINE,
    ),
)

_CORE_COVER: tuple[frozenset[str], ...] = (
    frozenset({Analyte.ALT, Analyte.AST}),
    frozenset({Analyte.WBC}),
    frozenset({Analyte.NEUTROPHILS}),
    frozenset({Analyte.PLATELETS}),
    frozenset({Analyte.CREATININE, Analyte.EGFR}),
)
_MTX_DURATION_NOTE = (
    "methotrexate is kept at least 12 months after improvement before tapering (REF §1)"
)
# Drug facts shown on response reviews whatever the protocol (REF §1 "Duration").
DRUG_NOTES: dict[Drug, str] = {Drug.METHOTREXATE: _MTX_DURATION_NOTE}

EULAR_3E_2009 = Protocol(
    code="eular_3e_2009",
    version="2009.1",
    name="EULAR/3E 2009 methotrexate monitoring (project reference guideline)",
    drugs=frozenset({Drug.METHOTREXATE}),
    source=SRC_EULAR_MONITORING,
    baseline_tests=((Drug.METHOTREXATE, _MTX_BASELINE),),
    routine_tests=(Analyte.ALT, Analyte.AST, *BLOOD_COUNT, *RENAL_TESTS),
    routine_cover=_CORE_COVER,
    phases=(
        Phase(
            "initiation",
            28,
            35,
            42,
            7,
            PhaseEnd.DOSE_STABLE,
            "every 1–1.5 months until a stable dose is reached",
        ),
        Phase("maintenance", 28, 56, 84, 7, PhaseEnd.NEVER, "every 1–3 months thereafter"),
    ),
    early_phase_restarts_on=frozenset(
        {
            PrescriptionChange.START,
            PrescriptionChange.DOSE_INCREASE,
            PrescriptionChange.RESTART,
            PrescriptionChange.ROUTE_CHANGE,
        }
    ),
    after_increase=AfterIncrease.RESTART,
)

BSR_2017 = Protocol(
    code="bsr_2017",
    version="2017.1",
    name="BSR/BHPR 2017 DMARD monitoring (methotrexate and mycophenolate)",
    drugs=frozenset({Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL}),
    source=SRC_BSR_MONITORING,
    baseline_tests=(
        (Drug.METHOTREXATE, _MTX_BASELINE),
        (Drug.MYCOPHENOLATE_MOFETIL, _MMF_BASELINE),
    ),
    routine_tests=(*BLOOD_COUNT, *RENAL_TESTS, Analyte.ALT, Analyte.AST, Analyte.ALBUMIN),
    routine_cover=_CORE_COVER,
    phases=(
        Phase(
            "initiation",
            14,
            14,
            14,
            3,
            PhaseEnd.DOSE_STABLE,
            "every 2 weeks until the dose has been stable for 6 weeks",
        ),
        Phase(
            "consolidation",
            28,
            28,
            28,
            7,
            PhaseEnd.AFTER_DAYS,
            "monthly for 3 months",
            duration_days=84,
        ),
        Phase("maintenance", 84, 84, 84, 7, PhaseEnd.NEVER, "at least every 12 weeks"),
    ),
    early_phase_restarts_on=frozenset(
        {
            PrescriptionChange.START,
            PrescriptionChange.DOSE_INCREASE,
            PrescriptionChange.RESTART,
            PrescriptionChange.ROUTE_CHANGE,
        }
    ),
    after_increase=AfterIncrease.RESUME,
)

MMF_LABEL = Protocol(
    code="mmf_label",
    version="uspi.1",
    name="Mycophenolate mofetil label (CellCept USPI §5.4) blood-count schedule",
    drugs=frozenset({Drug.MYCOPHENOLATE_MOFETIL}),
    source=SRC_MMF_LABEL,
    baseline_tests=((Drug.MYCOPHENOLATE_MOFETIL, _MMF_BASELINE),),
    routine_tests=(*BLOOD_COUNT, Analyte.ALT, Analyte.AST),
    routine_cover=(
        frozenset({Analyte.WBC}),
        frozenset({Analyte.NEUTROPHILS}),
        frozenset({Analyte.PLATELETS}),
    ),
    phases=(
        Phase(
            "month 1",
            7,
            7,
            7,
            1,
            PhaseEnd.AFTER_DAYS,
            "weekly in month 1",
            duration_days=28,
        ),
        Phase(
            "months 2–3",
            14,
            14,
            14,
            3,
            PhaseEnd.AFTER_DAYS,
            "twice monthly in months 2–3",
            duration_days=56,
        ),
        Phase(
            "months 4–12",
            28,
            28,
            28,
            7,
            PhaseEnd.AFTER_DAYS,
            "monthly to the end of year 1",
            duration_days=365 - 84,
        ),
        Phase(
            "after year 1",
            84,
            84,
            84,
            7,
            PhaseEnd.NEVER,
            "every 12 weeks after year 1",
            note="project choice: the label gives no interval after year 1; 12 weeks as the "
            "BSR and NHS SPS maintenance interval",
            source=SRC_PROJECT_MMF_AFTER_YEAR_1,
        ),
    ),
    # The label's schedule counts from the start; it gives no rule for dose increases.
    # Restart after a hold or stop starts it again (project choice).
    early_phase_restarts_on=frozenset({PrescriptionChange.START, PrescriptionChange.RESTART}),
    after_increase=AfterIncrease.RESTART,
)


def protocol_with_thresholds(
    base: Protocol,
    *,
    code: str,
    name: str,
    source: Source,
    version: str = "1",
    **overrides: Decimal | int | str | Limit | None,
) -> Protocol:
    """A copy of ``base`` with some ``Thresholds`` fields replaced.

    Numbers (``Decimal``, ``int`` or a numeric ``str``) are wrapped as ``Limit(value, source)``
    for ``Limit`` fields; integers are taken as they are for the day-count fields; ``None``
    switches a rule off. An unknown field name is a ``ClinicalInputError``.
    """
    names = {f.name: f for f in dataclasses.fields(Thresholds)}
    changes: dict[str, object] = {}
    for key, value in overrides.items():
        if key not in names:
            raise ClinicalInputError("overrides", f"unknown threshold {key!r}")
        current = getattr(base.thresholds, key)
        if value is None or isinstance(value, Limit) or isinstance(current, int | tuple):
            if key == "liver_uln_multiple" and value is None:
                raise ClinicalInputError("overrides", "liver_uln_multiple cannot be switched off")
            changes[key] = value
        else:
            changes[key] = Limit(Decimal(str(value)), source)
    thresholds = dataclasses.replace(base.thresholds, **changes)
    return dataclasses.replace(base, code=code, name=name, version=version, thresholds=thresholds)


LOCAL_STRICT = protocol_with_thresholds(
    EULAR_3E_2009,
    code="local_strict_example",
    name=(
        "Local strict example: EULAR/3E schedule, neutrophils < 2.0, platelets < 150, "
        "ALT/AST > 2× ULN"
    ),
    source=SRC_LOCAL_EXAMPLE,
    neutrophils_low=Decimal("2.0"),
    platelets_low=Decimal(150),
    liver_uln_multiple=Decimal(2),
)

PROTOCOLS: dict[str, Protocol] = {
    p.code: p for p in (EULAR_3E_2009, BSR_2017, MMF_LABEL, LOCAL_STRICT)
}

# EULAR/3E 2009 has no mycophenolate schedule; BSR/BHPR 2017 covers both drugs, so it is the
# mycophenolate default (the label's weekly month-1 schedule is available as "mmf_label").
_DEFAULT_FOR: Mapping[Drug, str] = {
    Drug.METHOTREXATE: EULAR_3E_2009.code,
    Drug.MYCOPHENOLATE_MOFETIL: BSR_2017.code,
}


def get_protocol(code: str) -> Protocol:
    try:
        return PROTOCOLS[code]
    except KeyError as exc:
        raise ClinicalInputError("protocol", f"unknown protocol {code!r}") from exc


def default_protocol_for(drug: Drug) -> Protocol:
    """MTX → ``eular_3e_2009`` (REF §1); MMF → ``bsr_2017`` (EULAR has none for MMF)."""
    try:
        return PROTOCOLS[_DEFAULT_FOR[Drug(drug)]]
    except (KeyError, ValueError) as exc:
        raise ClinicalInputError("drug", f"no monitoring protocol for {drug!r}") from exc
