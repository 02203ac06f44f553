"""Mycophenolate mofetil titration plans, as data.

Sources (REF = shared/CLINICAL_REFERENCE.md):

- Adults (``ADULT_MMF``): 500 mg twice daily, increased by 500 mg/day each week to 2 g/day,
  maximum 3 g/day — NHS Dumfries & Galloway protocol (REF §4); the reference guideline titrates
  500 mg twice daily to 1000–1500 mg twice daily (REF §1), i.e. a target of 2–3 g/day, which
  ``target_mg_per_day`` allows.
- Children (``PAEDIATRIC_MMF``): 600 mg/m² twice daily, maximum 2 g/day (CellCept label,
  REF §4). The label gives the dose, not a titration scheme, so the paediatric protocol starts
  at the target; a clinic wanting a ramp defines its own ``TitrationProtocol`` (per-m² start and
  a step in mg/day are supported).
- Renal: GFR < 25 mL/min → at most 1 g twice daily (label, REF §4).

Doses per administration are rounded DOWN to the protocol's ``dose_step_mg`` (250 mg capsules
for adults; 20 mg = 0.1 mL of 200 mg/mL suspension for children), so a plan never exceeds its
target or maximum.

Public API (stable, called by the Django layer):

- ``TitrationProtocol``, ``TitrationStep`` (frozen dataclasses), ``ADULT_MMF``,
  ``PAEDIATRIC_MMF``, ``PROTOCOLS``
- ``titration_plan(protocol, start_date, *, bsa_m2=None, egfr=None, target_mg_per_day=None)
  -> list[TitrationStep]`` — raises ``ClinicalInputError`` naming "bsa_m2", "egfr",
  "target_mg_per_day" or "start_date".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType

from clinical.bsa import decimal_input
from clinical.codes import Drug
from clinical.products import CELLCEPT_LABEL, NHS_DG_MMF
from clinical.types import ClinicalInputError, Source

MMF_RENAL_BELOW_GFR = Decimal(25)  # label: GFR < 25 …
MMF_RENAL_MAX_MG_PER_ADMINISTRATION = Decimal(1000)  # … at most 1 g twice daily


@dataclass(frozen=True, slots=True)
class TitrationProtocol:
    """A titration scheme. Give the start and target either in mg or in mg/m² per
    administration; ``step_mg_per_day=None`` means no titration (start at the target)."""

    code: str
    drug: Drug
    description: str
    administrations_per_day: int
    interval_days: int
    max_mg_per_day: Decimal
    dose_step_mg: Decimal  # doses per administration are rounded DOWN to a multiple of this
    source: Source
    start_mg_per_administration: Decimal | None = None
    start_mg_per_m2_per_administration: Decimal | None = None
    step_mg_per_day: Decimal | None = None
    target_mg_per_day: Decimal | None = None
    target_mg_per_m2_per_administration: Decimal | None = None

    @property
    def needs_bsa(self) -> bool:
        return (
            self.start_mg_per_m2_per_administration is not None
            or self.target_mg_per_m2_per_administration is not None
        )


@dataclass(frozen=True, slots=True)
class TitrationStep:
    date: date
    mg_per_administration: Decimal
    administrations_per_day: int
    mg_per_day: Decimal
    reason: str


ADULT_MMF = TitrationProtocol(
    code="MMF_ADULT_NHS_DG",
    drug=Drug.MYCOPHENOLATE_MOFETIL,
    description="adult: 500 mg twice daily, +500 mg/day each week to 2 g/day (max 3 g/day)",
    administrations_per_day=2,
    interval_days=7,
    max_mg_per_day=Decimal(3000),
    dose_step_mg=Decimal(250),
    start_mg_per_administration=Decimal(500),
    step_mg_per_day=Decimal(500),
    target_mg_per_day=Decimal(2000),
    source=NHS_DG_MMF,
)

PAEDIATRIC_MMF = TitrationProtocol(
    code="MMF_PAEDIATRIC_LABEL",
    drug=Drug.MYCOPHENOLATE_MOFETIL,
    description="child: 600 mg/m² twice daily (max 2 g/day); the label gives no titration",
    administrations_per_day=2,
    interval_days=7,
    max_mg_per_day=Decimal(2000),
    dose_step_mg=Decimal(20),
    start_mg_per_m2_per_administration=Decimal(600),
    target_mg_per_m2_per_administration=Decimal(600),
    step_mg_per_day=None,
    source=CELLCEPT_LABEL,
)

PROTOCOLS: Mapping[str, TitrationProtocol] = MappingProxyType(
    {p.code: p for p in (ADULT_MMF, PAEDIATRIC_MMF)}
)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _times_daily(n: int) -> str:
    return {1: "once daily", 2: "twice daily", 3: "three times daily"}.get(n, f"{n} times daily")


def _per_day(
    protocol: TitrationProtocol,
    mg: Decimal | None,
    mg_per_m2: Decimal | None,
    bsa: Decimal | None,
) -> tuple[Decimal, str] | None:
    n = protocol.administrations_per_day
    if mg is not None:
        return mg * n, f"{_fmt(mg)} mg"
    if mg_per_m2 is not None and bsa is not None:
        per = mg_per_m2 * bsa
        return per * n, f"{_fmt(mg_per_m2)} mg/m² × {_fmt(bsa)} m² = {_fmt(per)} mg"
    return None


def titration_plan(
    protocol: TitrationProtocol,
    start_date: date,
    *,
    bsa_m2: Decimal | None = None,
    egfr: Decimal | None = None,
    target_mg_per_day: Decimal | None = None,
) -> list[TitrationStep]:
    """The dated steps from the start dose to the target, one every ``interval_days``.

    The target is the protocol's (or ``target_mg_per_day``, which may not exceed the protocol
    maximum), limited by the maximum per day and, with ``egfr`` < 25, by 1 g twice daily.
    """
    if not isinstance(start_date, date):
        raise ClinicalInputError("start_date", f"must be a date, got {start_date!r}")
    n = protocol.administrations_per_day
    bsa = None if bsa_m2 is None else decimal_input(bsa_m2, "bsa_m2")
    if protocol.needs_bsa and bsa is None:
        raise ClinicalInputError("bsa_m2", f"{protocol.code} is dosed per m²: a BSA is needed")
    gfr = None if egfr is None else decimal_input(egfr, "egfr", allow_zero=True)
    cite = protocol.source.cite()

    max_day = protocol.max_mg_per_day
    limits = [f"maximum {_fmt(max_day)} mg/day [{cite}]"]
    if (
        gfr is not None
        and gfr < MMF_RENAL_BELOW_GFR
        and protocol.drug is Drug.MYCOPHENOLATE_MOFETIL
    ):
        renal_day = MMF_RENAL_MAX_MG_PER_ADMINISTRATION * n
        if renal_day < max_day:
            max_day = renal_day
            limits.append(
                f"GFR {_fmt(gfr)} < 25: at most 1 g twice daily [{CELLCEPT_LABEL.cite()}]"
            )

    if target_mg_per_day is not None:
        target = decimal_input(target_mg_per_day, "target_mg_per_day")
        if target > protocol.max_mg_per_day:
            raise ClinicalInputError(
                "target_mg_per_day",
                f"{_fmt(target)} mg/day is above the protocol maximum "
                f"{_fmt(protocol.max_mg_per_day)} mg/day [{cite}]",
            )
        target_text = f"chosen target {_fmt(target)} mg/day"
    else:
        found = _per_day(
            protocol,
            None if protocol.target_mg_per_day is None else protocol.target_mg_per_day / n,
            protocol.target_mg_per_m2_per_administration,
            bsa,
        )
        if found is None:
            raise ClinicalInputError("target_mg_per_day", f"{protocol.code} has no target")
        target, how = found
        target_text = f"target {how} {_times_daily(n)} = {_fmt(target)} mg/day"
    if target > max_day:
        target_text += f", limited to {_fmt(max_day)} mg/day ({'; '.join(limits)})"
        target = max_day

    start = _per_day(
        protocol,
        protocol.start_mg_per_administration,
        protocol.start_mg_per_m2_per_administration,
        bsa,
    )
    start_day = target if start is None else min(start[0], target)
    step = protocol.step_mg_per_day
    if step is not None and step <= 0:
        raise ClinicalInputError("step_mg_per_day", "must be greater than 0")

    def per_admin(day_total: Decimal) -> Decimal:
        units = (day_total / n / protocol.dose_step_mg).to_integral_value(rounding=ROUND_FLOOR)
        return units * protocol.dose_step_mg

    plan: list[TitrationStep] = []
    current = start_day
    when = start_date
    while True:
        dose = per_admin(current)
        if dose <= 0:
            raise ClinicalInputError(
                "bsa_m2" if protocol.needs_bsa else "target_mg_per_day",
                f"{_fmt(current / n)} mg rounds down to nothing in "
                f"{_fmt(protocol.dose_step_mg)} mg steps",
            )
        reached = step is None or current >= target
        if not plan:
            reason = f"start: {_fmt(dose)} mg {_times_daily(n)} ({target_text}) [{cite}]"
            if reached:
                reason += "; target reached"
            plan.append(TitrationStep(when, dose, n, dose * n, reason))
        elif dose != plan[-1].mg_per_administration:
            # (a step that rounding leaves unchanged is not a step: no row for it)
            reason = f"+{_fmt(step or Decimal(0))} mg/day every {protocol.interval_days} days"
            if reached:
                reason += f"; target reached ({target_text})"
            plan.append(TitrationStep(when, dose, n, dose * n, f"{reason} [{cite}]"))
        if reached:
            return plan
        assert step is not None
        current = min(current + step, target)
        when = when + timedelta(days=protocol.interval_days)
