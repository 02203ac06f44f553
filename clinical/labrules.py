"""Lab rules: what a new result means for a patient on methotrexate or mycophenolate (public API).

``evaluate(ctx: LabContext) -> list[LabFinding]`` looks at one new result with the patient's
earlier results, active prescriptions and the protocol's ``Thresholds`` (data, REF §3), and
returns every rule that fired, each with a stable code, severity, a message that states the value
and the limit used, the recommended action and its source. It never guesses: a result that is not
evaluable (unknown unit, ``"haemolysed"``) gives ``RESULT_NOT_EVALUABLE`` (WARNING) for a human.
A censored value decides when its bound decides (issue #15): it triggers a rule when its bound
makes the outcome certain (ALT ``">1000"`` is certainly above 3× ULN, eGFR ``"<15"`` certainly
below 60) and raises ``RESULT_NOT_EVALUABLE`` only when the bound leaves one of the analyte's
rules undecided (eGFR ``">90"`` and ALT ``"<10"`` decide every rule: normal, no alert; ALT
``">=100"`` may be exactly 100: not evaluable, naming the undecided limit).

Inputs (frozen dataclasses):

- ``LabResult(analyte, result: Normalised, collected_on, reference_low=None, reference_high=None,
  result_id=None)``. ``reference_low``/``reference_high`` are the laboratory's limits **as sent,
  in the same unit as the value** (HL7 OBX-7 convention); they are converted with the value's
  unit. ``collected_on`` is the local collection date (``timeutil.local_date``).
- ``DrugStatus(drug, status)``; ``LabContext(result, birth_date, sex, history=(),
  prescriptions=(), thresholds=DEFAULT_THRESHOLDS)``. ``history`` holds the patient's earlier
  results (any analyte, any order; results dated on or after the new one are ignored for
  "previous" and "confirmation" but not as errors).

Rules (codes are stable; "on" a drug = prescription active or held):

====================================  =========  ==============================================
``RESULT_NOT_EVALUABLE``               WARNING    unit/value not usable (REF §6), or a censored
                                                  bound that leaves a rule undecided
``LIVER_GT_3X_ULN``                    CRITICAL   ALT or AST > k × ULN (k = 3, EULAR/3E rec 5;
                                                  data: ``liver_uln_multiple``): withhold,
                                                  repeat within 7 days to confirm
``LIVER_GT_3X_ULN_CONFIRMED``          CRITICAL   as above and an ALT or AST > k × ULN within
                                                  the previous 28 days: confirmed, stop
                                                  (supersedes ``LIVER_GT_3X_ULN``)
``LIVER_ABOVE_ULN_TWICE``              WARNING    ULN < value ≤ k × ULN and the previous result
                                                  of that analyte > its ULN: adjust dose
``LIVER_NORMALISED_CONSIDER_RESTART``  INFO       value ≤ ULN, drug held or stopped, a > k × ULN
                                                  liver result within 365 days, and the other
                                                  enzyme's latest result since then ≤ its ULN
``LIVER_GT_ABSOLUTE``                  CRITICAL   ALT or AST > 100 U/L (BSR)
``WBC_LOW`` / ``NEUTROPHILS_LOW`` /    CRITICAL   < 3.5 / < 1.6 / < 140 ×10⁹/L (BSR): withhold
``PLATELETS_LOW``
``EOSINOPHILS_HIGH``                   WARNING    > 0.5 ×10⁹/L, "unexplained" is for a human
``MCV_HIGH``                           WARNING    > 105 fL: check B12, folate, TSH
``ALBUMIN_LOW``                        WARNING    < 30 g/L, "unexplained" is for a human
``LYMPHOCYTES_LOW``                    WARNING    < 0.5 ×10⁹/L (UNVERIFIED, said in the message)
``CREATININE_RISE``                    WARNING    > 30 % above baseline: repeat within 7 days
``CREATININE_RISE_CONFIRMED``          CRITICAL   and a rise > 30 % within the previous 28 days
``EGFR_LOW``                           WARNING    eGFR < 60: repeat within 7 days
``EGFR_LOW_CONFIRMED``                 CRITICAL   and an eGFR < 60 within the previous 28 days
``MMF_NEUTROPHILS_LOW``                CRITICAL   on mycophenolate, neutrophils < 1.3: interrupt
                                                  or reduce (label); fires alongside
                                                  ``NEUTROPHILS_LOW``
====================================  =========  ==============================================

Choices (documented, all data on ``Thresholds`` where a number is involved):

- **Which ULN**: the result's own ``reference_high``; if none (or unusable: not positive, unit
  not convertible), the configured age- and sex-specific default (``Thresholds.default_ulns``,
  REF §3 by age band (issue #15): under 1 year 33 U/L and 1 to under 12 years 25 U/L (CALIPER,
  UNVERIFIED), 12–17 years 25.8 U/L boys and 22.1 U/L girls (SAFETY study); adults 40 U/L and
  children's AST 40 U/L are configured defaults, not from a guideline). The message names the
  band and its source.
  A previous result is judged against *its own* ULN.
- **Boundaries are strict**: exactly 3× ULN is not above; WBC exactly 3.5 is not below.
- **Liver rule by drug**: on methotrexate → withhold/stop methotrexate (EULAR/3E rec 5). On
  mycophenolate only → the same threshold, CRITICAL, worded "withhold mycophenolate and discuss
  with the specialist team" (project choice: EULAR/3E is a methotrexate rule, but a 3× ULN rise
  on mycophenolate needs the same urgency; REF §1 names transaminitis). On neither → WARNING,
  review (e.g. follow-up after a stop); the repeat is still requested.
- **BSR thresholds off treatment**: with no drug on, the blood-count/renal rules still fire but as
  WARNING with "review before starting or restarting treatment" (baseline results matter).
- **Confirmation**: an earlier result within ``confirm_window_days`` (28) before this one,
  strictly earlier date (a same-day second sample is not a repeat). For the liver rule either
  enzyme confirms (EULAR/3E: "confirmed increase in ALT/AST").
- **Creatinine baseline**: the lowest evaluable creatinine in the ``creatinine_baseline_days``
  (365) before this result (most sensitive reading of BSR "over baseline within 12 months");
  no earlier creatinine → no rise rule.
- **Previous result**: the latest evaluable (or bound-decidable) result of that analyte dated
  before this one; several on that date count as above if any is above.

Sources: REF §1 (EULAR/3E 2009 rec 5 via the reference guideline), REF §3 (BSR/BHPR 2017
thresholds as restated by NHS SPS; mycophenolate label neutrophils < 1.3; SAFETY study ULNs;
"Which ULN?"), REF §6 (never guess a unit). Each finding carries its own ``Source``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from clinical.codes import AlertSeverity, Analyte, Drug, PrescriptionStatus, Sex
from clinical.protocols import DEFAULT_THRESHOLDS, TEST_LABELS, Limit, Thresholds, default_uln
from clinical.types import ClinicalInputError, LabFinding, Source
from clinical.units import CANONICAL_UNIT, Normalised, conversion_factor

__all__ = [
    "RULES",
    "DrugStatus",
    "LabContext",
    "LabResult",
    "age_in_years",
    "evaluate",
]

RULES: tuple[str, ...] = (
    "RESULT_NOT_EVALUABLE",
    "LIVER_GT_3X_ULN",
    "LIVER_GT_3X_ULN_CONFIRMED",
    "LIVER_ABOVE_ULN_TWICE",
    "LIVER_NORMALISED_CONSIDER_RESTART",
    "LIVER_GT_ABSOLUTE",
    "WBC_LOW",
    "NEUTROPHILS_LOW",
    "PLATELETS_LOW",
    "EOSINOPHILS_HIGH",
    "MCV_HIGH",
    "ALBUMIN_LOW",
    "LYMPHOCYTES_LOW",
    "CREATININE_RISE",
    "CREATININE_RISE_CONFIRMED",
    "EGFR_LOW",
    "EGFR_LOW_CONFIRMED",
    "MMF_NEUTROPHILS_LOW",
)

_UNITS_SOURCE = Source(
    "mtxmonitor clinical reference §6 (codes and units)", 2026, "an unknown unit is never guessed"
)
_LIVER = (Analyte.ALT, Analyte.AST)
_MONITORED = (Drug.METHOTREXATE, Drug.MYCOPHENOLATE_MOFETIL)
_DRUG_NAME = {Drug.METHOTREXATE: "methotrexate", Drug.MYCOPHENOLATE_MOFETIL: "mycophenolate"}
_SEVERITY_ORDER = {AlertSeverity.CRITICAL: 0, AlertSeverity.WARNING: 1, AlertSeverity.INFO: 2}


@dataclass(frozen=True, slots=True)
class LabResult:
    """One result. Reference limits are as the lab sent them, in the value's reported unit."""

    analyte: Analyte
    result: Normalised
    collected_on: date
    reference_low: Decimal | None = None
    reference_high: Decimal | None = None
    result_id: str | None = None


@dataclass(frozen=True, slots=True)
class DrugStatus:
    drug: Drug
    status: PrescriptionStatus


@dataclass(frozen=True, slots=True)
class LabContext:
    result: LabResult
    birth_date: date
    sex: Sex
    history: tuple[LabResult, ...] = ()
    prescriptions: tuple[DrugStatus, ...] = ()
    thresholds: Thresholds = DEFAULT_THRESHOLDS


# --- small helpers ---------------------------------------------------------------------------


def age_in_years(birth_date: date, on: date) -> int:
    """Completed years on ``on`` (a 29 February birthday counts from 1 March in other years)."""
    if on < birth_date:
        raise ClinicalInputError("birth_date", "the date is before the birth date")
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - int(before_birthday)


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _unverified(source: Source) -> str:
    return "" if source.verified else " (threshold UNVERIFIED)"


@dataclass(frozen=True, slots=True)
class _Val:
    """What is known about a value: exact, or a bound with a comparator, or nothing."""

    exact: Decimal | None
    comparator: str | None
    bound: Decimal | None


def _val(n: Normalised) -> _Val:
    if n.evaluable and n.value is not None:
        return _Val(n.value, None, None)
    return _Val(None, n.comparator, n.bound)


def _above(v: _Val, limit: Decimal) -> bool | None:
    """Is the value > limit? True/False when certain, None when it cannot be told."""
    if v.exact is not None:
        return v.exact > limit
    if v.bound is None or v.comparator is None:
        return None
    b = v.bound
    if v.comparator == ">":
        return True if b >= limit else None
    if v.comparator == ">=":
        return True if b > limit else None
    if v.comparator == "<":
        return False if b <= limit else None
    if v.comparator == "<=":
        return False if b <= limit else None
    return None  # pragma: no cover


def _below(v: _Val, limit: Decimal) -> bool | None:
    """Is the value < limit? True/False when certain, None when it cannot be told."""
    if v.exact is not None:
        return v.exact < limit
    if v.bound is None or v.comparator is None:
        return None
    b = v.bound
    if v.comparator == "<":
        return True if b <= limit else None
    if v.comparator == "<=":
        return True if b < limit else None
    if v.comparator in (">", ">="):
        return False if b >= limit else None
    return None  # pragma: no cover


def _shown(res: LabResult) -> str:
    n = res.result
    if n.evaluable and n.value is not None:
        return f"{_fmt(n.value)} {n.unit}"
    return f"reported as {n.display()!r}"


def _label(analyte: Analyte) -> str:
    return _cap(TEST_LABELS[analyte])


@dataclass(frozen=True, slots=True)
class _Uln:
    value: Decimal
    text: str  # for the message


def _uln(res: LabResult, ctx: LabContext) -> _Uln:
    problem = ""
    if res.reference_high is not None:
        factor = conversion_factor(res.analyte, res.result.reported_unit)
        if factor is not None and res.reference_high > 0:
            value = res.reference_high * factor
            return _Uln(value, f"ULN {_fmt(value)} U/L from the laboratory's reference range")
        problem = " (the laboratory's reference limit could not be used)"
    age = age_in_years(ctx.birth_date, res.collected_on)
    item = default_uln(ctx.thresholds, res.analyte, ctx.sex, age)
    return _Uln(
        item.value,
        f"ULN {_fmt(item.value)} U/L: {item.label}, because no laboratory reference range came "
        f"with the result{problem}",
    )


def _drugs_on(ctx: LabContext) -> dict[Drug, PrescriptionStatus]:
    """Monitored drugs the patient is on (active or held); active wins if listed twice."""
    on: dict[Drug, PrescriptionStatus] = {}
    for p in ctx.prescriptions:
        live = p.status in (PrescriptionStatus.ACTIVE, PrescriptionStatus.HELD)
        if p.drug in _MONITORED and live and on.get(p.drug) is not PrescriptionStatus.ACTIVE:
            on[p.drug] = p.status
    return dict(sorted(on.items()))


def _withhold_text(on: dict[Drug, PrescriptionStatus]) -> str:
    parts = []
    for drug, status in on.items():
        name = _DRUG_NAME[drug]
        parts.append(f"keep {name} withheld" if status is PrescriptionStatus.HELD else name)
    active = [p for p in parts if not p.startswith("keep")]
    held = [p for p in parts if p.startswith("keep")]
    out = []
    if active:
        out.append("withhold " + " and ".join(active))
    out.extend(held)
    return " and ".join(out)


def _earlier(ctx: LabContext, analytes: Iterable[Analyte], days: int | None) -> list[LabResult]:
    """Earlier results of ``analytes``, strictly before the new one, newest first."""
    wanted = set(analytes)
    now = ctx.result.collected_on
    start = now - timedelta(days=days) if days is not None else date.min
    found = [r for r in ctx.history if r.analyte in wanted and start <= r.collected_on < now]
    return sorted(found, key=lambda r: r.collected_on, reverse=True)


def _previous_same_date(ctx: LabContext, analyte: Analyte) -> list[LabResult]:
    """The earlier results of ``analyte`` on the latest earlier date with a usable value."""
    usable = [
        r
        for r in _earlier(ctx, (analyte,), None)
        if r.result.evaluable or r.result.bound is not None
    ]
    if not usable:
        return []
    latest = usable[0].collected_on
    return [r for r in usable if r.collected_on == latest]


class _Builder:
    """Collects findings with the common fields filled in."""

    def __init__(self, ctx: LabContext) -> None:
        self.ctx = ctx
        self.findings: list[LabFinding] = []

    def add(
        self,
        rule: str,
        severity: AlertSeverity,
        message: str,
        action: str,
        source: Source,
        **extra: Any,
    ) -> None:
        n = self.ctx.result.result
        value = n.value if n.evaluable else None
        self.findings.append(
            LabFinding(rule, severity, message, action, source, value=value, **extra)
        )


# --- rules -----------------------------------------------------------------------------------


def _liver_rules(ctx: LabContext, b: _Builder) -> None:
    res = ctx.result
    t = ctx.thresholds
    v = _val(res.result)
    name = _label(res.analyte)
    uln = _uln(res, ctx)
    k = t.liver_uln_multiple.value
    limit = k * uln.value
    on = _drugs_on(ctx)
    mtx_on = Drug.METHOTREXATE in on
    mmf_on = Drug.MYCOPHENOLATE_MOFETIL in on
    src = t.liver_uln_multiple.source
    above_k = _above(v, limit)
    common = {"limit": limit, "uln_used": uln.value, "uln_source": uln.text}

    if above_k:
        confirming = [
            r
            for r in _earlier(ctx, _LIVER, t.confirm_window_days)
            if _above(_val(r.result), k * _uln(r, ctx).value)
        ]
        what = (
            f"{name} {_shown(res)} is above {_fmt(k)}× the upper limit of normal "
            f"({_fmt(k)} × {_fmt(uln.value)} = {_fmt(limit)} U/L; {uln.text}){_unverified(src)}"
        )
        drugs = tuple(on)
        if confirming:
            prior = confirming[0]
            message = (
                f"{what}; confirmed by {_label(prior.analyte)} {_shown(prior)} on "
                f"{prior.collected_on.isoformat()}."
            )
            if mtx_on:
                action = (
                    "Confirmed: stop methotrexate; it may be restarted at a lower dose once "
                    "ALT/AST normalise (EULAR/3E rec 5)."
                )
                severity = AlertSeverity.CRITICAL
            elif mmf_on:
                action = (
                    "Confirmed: discuss stopping mycophenolate with the specialist team (the 3× "
                    "ULN rule is EULAR/3E's for methotrexate, applied to mycophenolate by the "
                    "project)."
                )
                severity = AlertSeverity.CRITICAL
            else:
                action = (
                    "Confirmed elevation with no methotrexate or mycophenolate active: review "
                    "and investigate the cause."
                )
                severity = AlertSeverity.WARNING
            b.add(
                "LIVER_GT_3X_ULN_CONFIRMED",
                severity,
                message,
                action,
                src,
                withhold=bool(on),
                supersedes_rule="LIVER_GT_3X_ULN",
                drugs=drugs,
                **common,
            )
        else:
            if mtx_on or mmf_on:
                withhold = _withhold_text(on)
                action = (
                    f"{_cap(withhold)} and repeat {name} within "
                    f"{t.repeat_within_days} days to confirm; stop if confirmed (EULAR/3E rec 5)."
                )
                if not mtx_on:
                    action += (
                        " Discuss with the specialist team (3× ULN rule applied to mycophenolate "
                        "by the project)."
                    )
                severity = AlertSeverity.CRITICAL
            else:
                action = (
                    f"No methotrexate or mycophenolate is active: review and repeat {name} within "
                    f"{t.repeat_within_days} days."
                )
                severity = AlertSeverity.WARNING
            b.add(
                "LIVER_GT_3X_ULN",
                severity,
                f"{what}.",
                action,
                src,
                withhold=bool(on),
                repeat_within_days=t.repeat_within_days,
                tests_to_repeat=(res.analyte.value,),
                drugs=drugs,
                **common,
            )

    # Persistent elevation up to k × ULN: this and the previous result of that analyte.
    if _above(v, uln.value) and above_k is False:
        previous = _previous_same_date(ctx, res.analyte)
        prev_above = [r for r in previous if _above(_val(r.result), _uln(r, ctx).value)]
        if prev_above:
            prior = prev_above[0]
            if mtx_on:
                action = (
                    f"Persistent elevation up to {_fmt(k)}× ULN: adjust the methotrexate dose "
                    "(EULAR/3E rec 5)."
                )
            elif mmf_on:
                action = (
                    "Persistent elevation on mycophenolate: discuss the dose with the specialist "
                    "team."
                )
            else:
                action = "Persistent elevation: review."
            b.add(
                "LIVER_ABOVE_ULN_TWICE",
                AlertSeverity.WARNING,
                f"{name} {_shown(res)} is above the upper limit of normal ({uln.text}) for the "
                f"second time in a row (previous {_shown(prior)} on "
                f"{prior.collected_on.isoformat()}), but not above {_fmt(k)}× ULN "
                f"({_fmt(limit)} U/L).",
                action,
                src,
                drugs=tuple(on),
                **common,
            )

    # Back to normal after a hold or stop that followed a > k × ULN result.
    if _above(v, uln.value) is False:
        _liver_normalised(ctx, b, uln, k, src)

    # BSR absolute limit.
    absolute = t.liver_absolute
    if absolute is not None and _above(v, absolute.value):
        _threshold_finding(
            ctx,
            b,
            "LIVER_GT_ABSOLUTE",
            absolute,
            f"{name} {_shown(res)} is above {_fmt(absolute.value)} U/L",
            withhold_rule=True,
        )


def _liver_normalised(ctx: LabContext, b: _Builder, uln: _Uln, k: Decimal, src: Source) -> None:
    t = ctx.thresholds
    rank = {PrescriptionStatus.ACTIVE: 0, PrescriptionStatus.HELD: 1, PrescriptionStatus.STOPPED: 2}
    statuses: dict[Drug, PrescriptionStatus] = {}
    for p in ctx.prescriptions:  # active wins over held over stopped if a drug is listed twice
        if p.drug in _MONITORED and (
            p.drug not in statuses or rank[p.status] < rank[statuses[p.drug]]
        ):
            statuses[p.drug] = p.status
    paused = [
        d
        for d, s in sorted(statuses.items())
        if s in (PrescriptionStatus.HELD, PrescriptionStatus.STOPPED)
    ]
    if not paused or any(s is PrescriptionStatus.ACTIVE for s in statuses.values()):
        return
    high = [
        r
        for r in _earlier(ctx, _LIVER, t.restart_lookback_days)
        if _above(_val(r.result), k * _uln(r, ctx).value)
    ]
    if not high:
        return
    last_high = high[0].collected_on
    # the other enzyme, if measured since the high result, must be back too
    other = next(a for a in _LIVER if a is not ctx.result.analyte)
    since = [r for r in _earlier(ctx, (other,), None) if r.collected_on >= last_high]
    if since and _above(_val(since[0].result), _uln(since[0], ctx).value) is not False:
        return
    res = ctx.result
    for drug in paused:
        if drug is Drug.METHOTREXATE:
            action = "Consider restarting methotrexate at a lower dose (EULAR/3E rec 5)."
        else:
            action = "Consider restarting mycophenolate; discuss with the specialist team."
        b.add(
            "LIVER_NORMALISED_CONSIDER_RESTART",
            AlertSeverity.INFO,
            f"{_label(res.analyte)} {_shown(res)} is back within the upper limit of normal "
            f"({uln.text}) after {_label(high[0].analyte)} {_shown(high[0])} on "
            f"{last_high.isoformat()}; {_DRUG_NAME[drug]} is {statuses[drug].value}.",
            action,
            src,
            drugs=(drug,),
            uln_used=uln.value,
            uln_source=uln.text,
        )


def _threshold_finding(
    ctx: LabContext,
    b: _Builder,
    rule: str,
    limit: Limit,
    what: str,
    *,
    withhold_rule: bool = False,
    human_judgement: str | None = None,
    action_on: str | None = None,
    severity_on: AlertSeverity = AlertSeverity.CRITICAL,
    repeat: bool = False,
) -> None:
    """A single-threshold finding with the drug-dependent action."""
    on = _drugs_on(ctx)
    t = ctx.thresholds
    res = ctx.result
    judgement = f" ({human_judgement})" if human_judgement else ""
    message = f"{what}{_unverified(limit.source)}{judgement}."
    if on:
        if action_on is not None:
            action = action_on
        else:
            action = f"{_cap(_withhold_text(on))} and discuss with the specialist team."
        severity = severity_on
    else:
        action = (
            "Review before starting or restarting treatment (no methotrexate or mycophenolate is "
            "active)."
        )
        severity = AlertSeverity.WARNING
    extra: dict[str, object] = {"limit": limit.value, "drugs": tuple(on)}
    if withhold_rule and on:
        extra["withhold"] = True
    if repeat:
        extra["repeat_within_days"] = t.repeat_within_days
        extra["tests_to_repeat"] = (res.analyte.value,)
    b.add(rule, severity, message, action, limit.source, **extra)


def _count_rules(ctx: LabContext, b: _Builder) -> None:
    res = ctx.result
    t = ctx.thresholds
    v = _val(res.result)
    unit = CANONICAL_UNIT[res.analyte]
    name = _label(res.analyte)
    lows: dict[Analyte, tuple[str, Limit | None]] = {
        Analyte.WBC: ("WBC_LOW", t.wbc_low),
        Analyte.NEUTROPHILS: ("NEUTROPHILS_LOW", t.neutrophils_low),
        Analyte.PLATELETS: ("PLATELETS_LOW", t.platelets_low),
    }
    if res.analyte in lows:
        rule, limit = lows[res.analyte]
        if limit is not None and _below(v, limit.value):
            _threshold_finding(
                ctx,
                b,
                rule,
                limit,
                f"{name} {_shown(res)} is below {_fmt(limit.value)} {unit}",
                withhold_rule=True,
            )
    if res.analyte is Analyte.NEUTROPHILS:
        mmf = t.mmf_neutrophils_low
        on = _drugs_on(ctx)
        if mmf is not None and Drug.MYCOPHENOLATE_MOFETIL in on and _below(v, mmf.value):
            verb = (
                "Interrupt or reduce"
                if on[Drug.MYCOPHENOLATE_MOFETIL] is PrescriptionStatus.ACTIVE
                else "Keep withheld or reduce"
            )
            b.add(
                "MMF_NEUTROPHILS_LOW",
                AlertSeverity.CRITICAL,
                f"Neutrophils {_shown(res)} on mycophenolate are below {_fmt(mmf.value)} {unit}"
                f"{_unverified(mmf.source)}.",
                f"{verb} mycophenolate (mycophenolate label); discuss with the specialist team.",
                mmf.source,
                limit=mmf.value,
                withhold=True,
                drugs=(Drug.MYCOPHENOLATE_MOFETIL,),
            )
    if res.analyte is Analyte.EOSINOPHILS and t.eosinophils_high is not None:
        limit = t.eosinophils_high
        if _above(v, limit.value):
            _threshold_finding(
                ctx,
                b,
                "EOSINOPHILS_HIGH",
                limit,
                f"Eosinophils {_shown(res)} are above {_fmt(limit.value)} {unit}",
                human_judgement="the rule applies if unexplained: a clinician decides",
                action_on="If unexplained, withhold and discuss with the specialist team.",
                severity_on=AlertSeverity.WARNING,
            )
    if res.analyte is Analyte.LYMPHOCYTES and t.lymphocytes_low is not None:
        limit = t.lymphocytes_low
        if _below(v, limit.value):
            _threshold_finding(
                ctx,
                b,
                "LYMPHOCYTES_LOW",
                limit,
                f"Lymphocytes {_shown(res)} are below {_fmt(limit.value)} {unit}",
                action_on="Discuss with the specialist team.",
                severity_on=AlertSeverity.WARNING,
            )
    if res.analyte is Analyte.MCV and t.mcv_high is not None:
        limit = t.mcv_high
        if _above(v, limit.value):
            _threshold_finding(
                ctx,
                b,
                "MCV_HIGH",
                limit,
                f"MCV {_shown(res)} is above {_fmt(limit.value)} {unit}",
                action_on="Check B12, folate and TSH; discuss with the specialist team if normal.",
                severity_on=AlertSeverity.WARNING,
            )
    if res.analyte is Analyte.ALBUMIN and t.albumin_low is not None:
        limit = t.albumin_low
        if _below(v, limit.value):
            _threshold_finding(
                ctx,
                b,
                "ALBUMIN_LOW",
                limit,
                f"Albumin {_shown(res)} is below {_fmt(limit.value)} {unit}",
                human_judgement="the rule applies to an unexplained fall: a clinician decides",
                action_on="If unexplained, withhold and discuss with the specialist team.",
                severity_on=AlertSeverity.WARNING,
            )


def _renal_rules(ctx: LabContext, b: _Builder) -> None:
    res = ctx.result
    t = ctx.thresholds
    v = _val(res.result)
    on = _drugs_on(ctx)
    if res.analyte is Analyte.CREATININE and t.creatinine_rise_fraction is not None:
        rise = t.creatinine_rise_fraction
        earlier = [
            r
            for r in _earlier(ctx, (Analyte.CREATININE,), t.creatinine_baseline_days)
            if r.result.evaluable and r.result.value is not None
        ]
        if earlier:
            base = min(earlier, key=lambda r: (r.result.value, r.collected_on))
            assert base.result.value is not None
            limit = base.result.value * (1 + rise.value)
            if _above(v, limit):
                pct = f"{_fmt(rise.value * 100)} %"
                what = (
                    f"Creatinine {_shown(res)} is more than {pct} above the baseline "
                    f"{_fmt(base.result.value)} umol/L (lowest in the previous 12 months, "
                    f"{base.collected_on.isoformat()}; limit {_fmt(limit)} umol/L)"
                )
                confirming = [
                    r
                    for r in _earlier(ctx, (Analyte.CREATININE,), t.confirm_window_days)
                    if _above(_val(r.result), limit)
                ]
                _renal_finding(ctx, b, "CREATININE_RISE", what, rise, limit, confirming, on)
    if res.analyte is Analyte.EGFR and t.egfr_low is not None:
        low = t.egfr_low
        if _below(v, low.value):
            what = f"eGFR {_shown(res)} is below {_fmt(low.value)} mL/min/1.73 m²"
            confirming = [
                r
                for r in _earlier(ctx, (Analyte.EGFR,), t.confirm_window_days)
                if _below(_val(r.result), low.value)
            ]
            _renal_finding(ctx, b, "EGFR_LOW", what, low, low.value, confirming, on)


def _renal_finding(
    ctx: LabContext,
    b: _Builder,
    rule: str,
    what: str,
    limit: Limit,
    limit_value: Decimal,
    confirming: list[LabResult],
    on: dict[Drug, PrescriptionStatus],
) -> None:
    t = ctx.thresholds
    res = ctx.result
    if confirming:
        prior = confirming[0]
        if on:
            action = f"Confirmed: {_withhold_text(on)} and discuss with the specialist team."
            severity = AlertSeverity.CRITICAL
        else:
            action = "Confirmed, with no methotrexate or mycophenolate active: review."
            severity = AlertSeverity.WARNING
        b.add(
            f"{rule}_CONFIRMED",
            severity,
            f"{what}{_unverified(limit.source)}; confirmed by {_shown(prior)} on "
            f"{prior.collected_on.isoformat()}.",
            action,
            limit.source,
            limit=limit_value,
            withhold=bool(on),
            supersedes_rule=rule,
            drugs=tuple(on),
        )
        return
    b.add(
        rule,
        AlertSeverity.WARNING,
        f"{what}{_unverified(limit.source)}.",
        f"Repeat within {t.repeat_within_days} days; if confirmed, withhold and discuss with the "
        "specialist team.",
        limit.source,
        limit=limit_value,
        repeat_within_days=t.repeat_within_days,
        tests_to_repeat=(res.analyte.value,),
        drugs=tuple(on),
    )


def _undecided(ctx: LabContext) -> list[str] | None:
    """For a censored result ("<10", ">90"): the rule limits its bound leaves undecided (empty:
    every rule of the analyte is decided by the bound, so no "not evaluable" alert, issue #15).
    None when there is no usable bound (unreadable value, unknown unit)."""
    res = ctx.result
    v = _val(res.result)
    if v.bound is None or v.comparator is None:
        return None
    t = ctx.thresholds
    unit = CANONICAL_UNIT[res.analyte]
    checks: list[tuple[str, bool | None]] = []  # (what, decided outcome or None)
    if res.analyte in _LIVER:
        uln = _uln(res, ctx).value
        k = t.liver_uln_multiple.value
        checks.append((f"above the upper limit of normal ({_fmt(uln)} U/L)", _above(v, uln)))
        checks.append((f"above {_fmt(k)}× ULN ({_fmt(k * uln)} U/L)", _above(v, k * uln)))
        if t.liver_absolute is not None:
            lim = t.liver_absolute.value
            checks.append((f"above {_fmt(lim)} U/L", _above(v, lim)))
    lows = {
        Analyte.WBC: t.wbc_low,
        Analyte.NEUTROPHILS: t.neutrophils_low,
        Analyte.PLATELETS: t.platelets_low,
        Analyte.LYMPHOCYTES: t.lymphocytes_low,
        Analyte.ALBUMIN: t.albumin_low,
        Analyte.EGFR: t.egfr_low,
    }
    highs = {Analyte.EOSINOPHILS: t.eosinophils_high, Analyte.MCV: t.mcv_high}
    low = lows.get(res.analyte)
    if low is not None:
        checks.append((f"below {_fmt(low.value)} {unit}", _below(v, low.value)))
    high = highs.get(res.analyte)
    if high is not None:
        checks.append((f"above {_fmt(high.value)} {unit}", _above(v, high.value)))
    mmf = t.mmf_neutrophils_low
    if (
        res.analyte is Analyte.NEUTROPHILS
        and mmf is not None
        and Drug.MYCOPHENOLATE_MOFETIL in _drugs_on(ctx)
    ):
        checks.append((f"below {_fmt(mmf.value)} {unit} (mycophenolate)", _below(v, mmf.value)))
    if res.analyte is Analyte.CREATININE and t.creatinine_rise_fraction is not None:
        earlier = [
            r.result.value
            for r in _earlier(ctx, (Analyte.CREATININE,), t.creatinine_baseline_days)
            if r.result.evaluable and r.result.value is not None
        ]
        if earlier:
            rise = t.creatinine_rise_fraction.value
            lim = min(earlier) * (1 + rise)
            checks.append(
                (f"above the baseline + {_fmt(rise * 100)} % ({_fmt(lim)} {unit})", _above(v, lim))
            )
    return [what for what, outcome in checks if outcome is None]


def evaluate(ctx: LabContext) -> list[LabFinding]:
    """Every rule that fires for ``ctx.result``; CRITICAL first, then WARNING, then INFO.

    Pure and deterministic. Raises ``ClinicalInputError`` only for impossible input (a
    collection date before the birth date, an analyte/``Normalised`` mismatch).
    """
    res = ctx.result
    if res.result.analyte is not None and res.result.analyte is not res.analyte:
        raise ClinicalInputError(
            "result", f"normalised as {res.result.analyte}, but the result is {res.analyte}"
        )
    age_in_years(ctx.birth_date, res.collected_on)  # validates the dates
    b = _Builder(ctx)
    if not res.result.evaluable:
        undecided = _undecided(ctx)
        if undecided is None:  # not a usable bound: unreadable value or unknown unit
            why = f"{res.result.reason}. No rule was applied to a guessed value."
        elif undecided:
            why = (
                f"{res.result.reason}; its bound does not tell whether it is "
                f"{' or '.join(undecided)}. No rule was applied to a guessed value."
            )
        if undecided is None or undecided:
            b.add(
                "RESULT_NOT_EVALUABLE",
                AlertSeverity.WARNING,
                f"{_label(res.analyte)} {_shown(res)} on {res.collected_on.isoformat()} cannot "
                f"be evaluated: {why}",
                "A clinician must read the report and decide; repeat the test if needed.",
                _UNITS_SOURCE,
            )
    if res.analyte in _LIVER:
        _liver_rules(ctx, b)
    _count_rules(ctx, b)
    _renal_rules(ctx, b)
    order = {rule: i for i, rule in enumerate(RULES)}
    return sorted(
        b.findings, key=lambda f: (_SEVERITY_ORDER[f.severity], order.get(f.rule, len(order)))
    )
