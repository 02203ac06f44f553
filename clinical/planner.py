"""The monitoring planner: every lab draw and review a patient needs, with dates and reasons.

``plan(inp: PlanInput) -> list[PlannedEvent]`` is a pure function of the protocol, the
prescription history of one drug, the lab history, risk factors, birth date, sex, open findings
and today. Same input, same output, byte for byte. The Django layer stores the events (synced by
``key``) and sends reminders; nothing here touches a database or a clock.

Inputs (frozen dataclasses, public):

- ``PrescriptionEpisode(id, drug, dose_mg, route, status, start_date, change=OTHER,
  end_date=None, supersedes_id=None, stable_marked_on=None)``: one snapshot of a prescription,
  in force from ``start_date``; ``end_date`` is the day it stopped applying (exclusive; a gap
  before the next snapshot, or an ``end_date`` on the last one, is a stop). ``change`` says what
  happened (``PrescriptionChange``); increases, decreases and route changes are *also derived
  from the numbers* (``dose_mg``/``route`` against the last active snapshot), so a mislabelled
  change cannot hide an increase.
- ``LabDraw(test, collected_on, abnormal=False)``: one test code (``Analyte`` value or
  ``NonLabTest`` value) collected on a LOCAL date (``timeutil.local_date``); ``abnormal`` = a lab
  rule fired (WARNING/CRITICAL) or the lab flagged it. Draws dated after ``today`` are ignored.
- ``OpenFinding(finding_id, rule, raised_on, repeat_within_days, tests, source=None)``: an open
  lab finding asking for a confirmatory repeat; ``raised_on`` = collection date of the result
  that raised it. Pass only the findings this drug's plan should repeat.
- ``PlanInput(protocol, drug, today, birth_date, prescriptions=(), labs=(), sex=UNKNOWN,
  risk_factors=frozenset(), open_findings=())``.

Output ``PlannedEvent(key, anchor_key, kind, drug, tests, earliest, target, latest, phase,
interval_days, completed_on, explanation, protocol_code, source)``, sorted by
(target, kind, key).

Keys (the database sync's identity):

- ``anchor_key`` names *what the event follows*, ``key = f"{anchor_key}:{target}"``:

  =================  =============================================================
  routine            ``{drug}:routine:{anchor}={anchor_date}`` where anchor is
                     ``draw`` (blood actually taken), ``start``, ``restart``,
                     ``route_change`` or ``dose_increase``
  baseline           ``{drug}:baseline:{group}:start={course_start}``
  response review    ``{drug}:response_review:week={n}:start={course_start}``
  confirmatory       ``{drug}:confirmatory:finding={finding_id}``
  =================  =============================================================

  e.g. ``methotrexate:routine:draw=2026-03-02:2026-04-06``. Same inputs → same keys; an event
  that moves gets a new key (a new anchor, or a new target because risk factors, the protocol or
  the phase changed); unrelated inputs (other tests, other findings, a later ``today`` with no new
  results) leave keys unchanged.
- Sync contract (for the Django layer): upsert by ``key``; a *pending* stored event whose key is
  no longer planned is cancelled (superseded); a *completed* stored event is never deleted (if
  its key disappears because its window was re-timed, match it by ``anchor_key``). Response
  reviews are completed by the Django layer when a review is recorded (``completed_on`` is
  always None here).

Behaviour (REF §1, §2; every number is protocol data, see ``clinical.protocols``):

- **Courses.** A course starts when the drug becomes active with no earlier prescription or after
  a stop. Each course gets baseline events and response reviews at 12 and 24 weeks.
- **Baseline** per test group (labs 28 days, serology 90, chest X-ray 365, pregnancy test 7, the
  last only for females or unrecorded sex aged 12–55 at the start): window start − window …
  start, target a week before the start. Done when every test of the group has a result in the
  window (an eGFR by a creatinine, from which it is estimated: issue #15), or up to ``baseline_late_days`` (14) after the start (late). ``completed_on`` is the
  day the last of them was taken (per test: the latest on or before the start, else the first
  after it).
- **Routine draws.** A draw *covers* the routine tests when on one local date there is a
  result for every group of ``Protocol.routine_cover`` (e.g. ALT or AST, WBC, neutrophils,
  platelets, creatinine or eGFR). The next draw is planned from the latest covering draw (the
  date blood was actually taken, not the planned date) or from the latest early-phase restart
  (start, dose increase, restart after a hold, route change: per protocol), whichever is later.
  A change that restarts the early phase never postpones the draw already pending (issue #15:
  a dose increase once cancelled an overdue draw and booked the next one five weeks out): the
  next draw is the earlier of the pending one (kept, overdue or not, with its key) and the
  early-phase interval from the change. A covering draw on or after the pending event's
  ``earliest`` completes it (late if after
  ``latest``); a covering draw before ``earliest`` does not complete it but re-anchors the
  schedule (the pending event is dropped and replaced). Window and target: see
  ``clinical.protocols`` (midpoint of a guideline range; the short end with any risk factor).
- **Phase** of a routine draw = the phase in force on its anchor date. The early phase ends on
  the day the dose becomes stable: unchanged for ``stable_after_days`` (day 42 counts), or the
  day a clinician marks it stable. Any dose change (a decrease too) restarts the 42-day count
  while the early phase lasts; once stable, a decrease does not return to the early phase.
  After a dose increase BSR resumes the previous phase once stable again; restarts after a hold
  and route changes start the whole schedule again.
- **Risk factors** shorten the interval when present: any of ``Protocol.shortening_risk_factors``
  in ``risk_factors``; age under 4 or over 70 in completed years *on the anchor date* (so a
  birthday never rewrites past events, and ``today`` does not change keys); an abnormal draw in
  the 365 days up to the anchor.
- **Held**: routine draws continue at the interval in force (the drug is still in the body and a
  hold is temporary) together with confirmatory repeats. **Stopped**: no routine draws; the
  pending one is dropped; confirmatory repeats for open findings are still planned.
- **Confirmatory repeats**: earliest = target = the day after the result (as soon as possible),
  latest = result + ``repeat_within_days``; done when every test of the finding has a result
  collected after the result date.
- **Horizon**: all events of the history (so the database can mark them done) plus exactly one
  pending routine draw per drug (the next one; the one after it depends on when blood is
  actually taken). Events of a course that has ended appear only if completed (baseline) or due
  before the stop (reviews).

Sources: REF §1 (EULAR/3E 2009 recs 1, 4, 5 via the reference guideline; diabetes needs closer
monitoring; MTX kept ≥ 12 months after improvement), REF §2 (BSR/BHPR 2017 schedule and "stable
for 6 weeks"; CellCept USPI §5.4; children more often with risk factors), REF §3 (repeat within
1 week), REF §7 (reviews at 12 and 24 weeks). Each event carries its ``Source``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from clinical.codes import Analyte, Drug, EventKind, PrescriptionStatus, RiskFactor, Route, Sex
from clinical.labrules import age_in_years
from clinical.protocols import (
    ALL_TEST_CODES,
    DRUG_NOTES,
    TEST_LABELS,
    AfterIncrease,
    BaselineCondition,
    BaselineItem,
    Phase,
    PhaseEnd,
    PrescriptionChange,
    Protocol,
)
from clinical.types import ClinicalInputError, Source

__all__ = [
    "LabDraw",
    "OpenFinding",
    "PlanInput",
    "PlannedEvent",
    "PrescriptionEpisode",
    "plan",
]

_FAR = date.max


@dataclass(frozen=True, slots=True)
class PrescriptionEpisode:
    """One snapshot of a prescription (see the module docstring)."""

    id: str
    drug: Drug
    dose_mg: Decimal
    route: Route
    status: PrescriptionStatus
    start_date: date
    change: PrescriptionChange = PrescriptionChange.OTHER
    end_date: date | None = None
    supersedes_id: str | None = None
    stable_marked_on: date | None = None


@dataclass(frozen=True, slots=True)
class LabDraw:
    test: str
    collected_on: date
    abnormal: bool = False


@dataclass(frozen=True, slots=True)
class OpenFinding:
    finding_id: str
    rule: str
    raised_on: date
    repeat_within_days: int
    tests: tuple[str, ...]
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class PlanInput:
    protocol: Protocol
    drug: Drug
    today: date
    birth_date: date
    prescriptions: tuple[PrescriptionEpisode, ...] = ()
    labs: tuple[LabDraw, ...] = ()
    sex: Sex = Sex.UNKNOWN
    risk_factors: frozenset[RiskFactor] = frozenset()
    open_findings: tuple[OpenFinding, ...] = ()


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    key: str
    anchor_key: str
    kind: EventKind
    drug: Drug
    tests: tuple[str, ...]
    earliest: date
    target: date
    latest: date
    phase: str
    interval_days: int | None
    completed_on: date | None
    explanation: str
    protocol_code: str
    source: Source


# Issue #15 item 12 (REF §1 last bullet): diabetes keeps its shorter intervals and the
# explanation names why — it raises the risk of methotrexate liver fibrosis.
DIABETES_FIBROSIS_NOTE = "diabetes (raises the risk of methotrexate liver fibrosis, REF §1)"


def _risk_text(rf: RiskFactor, drug: Drug) -> str:
    if rf is RiskFactor.DIABETES and drug is Drug.METHOTREXATE:
        return DIABETES_FIBROSIS_NOTE
    return rf.value.replace("_", " ")


# --- validation ------------------------------------------------------------------------------

_STATUS_OF_CHANGE = {
    PrescriptionChange.HOLD: PrescriptionStatus.HELD,
    PrescriptionChange.STOP: PrescriptionStatus.STOPPED,
    PrescriptionChange.START: PrescriptionStatus.ACTIVE,
    PrescriptionChange.RESTART: PrescriptionStatus.ACTIVE,
    PrescriptionChange.DOSE_INCREASE: PrescriptionStatus.ACTIVE,
    PrescriptionChange.DOSE_DECREASE: PrescriptionStatus.ACTIVE,
    PrescriptionChange.ROUTE_CHANGE: PrescriptionStatus.ACTIVE,
}


def _validate(inp: PlanInput) -> None:
    p = inp.protocol
    if Drug(inp.drug) not in p.drugs:
        raise ClinicalInputError("drug", f"protocol {p.code} does not cover {inp.drug}")
    if inp.birth_date > inp.today:
        raise ClinicalInputError("birth_date", "the birth date is after today")
    ids: set[str] = set()
    for s in inp.prescriptions:
        if s.id in ids:
            raise ClinicalInputError("prescriptions", f"duplicate snapshot id {s.id!r}")
        ids.add(s.id)
        if s.drug is not inp.drug:
            continue
        if s.dose_mg < 0:
            raise ClinicalInputError("dose_mg", f"snapshot {s.id}: negative dose")
        if s.status is PrescriptionStatus.ACTIVE and s.dose_mg == 0:
            raise ClinicalInputError("dose_mg", f"snapshot {s.id}: active with a zero dose")
        if s.end_date is not None and s.end_date < s.start_date:
            raise ClinicalInputError("end_date", f"snapshot {s.id}: ends before it starts")
        if s.start_date < inp.birth_date:
            raise ClinicalInputError("start_date", f"snapshot {s.id}: before the birth date")
        expected = _STATUS_OF_CHANGE.get(PrescriptionChange(s.change))
        if expected is not None and s.status is not expected:
            raise ClinicalInputError(
                "change", f"snapshot {s.id}: change {s.change} with status {s.status}"
            )
    for rf in inp.risk_factors:
        try:
            RiskFactor(rf)
        except ValueError as exc:
            raise ClinicalInputError("risk_factors", f"unknown risk factor {rf!r}") from exc
    for d in inp.labs:
        if d.test not in ALL_TEST_CODES:
            raise ClinicalInputError("labs", f"unknown test code {d.test!r}")
    for f in inp.open_findings:
        if f.repeat_within_days < 1:
            raise ClinicalInputError("open_findings", f"{f.finding_id}: repeat_within_days < 1")
        if not f.tests or any(t not in ALL_TEST_CODES for t in f.tests):
            raise ClinicalInputError("open_findings", f"{f.finding_id}: bad or no tests")


# --- prescription timeline -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    on: date
    kinds: frozenset[PrescriptionChange]
    status: PrescriptionStatus
    snapshot: PrescriptionEpisode | None  # None for an implicit stop (end_date or gap)
    new_course: bool
    dose_changed: bool


_RESTART_PRIORITY = (
    PrescriptionChange.START,
    PrescriptionChange.RESTART,
    PrescriptionChange.ROUTE_CHANGE,
    PrescriptionChange.DOSE_INCREASE,
)


def _ordered(snapshots: list[PrescriptionEpisode]) -> list[PrescriptionEpisode]:
    by_id = {s.id: s for s in snapshots}

    def depth(s: PrescriptionEpisode) -> int:
        n, seen, cur = 0, {s.id}, s
        while cur.supersedes_id is not None and cur.supersedes_id in by_id:
            cur = by_id[cur.supersedes_id]
            if cur.id in seen:
                raise ClinicalInputError("supersedes_id", f"cycle through snapshot {cur.id!r}")
            seen.add(cur.id)
            n += 1
        return n

    return sorted(snapshots, key=lambda s: (s.start_date, depth(s), s.id))


def _changes(snapshots: list[PrescriptionEpisode]) -> list[_Change]:
    out: list[_Change] = []
    prev: PrescriptionEpisode | None = None
    prev_status: PrescriptionStatus | None = None  # None: never prescribed
    last_active: PrescriptionEpisode | None = None
    stop = PrescriptionStatus.STOPPED
    for s in _ordered(snapshots):
        if (
            prev is not None
            and prev.end_date is not None
            and prev.end_date < s.start_date
            and prev_status is not stop
        ):
            out.append(
                _Change(
                    prev.end_date, frozenset({PrescriptionChange.STOP}), stop, None, False, False
                )
            )
            prev_status = stop
        kinds = {PrescriptionChange(s.change)}
        new_course = dose_changed = False
        if s.status is PrescriptionStatus.ACTIVE:
            if prev_status is None or prev_status is stop:
                new_course = True
                kinds.add(PrescriptionChange.START)
            else:
                if prev_status is PrescriptionStatus.HELD:
                    kinds.add(PrescriptionChange.RESTART)
                if last_active is not None:
                    if s.dose_mg > last_active.dose_mg:
                        kinds.add(PrescriptionChange.DOSE_INCREASE)
                    elif s.dose_mg < last_active.dose_mg:
                        kinds.add(PrescriptionChange.DOSE_DECREASE)
                    if s.route is not last_active.route:
                        kinds.add(PrescriptionChange.ROUTE_CHANGE)
                dose_changed = bool(
                    kinds
                    & {
                        PrescriptionChange.DOSE_INCREASE,
                        PrescriptionChange.DOSE_DECREASE,
                        PrescriptionChange.ROUTE_CHANGE,
                        PrescriptionChange.RESTART,
                        PrescriptionChange.START,
                    }
                )
            last_active = s
            status = s.status
        elif s.status is PrescriptionStatus.HELD:
            if prev_status is PrescriptionStatus.ACTIVE:
                kinds.add(PrescriptionChange.HOLD)
            # held without ever having been active (or after a stop): nothing has started
            status = s.status if prev_status is not None and prev_status is not stop else stop
        else:
            kinds.add(PrescriptionChange.STOP)
            status = stop
        out.append(_Change(s.start_date, frozenset(kinds), status, s, new_course, dose_changed))
        prev, prev_status = s, status
    if prev is not None and prev.end_date is not None and prev_status is not stop:
        out.append(
            _Change(prev.end_date, frozenset({PrescriptionChange.STOP}), stop, None, False, False)
        )
    return out


@dataclass(frozen=True, slots=True)
class _Episode:
    """A stretch from an early-phase (re)start to the next one or the end of the course."""

    start: date
    anchor: str  # "start", "restart", "route_change", "dose_increase"
    phase_order: tuple[int, ...]  # indices into protocol.phases
    stable_on: date | None
    course_start: date


def _restart_kind(protocol: Protocol, c: _Change) -> PrescriptionChange | None:
    if c.status is not PrescriptionStatus.ACTIVE:
        return None
    hits = c.kinds & protocol.early_phase_restarts_on
    if c.new_course:
        return PrescriptionChange.START
    for kind in _RESTART_PRIORITY:
        if kind in hits:
            return kind
    return None


def _phase_at(protocol: Protocol, ep: _Episode, on: date) -> tuple[Phase, int]:
    t = ep.start
    for idx in ep.phase_order:
        ph = protocol.phases[idx]
        if ph.ends is PhaseEnd.DOSE_STABLE:
            end = max(t, ep.stable_on) if ep.stable_on is not None else _FAR
        elif ph.ends is PhaseEnd.AFTER_DAYS:
            assert ph.duration_days is not None
            end = t + timedelta(days=ph.duration_days)
        else:
            end = _FAR
        if on < end:
            return ph, idx
        t = end
    last = ep.phase_order[-1]  # pragma: no cover - the last phase never ends
    return protocol.phases[last], last


def _stable_on(
    protocol: Protocol, changes: list[_Change], start: int, stop: int, end: date
) -> date | None:
    """The day the dose becomes stable within changes[start:stop] (episode ends on ``end``)."""
    clock = [changes[start].on]
    marks: list[date] = []
    for c in changes[start:stop]:
        if c is not changes[start] and c.dose_changed and c.status is PrescriptionStatus.ACTIVE:
            clock.append(c.on)
        s = c.snapshot
        # A mark dated before its own snapshot or before this episode is stale (copied forward
        # from an earlier snapshot) and ignored: it must not skip a restarted early phase.
        m = s.stable_marked_on if s is not None else None
        if s is not None and m is not None and m >= s.start_date and m >= changes[start].on:
            marks.append(m)
    candidates = [m for m in marks if m < end]
    stable_after = timedelta(days=protocol.stable_after_days)
    for i, c in enumerate(clock):
        nxt = clock[i + 1] if i + 1 < len(clock) else _FAR
        if c + stable_after <= nxt:
            candidates.append(c + stable_after)
            break
    return min(candidates) if candidates else None


# --- helpers ---------------------------------------------------------------------------------


def _span(days: int) -> str:
    if days % 7 == 0:
        weeks = days // 7
        return f"{weeks} week" if weeks == 1 else f"{weeks} weeks"
    return f"{days} day" if days == 1 else f"{days} days"


def _d(x: date) -> str:
    return x.isoformat()


_ANCHOR_TEXT = {
    "draw": "the blood taken on {}",
    "start": "the start of treatment on {}",
    "restart": "the restart on {}",
    "route_change": "the route change on {}",
    "dose_increase": "the dose increase on {}",
}
_KIND_ORDER = {
    EventKind.BASELINE: 0,
    EventKind.CONFIRMATORY: 1,
    EventKind.ROUTINE: 2,
    EventKind.RESPONSE_REVIEW: 3,
}


class _Planner:
    def __init__(self, inp: PlanInput) -> None:
        self.inp = inp
        self.p = inp.protocol
        self.drug = Drug(inp.drug)
        self.labs = sorted(
            (d for d in inp.labs if d.collected_on <= inp.today),
            key=lambda d: (d.collected_on, d.test, d.abnormal),
        )
        self.by_date: dict[date, set[str]] = defaultdict(set)
        for d in self.labs:
            self.by_date[d.collected_on].add(d.test)
        self.events: list[PlannedEvent] = []

    # -- routine ------------------------------------------------------------------------------

    def covering_dates(self) -> list[date]:
        return sorted(
            day
            for day, tests in self.by_date.items()
            if all(group & tests for group in self.p.routine_cover)
        )

    def shortening(self, anchor: date) -> list[str]:
        present = {RiskFactor(rf) for rf in self.inp.risk_factors}
        reasons = [
            _risk_text(rf, self.drug) for rf in sorted(present & self.p.shortening_risk_factors)
        ]
        age = age_in_years(self.inp.birth_date, anchor)
        if age < self.p.shorten_below_age:
            reasons.append(f"age {age} (under {self.p.shorten_below_age})")
        if age > self.p.shorten_above_age:
            reasons.append(f"age {age} (over {self.p.shorten_above_age})")
        since = anchor - timedelta(days=self.p.abnormal_lookback_days)
        abnormal = [
            d.collected_on for d in self.labs if d.abnormal and since <= d.collected_on <= anchor
        ]
        if abnormal:
            reasons.append(f"an abnormal result on {_d(max(abnormal))}")
        return reasons

    def routine_event(
        self, ep: _Episode, anchor_kind: str, anchor: date, held_since: date | None
    ) -> PlannedEvent:
        ph, _ = _phase_at(self.p, ep, anchor)
        reasons = self.shortening(anchor)
        shortened = bool(reasons) and ph.min_days < ph.default_days
        if shortened:
            interval = ph.min_days
            earliest = anchor + timedelta(days=interval - ph.tolerance_days)
            latest = anchor + timedelta(days=interval + ph.tolerance_days)
            how = f"short end because of {', '.join(reasons)}"
        else:
            interval = ph.default_days
            lo = ph.min_days if ph.min_days < interval else interval - ph.tolerance_days
            hi = ph.max_days if ph.max_days > interval else interval + ph.tolerance_days
            earliest = anchor + timedelta(days=lo)
            latest = anchor + timedelta(days=hi)
            how = "midpoint of the range" if ph.is_range else ""
        target = anchor + timedelta(days=interval)
        detail = "; ".join(x for x in (ph.range_text(), how, ph.note or "") if x)
        held = (
            f", {self.drug.value.replace('_', ' ')} held since {_d(held_since)} so monitoring "
            "continues"
            if held_since is not None
            else ""
        )
        source = ph.source or self.p.source
        explanation = (
            f"Routine draw ({ph.name} phase, {detail}) {_span(interval)} after "
            f"{_ANCHOR_TEXT[anchor_kind].format(_d(anchor))}{held} — {source.cite()}."
        )
        anchor_key = f"{self.drug.value}:routine:{anchor_kind}={_d(anchor)}"
        return PlannedEvent(
            key=f"{anchor_key}:{_d(target)}",
            anchor_key=anchor_key,
            kind=EventKind.ROUTINE,
            drug=self.drug,
            tests=tuple(str(t) for t in self.p.routine_tests),
            earliest=earliest,
            target=target,
            latest=latest,
            phase=ph.name,
            interval_days=interval,
            completed_on=None,
            explanation=explanation,
            protocol_code=self.p.code,
            source=source,
        )

    def routine_and_courses(self, changes: list[_Change]) -> list[tuple[date, date | None]]:
        """Walk the timeline; emit routine events; return the courses as (start, end)."""
        covering = self.covering_dates()
        points: list[tuple[date, int, int]] = [(d, 0, i) for i, d in enumerate(covering)]
        points += [(c.on, 1, i) for i, c in enumerate(changes)]
        points.sort()

        # episodes: indices of changes that (re)start the early phase
        starts = [i for i, c in enumerate(changes) if _restart_kind(self.p, c) is not None]
        episodes: dict[int, _Episode] = {}
        previous: _Episode | None = None
        for n, i in enumerate(starts):
            c = changes[i]
            nxt = starts[n + 1] if n + 1 < len(starts) else len(changes)
            stop_idx = next(
                (j for j in range(i + 1, nxt) if changes[j].status is PrescriptionStatus.STOPPED),
                nxt,
            )
            end = changes[stop_idx].on if stop_idx < len(changes) else _FAR
            kind = _restart_kind(self.p, c)
            assert kind is not None
            order = tuple(range(len(self.p.phases)))
            course_start = c.on if c.new_course or previous is None else previous.course_start
            only_increase = (c.kinds & self.p.early_phase_restarts_on) == {
                PrescriptionChange.DOSE_INCREASE
            }
            if (
                self.p.after_increase is AfterIncrease.RESUME
                and only_increase
                and not c.new_course
                and previous is not None
            ):
                _, before = _phase_at(self.p, previous, c.on)
                if before != 0:
                    pos = previous.phase_order.index(before)
                    order = (0, *previous.phase_order[pos:])
            ep = _Episode(
                start=c.on,
                anchor=kind.value,
                phase_order=order,
                stable_on=_stable_on(self.p, changes, i, stop_idx, end),
                course_start=course_start,
            )
            episodes[i] = ep
            previous = ep

        courses: list[tuple[date, date | None]] = []
        episode: _Episode | None = None
        status: PrescriptionStatus | None = None
        held_since: date | None = None
        pending: PlannedEvent | None = None
        for on, what, i in points:
            if what == 0:  # a covering draw
                if episode is None or status not in (
                    PrescriptionStatus.ACTIVE,
                    PrescriptionStatus.HELD,
                ):
                    continue
                if pending is not None and on >= pending.earliest:
                    self.events.append(_completed(pending, on))
                pending = self.routine_event(episode, "draw", on, held_since)
                continue
            c = changes[i]
            if c.status is PrescriptionStatus.STOPPED:
                if status in (PrescriptionStatus.ACTIVE, PrescriptionStatus.HELD) and courses:
                    courses[-1] = (courses[-1][0], on)
                pending, episode, held_since = None, None, None
                status = c.status
                continue
            if i in episodes:
                episode = episodes[i]
                if c.new_course:
                    courses.append((c.on, None))
                held_since = None
                fresh = self.routine_event(episode, episode.anchor, on, None)
                # A dose increase, restart or route change never postpones blood tests (issue
                # #15): the next draw is the earlier of the one already due and the
                # early-phase interval from the change.
                if pending is None or fresh.target < pending.target:
                    pending = fresh
            elif c.status is PrescriptionStatus.HELD and status is PrescriptionStatus.ACTIVE:
                held_since = on
            elif c.status is PrescriptionStatus.ACTIVE:
                held_since = None
            status = c.status if episode is not None else status
        if pending is not None:
            self.events.append(pending)
        return courses

    # -- baseline, reviews, confirmatory ------------------------------------------------------

    def baseline(self, start: date, ended: date | None) -> None:
        age = age_in_years(self.inp.birth_date, start)
        groups: dict[str, list[BaselineItem]] = defaultdict(list)
        for item in self.p.baseline_for(self.drug):
            if item.condition is BaselineCondition.FEMALE_12_55 and not (
                self.inp.sex is not Sex.MALE and 12 <= age <= 55
            ):
                continue
            groups[item.group].append(item)
        late = timedelta(days=self.p.baseline_late_days)
        for group, items in groups.items():
            window = max(i.window_days for i in items)
            earliest = start - timedelta(days=window)
            target = max(earliest, start - timedelta(days=self.p.baseline_target_days_before))
            chosen: list[date] = []
            estimated = False
            for item in items:
                lo = start - timedelta(days=item.window_days)
                dates = [
                    d.collected_on
                    for d in self.labs
                    if d.test == item.test and lo <= d.collected_on <= start + late
                ]
                if item.test == Analyte.EGFR and not dates:
                    # issue #15: with creatinine and no eGFR, an eGFR is estimated from it
                    # (clinical.renal: CKD-EPI 2021, bedside Schwartz under 18)
                    dates = [
                        d.collected_on
                        for d in self.labs
                        if d.test == Analyte.CREATININE and lo <= d.collected_on <= start + late
                    ]
                    estimated = bool(dates)
                before = [x for x in dates if x <= start]
                after = [x for x in dates if x > start]
                if before:
                    chosen.append(max(before))
                elif after:
                    chosen.append(min(after))
            completed = max(chosen) if len(chosen) == len(items) else None
            if ended is not None and completed is None:
                continue
            source = items[0].source or self.p.source
            notes = sorted({i.note for i in items if i.note})
            if estimated:
                notes.append(
                    "eGFR estimated from creatinine (CKD-EPI 2021; bedside Schwartz under 18)"
                )
            tests = tuple(str(i.test) for i in items)
            anchor_key = f"{self.drug.value}:baseline:{group}:start={_d(start)}"
            names = ", ".join(TEST_LABELS[t] for t in tests)
            explanation = (
                f"Baseline {group.replace('_', ' ')} ({names}) within {_span(window)} before "
                f"starting {self.drug.value.replace('_', ' ')} on {_d(start)}"
                f"{'; ' + '; '.join(notes) if notes else ''} — {source.cite()}."
            )
            self.events.append(
                PlannedEvent(
                    key=f"{anchor_key}:{_d(target)}",
                    anchor_key=anchor_key,
                    kind=EventKind.BASELINE,
                    drug=self.drug,
                    tests=tests,
                    earliest=earliest,
                    target=target,
                    latest=start,
                    phase="baseline",
                    interval_days=None,
                    completed_on=completed,
                    explanation=explanation,
                    protocol_code=self.p.code,
                    source=source,
                )
            )

    def reviews(self, start: date, ended: date | None) -> None:
        notes = "; ".join(
            (*self.p.notes, *([DRUG_NOTES[self.drug]] if self.drug in DRUG_NOTES else []))
        )
        for review in self.p.response_reviews:
            days = review.weeks * 7
            target = start + timedelta(days=days)
            if ended is not None and target > ended:
                continue
            tol = timedelta(days=review.tolerance_days)
            anchor_key = f"{self.drug.value}:response_review:week={review.weeks}:start={_d(start)}"
            extra = "; ".join(x for x in (review.note or "", notes) if x)
            explanation = (
                f"Response review (disease activity, IGA) {review.weeks} weeks after starting "
                f"{self.drug.value.replace('_', ' ')} on {_d(start)}"
                f"{'; ' + extra if extra else ''} — {self.p.review_source.cite()}."
            )
            self.events.append(
                PlannedEvent(
                    key=f"{anchor_key}:{_d(target)}",
                    anchor_key=anchor_key,
                    kind=EventKind.RESPONSE_REVIEW,
                    drug=self.drug,
                    tests=(),
                    earliest=target - tol,
                    target=target,
                    latest=target + tol,
                    phase="review",
                    interval_days=days,
                    completed_on=None,
                    explanation=explanation,
                    protocol_code=self.p.code,
                    source=self.p.review_source,
                )
            )

    def confirmatory(self, f: OpenFinding) -> None:
        earliest = f.raised_on + timedelta(days=1)
        latest = f.raised_on + timedelta(days=f.repeat_within_days)
        firsts: list[date] = []
        for test in f.tests:
            after = [
                d.collected_on for d in self.labs if d.test == test and d.collected_on > f.raised_on
            ]
            if after:
                firsts.append(min(after))
        completed = max(firsts) if len(firsts) == len(f.tests) else None
        source = f.source or self.p.source
        anchor_key = f"{self.drug.value}:confirmatory:finding={f.finding_id}"
        tests = tuple(str(t) for t in f.tests)
        explanation = (
            f"Confirmatory repeat of {', '.join(TEST_LABELS[t] for t in tests)} for finding {f.rule} on the result of "
            f"{_d(f.raised_on)}, as soon as possible and within {_span(f.repeat_within_days)} "
            f"(by {_d(latest)}) — {source.cite()}."
        )
        self.events.append(
            PlannedEvent(
                key=f"{anchor_key}:{_d(earliest)}",
                anchor_key=anchor_key,
                kind=EventKind.CONFIRMATORY,
                drug=self.drug,
                tests=tests,
                earliest=earliest,
                target=earliest,
                latest=latest,
                phase="confirmatory",
                interval_days=f.repeat_within_days,
                completed_on=completed,
                explanation=explanation,
                protocol_code=self.p.code,
                source=source,
            )
        )


def _completed(event: PlannedEvent, on: date) -> PlannedEvent:
    return PlannedEvent(
        key=event.key,
        anchor_key=event.anchor_key,
        kind=event.kind,
        drug=event.drug,
        tests=event.tests,
        earliest=event.earliest,
        target=event.target,
        latest=event.latest,
        phase=event.phase,
        interval_days=event.interval_days,
        completed_on=on,
        explanation=event.explanation,
        protocol_code=event.protocol_code,
        source=event.source,
    )


def plan(inp: PlanInput) -> list[PlannedEvent]:
    """Every monitoring event for ``inp.drug`` under ``inp.protocol`` (module docstring)."""
    _validate(inp)
    planner = _Planner(inp)
    snapshots = [s for s in inp.prescriptions if s.drug is inp.drug]
    changes = _changes(snapshots)
    courses = planner.routine_and_courses(changes)
    for start, ended in courses:
        planner.baseline(start, ended)
        planner.reviews(start, ended)
    for finding in sorted(inp.open_findings, key=lambda f: (f.raised_on, f.finding_id)):
        planner.confirmatory(finding)
    events = sorted(planner.events, key=lambda e: (e.target, _KIND_ORDER[e.kind], e.key))
    keys = [e.key for e in events]
    if len(keys) != len(set(keys)):  # pragma: no cover - a design invariant, fail loudly
        raise AssertionError(f"duplicate planned event keys: {keys}")
    return events
