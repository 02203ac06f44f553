"""Writes for monitoring events, alerts and notifications (thin shells over `clinical/`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from audit.system import system_actor
from clinical import codes
from mtxmonitor.bulk import insert_with_history
from patients.models import DiseaseAssessment, LabResult, Patient, Prescription
from schedules.models import Alert, MonitoringEvent


def _require_note(note: str, field: str = "note") -> str:
    note = (note or "").strip()
    if not note:
        raise ValidationError({field: "A note is required: say what was done or decided."})
    return note


@transaction.atomic
def alert_acknowledge(*, alert: Alert, user, note: str) -> Alert:
    """Open → acknowledged, with who, when and a note (a reason is required: no silent snooze)."""
    note = _require_note(note)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != Alert.Status.OPEN:
        raise ValidationError(
            {"status": f"Only an open alert can be acknowledged (it is {alert.status})."}
        )
    alert.status = Alert.Status.ACKNOWLEDGED
    alert.acknowledged_by = user
    alert.acknowledged_at = timezone.now()
    alert.acknowledge_note = note
    alert.save()
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, user, note: str) -> Alert:
    """Open or acknowledged → resolved, with who, when and a note."""
    note = _require_note(note)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status not in Alert.ACTIVE_STATUSES:
        raise ValidationError(
            {
                "status": f"Only an open or acknowledged alert can be resolved (it is {alert.status})."
            }
        )
    if alert.acknowledged_at is None:
        alert.acknowledged_by = user
        alert.acknowledged_at = timezone.now()
        alert.acknowledge_note = note
    alert.status = Alert.Status.RESOLVED
    alert.resolved_by = user
    alert.resolved_at = timezone.now()
    alert.resolve_note = note
    alert.save()
    return alert


# --- issue #15: completing a test with a reason -----------------------------------------------
COMPLETABLE_KINDS = (codes.EventKind.BASELINE.value, codes.EventKind.ROUTINE.value)


def validate_completion(event: MonitoringEvent, *, reason: str, done_on, note: str, today):
    """The completion-with-reason rules (see `event_complete_with_reason`); returns the date the
    test counts as done. One set of rules for the admin form, the API and the service."""
    reasons = MonitoringEvent.CompletionReason
    if reason not in reasons.values:
        raise ValidationError(
            {"reason": f"Unknown reason {reason!r}: one of {', '.join(reasons.values)}."}
        )
    if event.kind not in COMPLETABLE_KINDS:
        what = (
            "a response review is completed by recording an IGA assessment"
            if event.kind == codes.EventKind.RESPONSE_REVIEW.value
            else "a confirmatory repeat of an abnormal result must be done"
        )
        raise ValidationError({"reason": f"Only a baseline or routine test can be: {what}."})
    if event.status not in MonitoringEvent.OPEN_STATUSES:
        raise ValidationError(
            {"reason": f"Only an open test can be completed (it is {event.status})."}
        )
    if reason == reasons.DONE_ELSEWHERE:
        if done_on is None:
            raise ValidationError({"done_on": "Say when it was done at the other hospital."})
        if done_on > today:
            raise ValidationError({"done_on": f"{done_on} is in the future."})
        return done_on
    if event.kind != codes.EventKind.BASELINE.value:
        raise ValidationError(
            {
                "reason": "A routine blood test cannot be waived while the drug is prescribed: "
                "record where it was done, or change the prescription."
            }
        )
    if reason == reasons.NOT_INDICATED and not note:
        raise ValidationError({"note": "Say why it is not indicated."})
    return today


def apply_completion(event: MonitoringEvent, *, reason: str, done_on, note: str, user, today):
    """Set the completion fields (validated by `validate_completion`); the caller saves."""
    reasons = MonitoringEvent.CompletionReason
    event.status = Status.DONE
    event.completed_on = done_on
    event.completion_reason = reason
    event.completion_note = note
    event.completed_by = user
    event.completed_at = timezone.now()
    when = f" (done {done_on})" if reason == reasons.DONE_ELSEWHERE else ""
    why = f": {note}" if note else ""
    event.explanation = (
        f"{event.explanation} Completed on {today} with a reason: "
        f"{reasons(reason).label.lower()}{when}{why}."
    )


@transaction.atomic
def event_complete_with_reason(
    *, event: MonitoringEvent, user, reason: str, done_on=None, note: str = ""
) -> MonitoringEvent:
    """Complete a baseline or routine test that cannot be done here or was done elsewhere.

    - ``done_elsewhere`` needs the date it was done (not in the future); the planner then counts
      it as taken that day (a routine draw's next one follows it).
    - ``not_applicable_for_age`` / ``not_indicated``: baseline only, a note for the latter. A
      routine blood test is never waived: that would silence monitoring of a patient on the
      drug (record where it was done, or change the prescription).
    The event becomes done with who, when, why; its reminders stop (only open events are
    reminded, and a waiting reminder is dropped when its digest is sent). Refusals name the
    field (ValidationError), never a silent change."""
    event = (
        MonitoringEvent.objects.select_for_update()
        .select_related("patient__clinic")
        .get(pk=event.pk)
    )
    today = event.patient.clinic.today()
    note = (note or "").strip()
    done_on = validate_completion(event, reason=reason, done_on=done_on, note=note, today=today)
    apply_completion(event, reason=reason, done_on=done_on, note=note, user=user, today=today)
    event.save()
    dispatch_replan(event.patient_id)
    return event


# --- Planning and evaluation (bodies land with the clinical planner / lab rules) -------------
def dispatch_replan(patient_id: int) -> None:
    """Re-plan a patient's monitoring after the current transaction commits.

    The plan is marked stale in this transaction too, so the periodic re-plan sweep redoes it
    should the dispatch be lost."""
    from schedules.signals import mark_plans_stale

    mark_plans_stale([patient_id])

    def send() -> None:
        from mtxmonitor.dispatch import publish
        from schedules.tasks import replan_patient

        # Broker down: logged, and the periodic re-plan sweep (schedules.tasks.replan_stale,
        # every MTXMONITOR_REPLAN_SECONDS) re-syncs every plan older than its inputs.
        publish(replan_patient, patient_id, what=f"re-planning of patient {patient_id}")

    transaction.on_commit(send)


# --- The monitoring plan --------------------------------------------------------------------
MONITORED_DRUGS = (codes.Drug.METHOTREXATE, codes.Drug.MYCOPHENOLATE_MOFETIL)
Status = MonitoringEvent.Status


def protocol_for(patient: Patient, drug: codes.Drug, prescription: Prescription | None):
    """The prescription's own protocol, else the clinic's default for the drug."""
    from clinical.protocols import PROTOCOLS, default_protocol_for

    code = (
        prescription.protocol
        if prescription and prescription.protocol
        else (
            patient.clinic.mtx_protocol
            if drug is codes.Drug.METHOTREXATE
            else patient.clinic.mmf_protocol
        )
    )
    protocol = PROTOCOLS.get(code)
    if protocol is None or drug not in protocol.drugs:
        protocol = default_protocol_for(drug)
    return protocol


def _episode(rx: Prescription):
    from clinical.planner import PrescriptionEpisode
    from clinical.protocols import PrescriptionChange

    active = rx.status == codes.PrescriptionStatus.ACTIVE.value
    return PrescriptionEpisode(
        id=str(rx.pk),
        drug=codes.Drug(rx.drug),
        dose_mg=rx.dose_mg,
        route=codes.Route(rx.route),
        status=codes.PrescriptionStatus(rx.status),
        start_date=rx.start_date,
        change=PrescriptionChange(rx.change),
        end_date=rx.end_date if active else None,
        supersedes_id=str(rx.supersedes_id) if rx.supersedes_id else None,
        stable_marked_on=rx.stable_marked_on,
    )


@dataclass
class PlanData:
    """Everything the planner reads for one patient, loaded for many patients at once
    (`load_plan_data`: a fixed number of queries per call, however many patients)."""

    patient: Patient
    prescriptions: list[Prescription] = field(default_factory=list)  # by start date, id
    results: list[tuple[int, str, object]] = field(
        default_factory=list
    )  # id, analyte, collected_at
    alerts: list[Alert] = field(default_factory=list)  # every alert of the patient
    done_events: list[tuple[list, object]] = field(default_factory=list)  # tests, completed_on
    events: dict[str, MonitoringEvent] = field(default_factory=dict)  # by key
    assessments: list = field(default_factory=list)  # assessed_on, ascending
    # issue #15: tests done at another hospital (tests, date), counted as taken that day
    elsewhere: list[tuple[list, object]] = field(default_factory=list)

    @property
    def heads(self) -> list[Prescription]:
        return current_prescriptions(self.prescriptions)


def current_prescriptions(prescriptions: list[Prescription]) -> list[Prescription]:
    """The current row of each treatment course among a patient's prescriptions: the ones
    nobody supersedes (what `superseded_by__isnull=True` selects, without a query)."""
    superseded = {r.supersedes_id for r in prescriptions if r.supersedes_id}
    return [r for r in prescriptions if r.pk not in superseded]


def load_plan_data(
    patients: list[Patient],
    *,
    prescriptions: dict[int, list[Prescription]] | None = None,
    results: dict[int, list[tuple[int, str, object]]] | None = None,
) -> dict[int, PlanData]:
    """Load the planner's inputs for these patients, one query per table for all of them.

    `prescriptions` and `results` may be passed in when the caller has just read them (the lab
    evaluation does), so they are not read twice."""
    data = {p.pk: PlanData(patient=p) for p in patients}
    ids = list(data)
    if not ids:
        return data
    if prescriptions is None:
        prescriptions = {}
        for rx in Prescription.objects.filter(patient_id__in=ids).order_by("start_date", "id"):
            prescriptions.setdefault(rx.patient_id, []).append(rx)
    if results is None:
        results = {}
        for rid, pid, analyte, at in LabResult.objects.filter(patient_id__in=ids).values_list(
            "id", "patient_id", "analyte", "collected_at"
        ):
            results.setdefault(pid, []).append((rid, analyte, at))
    for pid, d in data.items():
        d.prescriptions = prescriptions.get(pid, [])
        d.results = results.get(pid, [])
    for alert in Alert.objects.filter(patient_id__in=ids).only(
        "id", "patient_id", "lab_result_id", "rule", "severity", "status", "details", "raised_at"
    ):
        data[alert.patient_id].alerts.append(alert)
    for event in MonitoringEvent.objects.filter(patient_id__in=ids):
        d = data[event.patient_id]
        d.events[event.key] = event
        if event.status == Status.DONE and event.completed_on is not None:
            d.done_events.append((event.tests, event.completed_on))
            if event.completion_reason == MonitoringEvent.CompletionReason.DONE_ELSEWHERE:
                d.elsewhere.append((event.tests, event.completed_on))  # issue #15
    for pid, on in (
        DiseaseAssessment.objects.filter(patient_id__in=ids)
        .order_by("assessed_on")
        .values_list("patient_id", "assessed_on")
    ):
        data[pid].assessments.append(on)
    return data


def build_plan(patient: Patient, today, data: PlanData | None = None) -> list:
    """Run the pure planner for every monitored drug the patient has ever been prescribed."""
    from clinical.planner import LabDraw, OpenFinding, PlanInput, plan
    from clinical.timeutil import local_date

    if data is None:
        data = load_plan_data([patient])[patient.pk]
    tz = patient.clinic.time_zone
    rxs = data.prescriptions
    abnormal = {
        a.lab_result_id
        for a in data.alerts
        if a.severity in ("warning", "critical") and a.status != Alert.Status.SUPERSEDED
    }
    draws = [
        LabDraw(test=analyte, collected_on=local_date(at, tz), abnormal=rid in abnormal)
        for rid, analyte, at in data.results
    ]
    # Tests without a lab result (chest X-ray, serology done elsewhere) recorded on their event.
    analytes = {a.value for a in codes.Analyte}
    for tests, done_on in data.done_events:
        draws.extend(LabDraw(test=t, collected_on=done_on) for t in tests if t not in analytes)
    for tests, done_on in data.elsewhere:  # issue #15: blood taken at another hospital
        draws.extend(LabDraw(test=t, collected_on=done_on) for t in tests if t in analytes)
    collected = {rid: at for rid, _, at in data.results}
    findings = [
        a
        for a in data.alerts
        if a.status in Alert.ACTIVE_STATUSES and a.details.get("repeat_within_days") is not None
    ]
    # issue #15: a finding superseded (e.g. by its confirmation) or resolved while its
    # confirmatory repeat is still open is planned once more, so a repeat that was done is
    # recorded as done; one not done is then cancelled as before.
    open_repeats = {
        e.key.rsplit("finding=", 1)[-1].split(":", 1)[0]
        for e in data.events.values()
        if e.kind == codes.EventKind.CONFIRMATORY.value
        and e.status in MonitoringEvent.OPEN_STATUSES
    }
    lapsed = {
        str(a.pk)
        for a in data.alerts
        if a.status not in Alert.ACTIVE_STATUSES
        and a.details.get("repeat_within_days") is not None
        and str(a.pk) in open_repeats
    }
    findings += [a for a in data.alerts if str(a.pk) in lapsed]
    risk = frozenset(codes.RiskFactor(r) for r in patient.risk_factors)
    heads = {r.pk for r in data.heads}
    events = []
    for drug in MONITORED_DRUGS:
        mine = [r for r in rxs if r.drug == drug.value]
        if not mine:
            continue
        current = next((r for r in reversed(mine) if r.pk in heads), mine[-1])
        protocol = protocol_for(patient, drug, current)
        open_findings = tuple(
            OpenFinding(
                finding_id=str(a.pk),
                rule=a.rule,
                raised_on=(
                    local_date(collected[a.lab_result_id], tz)
                    if a.lab_result_id in collected
                    else today
                ),
                repeat_within_days=int(a.details["repeat_within_days"]),
                tests=tuple(a.details.get("tests_to_repeat") or ()),
            )
            for a in findings
            if a.details.get("repeat_within_days") and drug.value in a.details.get("drugs", [])
        )
        planned = plan(
            PlanInput(
                protocol=protocol,
                drug=drug,
                today=today,
                birth_date=patient.birth_date,
                prescriptions=tuple(_episode(r) for r in mine),
                labs=tuple(draws),
                sex=codes.Sex(patient.sex),
                risk_factors=risk,
                open_findings=open_findings,
            )
        )
        events.extend(
            pe
            for pe in planned
            if not (
                pe.kind is codes.EventKind.CONFIRMATORY
                and pe.completed_on is None
                and pe.anchor_key.rsplit("finding=", 1)[-1] in lapsed
            )
        )
    return events


SYNCED_FIELDS = (
    "kind",
    "drug",
    "tests",
    "earliest",
    "target",
    "latest",
    "phase",
    "interval_days",
    "explanation",
    "protocol",
    "source",
)


def _event_values(pe) -> dict:
    return {
        "kind": pe.kind.value,
        "drug": pe.drug.value,
        "tests": list(pe.tests),
        "earliest": pe.earliest,
        "target": pe.target,
        "latest": pe.latest,
        "phase": pe.phase,
        "interval_days": pe.interval_days,
        "explanation": pe.explanation,
        "protocol": pe.protocol_code,
        "source": pe.source.cite()[:300],
    }


@transaction.atomic
def sync_plan(patient_id: int, today=None) -> dict[str, int]:
    """Store the planner's output for one patient idempotently (see `sync_plans`)."""
    patient = (
        Patient.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=patient_id)
    )
    return sync_plans([patient], today=today)[patient.pk]


def sync_plans(
    patients: list[Patient], *, today=None, data: dict[int, PlanData] | None = None
) -> dict[int, dict[str, int]]:
    """Store the planner's output idempotently: unchanged events untouched, new ones created,
    obsolete pending ones cancelled, completed and cancelled ones never rewritten.

    The caller holds the patients' row locks (`select_for_update`) inside its transaction, so
    two workers re-planning the same patient cannot interleave. Many patients at once cost the
    same handful of queries as one: their inputs are read together (`load_plan_data`) and the
    changes written together (one INSERT, one UPDATE and their history rows)."""
    if data is None:
        data = load_plan_data(patients)
    now = timezone.now()
    to_create: list[MonitoringEvent] = []
    # Each changed event is written with only the fields that changed for it (grouped, one
    # UPDATE per distinct set), so a status the reminder sweep moved meanwhile is not written
    # back from this read.
    to_update: dict[frozenset[str], list[MonitoringEvent]] = {}
    out: dict[int, dict[str, int]] = {}
    reopened: list[int] = []
    for patient in patients:
        d = data[patient.pk]
        day = today or patient.clinic.today()
        counts = {"created": 0, "updated": 0, "completed": 0, "cancelled": 0, "unchanged": 0}
        out[patient.pk] = counts
        current_rx = {r.drug: r for r in d.heads}
        alert_ids = {str(a.pk) for a in d.alerts}
        seen: set[str] = set()
        for pe in build_plan(patient, day, d):
            seen.add(pe.key)
            values = _event_values(pe)
            completed_on = pe.completed_on
            if pe.kind is codes.EventKind.RESPONSE_REVIEW and completed_on is None:
                # issue #15: an IGA in the review's window, or late while it is still reminded
                # (up to the escalation day); after that the review is missed, and a later IGA
                # belongs to the next review, not to this one.
                last = pe.latest + timedelta(days=max(1, patient.clinic.escalate_after_days))
                completed_on = next(
                    (a for a in d.assessments if pe.earliest <= a <= min(day, last)), None
                )
            event = d.events.get(pe.key)
            if event is None:
                alert_id = None
                if pe.kind is codes.EventKind.CONFIRMATORY:
                    fid = pe.key.rsplit("finding=", 1)[-1].split(":", 1)[0]
                    alert_id = int(fid) if fid in alert_ids else None
                to_create.append(
                    MonitoringEvent(
                        patient=patient,
                        key=pe.key,
                        prescription=current_rx.get(pe.drug.value),
                        status=Status.DONE if completed_on else Status.PLANNED,
                        completed_on=completed_on,
                        alert_id=alert_id,
                        **values,
                    )
                )
                counts["created"] += 1
                continue
            if event.status == Status.DONE:
                counts["unchanged"] += 1  # history is never rewritten
                continue
            changed = {k: v for k, v in values.items() if getattr(event, k) != v}
            if event.status == Status.CANCELLED:
                # Only the planner cancels ("no longer in the plan"); back in the plan (e.g. a
                # risk factor added, then removed), it is open again (issue 14), with the
                # reminders dropped when it was cancelled waiting again.
                changed["status"] = Status.PLANNED
                changed["explanation"] = (
                    f"{values['explanation']} Reopened on {day}: back in the plan after it "
                    "had been cancelled."
                )
                reopened.append(event.pk)
            if completed_on:
                changed.update(status=Status.DONE, completed_on=completed_on)
            if changed:
                for k, v in changed.items():
                    setattr(event, k, v)
                to_update.setdefault(frozenset(changed), []).append(event)
                counts["completed" if completed_on else "updated"] += 1
            else:
                counts["unchanged"] += 1
        for key, event in d.events.items():
            if key not in seen and event.status in MonitoringEvent.OPEN_STATUSES:
                event.status = Status.CANCELLED
                event.explanation = (
                    f"{event.explanation} Cancelled on {day}: no longer in the plan "
                    "(its inputs changed: a newer draw, prescription change or resolved finding)."
                )
                to_update.setdefault(frozenset(("status", "explanation")), []).append(event)
                counts["cancelled"] += 1
    if to_create:
        # One INSERT for the events and one for their history rows, not two per event.
        insert_with_history(to_create, MonitoringEvent)
    for fields, events in to_update.items():
        for event in events:
            event.updated_at = now  # auto_now is not applied by bulk_update
        bulk_update_with_history(
            events,
            MonitoringEvent,
            sorted(fields | {"updated_at"}),
            batch_size=500,
            default_date=now,
            default_user=system_actor(),  # the "system" user inside a Celery task (issue 14)
        )
    if reopened:
        from schedules.models import Reminder

        Reminder.objects.filter(event_id__in=reopened, notification__isnull=True).exclude(
            dropped=""
        ).update(dropped="")
    # The plans are in step with their inputs (the caller holds the patients' row locks, so a
    # change committed meanwhile marks them stale again after this).
    Patient.objects.filter(pk__in=[p.pk for p in patients]).update(
        plan_stale_since=None, plan_synced_at=Now()
    )
    return out


# --- Lab evaluation ---------------------------------------------------------------------------
RULES_COLUMNS = (
    "id",
    "patient_id",
    "analyte",
    "reported_value",
    "reported_unit",
    "reference_low",
    "reference_high",
    "collected_at",
)


def _rules_result(row: tuple, tz: str):
    """A `clinical.labrules.LabResult` from a row of RULES_COLUMNS."""
    from clinical import labrules
    from clinical.timeutil import local_date
    from clinical.units import normalise

    rid, _, analyte, value, unit, low, high, collected_at = row
    return labrules.LabResult(
        analyte=codes.Analyte(analyte),
        result=normalise(analyte, value, unit),
        collected_on=local_date(collected_at, tz),
        reference_low=low,
        reference_high=high,
        result_id=str(rid),
    )


def _finding_details(f) -> dict:
    def num(x):
        return None if x is None else f"{x.normalize():f}"

    return {
        "value": num(f.value),
        "limit": num(f.limit),
        "uln_used": num(f.uln_used),
        "uln_source": f.uln_source,
        "repeat_within_days": f.repeat_within_days,
        "tests_to_repeat": list(f.tests_to_repeat),
        "withhold": f.withhold,
        "supersedes_rule": f.supersedes_rule,
        "drugs": [d.value for d in f.drugs],
    }


def evaluate_result(result_id: int) -> list[int]:
    """Evaluate one result (see `evaluate_results`). Returns the ids of new alerts."""
    return evaluate_results([result_id])


@transaction.atomic
def evaluate_results(result_ids: list[int]) -> list[int]:
    """Run the lab rules on stored results and keep one alert per (result version, rule).

    Idempotent: a result already evaluated at its version is skipped, the patients and the rows
    are locked while evaluated (two workers cannot both do it), and the database refuses a
    second alert for the same result version and rule. An amended result's earlier alerts are
    superseded. New alerts go to `schedules.notify` (critical ones are e-mailed at once) and the
    plans of the patients concerned are re-synced.

    Set-based: a chunk of results of many patients costs a fixed number of queries (the
    patients, their results, prescriptions, alerts and events read once each; alerts, events
    and history rows written in bulk), not a number per patient. Returns the new alerts' ids.
    """
    from clinical import labrules
    from schedules import notify

    patient_ids = sorted(
        set(LabResult.objects.filter(pk__in=result_ids).values_list("patient_id", flat=True))
    )
    if not patient_ids:
        return []
    # Locked in id order (as every chunk locks them), so two chunks cannot deadlock; only the
    # patient rows are locked, not their clinic.
    patients = list(
        Patient.objects.select_for_update(of=("self",))
        .select_related("clinic")
        .filter(pk__in=patient_ids)
        .order_by("pk")
    )
    pending = [
        r
        for r in LabResult.objects.select_for_update()
        .filter(pk__in=result_ids)
        .order_by("patient_id", "collected_at", "id")
        if r.needs_evaluation
    ]
    if not pending:
        return []
    by_patient = {p.pk: p for p in patients}
    mine = sorted({r.patient_id for r in pending})
    rows: dict[int, list[tuple]] = {}
    for row in LabResult.objects.filter(patient_id__in=mine).values_list(*RULES_COLUMNS):
        rows.setdefault(row[1], []).append(row)
    prescriptions: dict[int, list[Prescription]] = {}
    for rx in Prescription.objects.filter(patient_id__in=mine).order_by("start_date", "id"):
        prescriptions.setdefault(rx.patient_id, []).append(rx)
    already = set(
        Alert.objects.filter(lab_result__in=pending).values_list(
            "lab_result_id", "result_version", "rule"
        )
    )

    pending_of: dict[int, list[LabResult]] = {}
    for r in pending:
        pending_of.setdefault(r.patient_id, []).append(r)
    new_alerts: list[Alert] = []
    for patient_id in mine:
        patient = by_patient[patient_id]
        tz = patient.clinic.time_zone
        everything = [_rules_result(row, tz) for row in rows.get(patient_id, [])]
        heads = current_prescriptions(prescriptions.get(patient_id, []))
        drugs = tuple(
            labrules.DrugStatus(codes.Drug(p.drug), codes.PrescriptionStatus(p.status))
            for p in heads
        )
        head = {p.drug: p for p in heads}
        drug = (
            codes.Drug.METHOTREXATE
            if "methotrexate" in head
            else codes.Drug.MYCOPHENOLATE_MOFETIL
            if "mycophenolate_mofetil" in head
            else codes.Drug.METHOTREXATE
        )
        thresholds = protocol_for(patient, drug, head.get(drug.value)).thresholds
        for r in pending_of[patient_id]:
            me = str(r.pk)
            findings = labrules.evaluate(
                labrules.LabContext(
                    result=next(x for x in everything if x.result_id == me),
                    birth_date=patient.birth_date,
                    sex=codes.Sex(patient.sex),
                    history=tuple(x for x in everything if x.result_id != me),
                    prescriptions=drugs,
                    thresholds=thresholds,
                )
            )
            new_alerts.extend(
                Alert(
                    patient=patient,
                    clinic_id=patient.clinic_id,
                    lab_result=r,
                    result_version=r.version,
                    rule=f.rule,
                    severity=f.severity.value,
                    message=f.message,
                    action=f.action,
                    source=f.source.cite()[:300],
                    details=_finding_details(f),
                )
                for f in findings
                if (r.pk, r.version, f.rule) not in already
            )
    _store_alerts(pending, new_alerts)
    # The rows are locked (select_for_update above), so no amendment can slip in between.
    LabResult.objects.filter(pk__in=[r.pk for r in pending]).update(
        evaluated_version=F("version"), evaluated_at=timezone.now()
    )
    replan = [by_patient[pid] for pid in mine]
    results = {
        pid: [(row[0], row[2], row[7]) for row in patient_rows]
        for pid, patient_rows in rows.items()
    }
    sync_plans(replan, data=load_plan_data(replan, prescriptions=prescriptions, results=results))
    new_ids = [a.pk for a in new_alerts]
    if new_ids:
        notify.on_alerts_raised(new_ids)
    return new_ids


def _store_alerts(pending: list[LabResult], new_alerts: list[Alert]) -> None:
    """Insert the new alerts (and their history and result links) in bulk, then supersede what
    they replace: the earlier version's alerts of an amended result, and the first finding a
    confirming one confirms (e.g. >3× ULN, then confirmed)."""
    if new_alerts:
        # In the order raised (by patient, then collection time): ids ascend with it.
        insert_with_history(new_alerts, Alert)
        Link = Alert.related_results.through
        Link.objects.bulk_create(
            [Link(alert_id=a.pk, labresult_id=a.lab_result_id) for a in new_alerts]
        )
    supersede: dict[int, Alert | None] = {}  # old alert id → the alert that supersedes it
    amended = {r.pk: r.version for r in pending if r.version > 1}
    if amended:
        by_rule = {(a.lab_result_id, a.rule): a for a in new_alerts}
        for old in Alert.objects.filter(
            lab_result_id__in=list(amended), status__in=Alert.ACTIVE_STATUSES
        ).only("id", "lab_result_id", "result_version", "rule"):
            if old.result_version < amended[old.lab_result_id]:
                supersede[old.pk] = by_rule.get((old.lab_result_id, old.rule))
    confirming = [a for a in new_alerts if a.details.get("supersedes_rule")]
    if confirming:
        rules = {a.details["supersedes_rule"] for a in confirming}
        candidates = list(
            Alert.objects.filter(
                patient_id__in={a.patient_id for a in confirming},
                rule__in=rules,
                status__in=Alert.ACTIVE_STATUSES,
            ).only("id", "patient_id", "rule")
        )
        # In the order raised, as one result at a time would: once superseded, an alert is no
        # longer active, so the first confirmation that finds it keeps it.
        for a in confirming:
            for old in candidates:
                if (
                    old.patient_id == a.patient_id
                    and old.rule == a.details["supersedes_rule"]
                    and old.pk < a.pk
                    and old.pk not in supersede
                ):
                    supersede[old.pk] = a
    for old in Alert.objects.filter(pk__in=list(supersede)).order_by("pk"):
        old.status = Alert.Status.SUPERSEDED
        old.superseded_by = supersede[old.pk]
        old.save()  # rare: one row and one history row each


# --- A result the lab rules could not evaluate (issue 14) --------------------------------------
EVALUATION_FAILED = "EVALUATION_FAILED"


@transaction.atomic
def mark_not_evaluable(result_id: int, exc: BaseException) -> int | None:
    """The lab rules raised on this result: never leave it silent, never loop on it.

    The result is marked not evaluable (with the error) and evaluated at its version, so the
    reconcile sweep stops retrying it, and one WARNING alert (`EVALUATION_FAILED`, once per
    result version: the alerts' unique key) puts it on the clinic's worklist for a human. An
    amendment makes it pending again and it is evaluated afresh. Returns the alert's id (None if
    the result is gone or was evaluated meanwhile)."""
    from clinical.labrules import _UNITS_SOURCE
    from patients.choices import ANALYTE

    r = (
        LabResult.objects.select_for_update(of=("self",))
        .select_related("patient")
        .filter(pk=result_id)
        .first()
    )
    if r is None or not r.needs_evaluation:
        return None
    error = f"{type(exc).__name__}: {exc}"
    label = dict(ANALYTE).get(r.analyte, r.analyte)
    alert, created = Alert.objects.get_or_create(
        lab_result=r,
        result_version=r.version,
        rule=EVALUATION_FAILED,
        defaults={
            "patient": r.patient,
            "clinic_id": r.patient.clinic_id,
            "severity": codes.AlertSeverity.WARNING.value,
            "message": (
                f"{label} {r.reported_value} {r.reported_unit} (accession {r.accession}, "
                f"collected {r.collected_at:%Y-%m-%d %H:%M %Z}) could not be evaluated by the "
                f"lab rules ({error[:300]}). No rule was applied: this result has NOT been "
                "checked."
            ),
            "action": (
                "A clinician must read the result and decide, and check its details (e.g. the "
                "collection date against the birth date); report the error to the service's "
                "administrators."
            ),
            "source": _UNITS_SOURCE.cite()[:300],
            "details": {"error": error[:2000], "needs_human": True},
        },
    )
    if created:
        alert.related_results.add(r)
    from schedules.signals import mark_plans_stale

    mark_plans_stale([r.patient_id])  # its plan was not synced with it: the re-plan sweep will
    LabResult.objects.filter(pk=r.pk).update(
        evaluable=False,
        not_evaluable_reason=f"evaluation failed: {error}"[:200],
        evaluated_version=F("version"),
        evaluated_at=timezone.now(),
    )
    return alert.pk
