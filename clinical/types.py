"""Small types every part of the clinical core speaks: sources, findings, input errors."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from clinical.codes import AlertSeverity, CheckLevel, Drug


@dataclass(frozen=True, slots=True)
class Source:
    """Where a rule, threshold, interval or product comes from.

    ``verified=False`` marks a value the project could not check against the primary text
    (REF: "UNVERIFIED"); every message built from it must say so.
    """

    guideline: str  # e.g. "BSR/BHPR 2017 (Ledingham et al., Rheumatology 2017;56:865)"
    year: int
    section: str  # e.g. "Table 3" or "rec 5"
    verified: bool = True

    def cite(self) -> str:
        text = f"{self.guideline}, {self.section}"
        return text if self.verified else f"{text} (UNVERIFIED)"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One prescription or dosing check that fired."""

    code: str  # stable, e.g. "MTX_NOT_WEEKLY"
    level: CheckLevel
    message: str  # says what is wrong and why, in words a clinician reads
    source: Source
    field: str | None = None  # the input field it is about, when there is one
    overridable: bool = False  # a clinician may override a hard stop with a recorded reason


@dataclass(frozen=True, slots=True)
class LabFinding:
    """One lab rule that fired for a result."""

    rule: str  # stable code, e.g. "LIVER_GT_3X_ULN"
    severity: AlertSeverity
    message: str  # what was found, with the value and the limit used
    action: str  # the recommended action
    source: Source
    # Optional detail (clinical.labrules fills these; all defaulted so older callers still work).
    value: Decimal | None = None  # the result in its canonical unit, when evaluable
    limit: Decimal | None = None  # the threshold the value was compared with (canonical unit)
    uln_used: Decimal | None = None  # the upper limit of normal behind a "× ULN" rule
    uln_source: str | None = None  # where that ULN came from (lab range or configured default)
    repeat_within_days: int | None = None  # ask for a confirmatory repeat within this many days
    tests_to_repeat: tuple[str, ...] = ()  # test codes of that repeat
    withhold: bool = False  # the action is to withhold a drug now
    supersedes_rule: str | None = None  # the rule this one replaces (e.g. confirmed vs first)
    drugs: tuple[Drug, ...] = ()  # the drugs the action concerns


class ClinicalInputError(ValueError):
    """Bad input to the clinical core, naming the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
