"""Writes for monitoring events, alerts and notifications (thin shells over `clinical/`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from clinical import codes
from patients.models import LabResult, Patient, Prescription
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


# --- Planning and evaluation (bodies land with the clinical planner / lab rules) -------------
def dispatch_replan(patient_id: int) -> None:
    """Re-plan a patient's monitoring after the current transaction commits."""

    def send() -> None:
        from schedules.tasks import replan_patient

        try:
            replan_patient.delay(patient_id)
        except Exception:  # broker down: the nightly replan sweep covers it
            import logging

            logging.getLogger(__name__).warning(
                "Could not queue re-planning of patient %s.", patient_id, exc_info=True
            )

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


def build_plan(patient: Patient, today) -> list:
    """Run the pure planner for every monitored drug the patient has ever been prescribed."""
    from clinical.planner import LabDraw, OpenFinding, PlanInput, plan
    from clinical.timeutil import local_date

    tz = patient.clinic.time_zone
    rxs = list(Prescription.objects.filter(patient=patient).order_by("start_date", "id"))
    results = list(
        LabResult.objects.filter(patient=patient).values_list("id", "analyte", "collected_at")
    )
    abnormal = set(
        Alert.objects.filter(patient=patient, severity__in=["warning", "critical"])
        .exclude(status=Alert.Status.SUPERSEDED)
        .values_list("lab_result_id", flat=True)
    )
    draws = [
        LabDraw(test=analyte, collected_on=local_date(at, tz), abnormal=rid in abnormal)
        for rid, analyte, at in results
    ]
    # Tests without a lab result (chest X-ray, serology done elsewhere) recorded on their event.
    for tests, done_on in MonitoringEvent.objects.filter(
        patient=patient, status=Status.DONE, completed_on__isnull=False
    ).values_list("tests", "completed_on"):
        draws.extend(
            LabDraw(test=t, collected_on=done_on)
            for t in tests
            if not any(t == a.value for a in codes.Analyte)
        )
    findings = list(
        Alert.objects.filter(patient=patient, status__in=Alert.ACTIVE_STATUSES)
        .exclude(details__repeat_within_days=None)
        .select_related("lab_result")
    )
    risk = frozenset(codes.RiskFactor(r) for r in patient.risk_factors)
    events = []
    for drug in MONITORED_DRUGS:
        mine = [r for r in rxs if r.drug == drug.value]
        if not mine:
            continue
        current = next((r for r in reversed(mine) if r.is_current), mine[-1])
        protocol = protocol_for(patient, drug, current)
        open_findings = tuple(
            OpenFinding(
                finding_id=str(a.pk),
                rule=a.rule,
                raised_on=local_date(a.lab_result.collected_at, tz) if a.lab_result else today,
                repeat_within_days=int(a.details["repeat_within_days"]),
                tests=tuple(a.details.get("tests_to_repeat") or ()),
            )
            for a in findings
            if a.details.get("repeat_within_days") and drug.value in a.details.get("drugs", [])
        )
        events.extend(
            plan(
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
    """Store the planner's output idempotently: unchanged events untouched, new ones created,
    obsolete pending ones cancelled, completed and cancelled ones never rewritten.

    Serialised per patient (row lock), so two workers re-planning at once cannot interleave.
    """
    patient = Patient.objects.select_for_update().select_related("clinic").get(pk=patient_id)
    today = today or patient.clinic.today()
    planned = build_plan(patient, today)
    existing = {e.key: e for e in MonitoringEvent.objects.filter(patient=patient)}
    current_rx = {
        r.drug: r for r in Prescription.objects.filter(patient=patient, superseded_by__isnull=True)
    }
    assessments = sorted(patient.assessments.values_list("assessed_on", flat=True))
    alert_ids = {str(a) for a in Alert.objects.filter(patient=patient).values_list("id", flat=True)}
    counts = {"created": 0, "updated": 0, "completed": 0, "cancelled": 0, "unchanged": 0}
    seen: set[str] = set()
    to_create: list[MonitoringEvent] = []
    for pe in planned:
        seen.add(pe.key)
        values = _event_values(pe)
        completed_on = pe.completed_on
        if pe.kind is codes.EventKind.RESPONSE_REVIEW and completed_on is None:
            completed_on = next((d for d in assessments if pe.earliest <= d <= today), None)
        event = existing.get(pe.key)
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
        if event.status in (Status.DONE, Status.CANCELLED):
            counts["unchanged"] += 1  # history is never rewritten
            continue
        changed = {k: v for k, v in values.items() if getattr(event, k) != v}
        if completed_on:
            changed.update(status=Status.DONE, completed_on=completed_on)
        if changed:
            for k, v in changed.items():
                setattr(event, k, v)
            event.save()
            counts["completed" if completed_on else "updated"] += 1
        else:
            counts["unchanged"] += 1
    if to_create:
        # One INSERT for the events and one for their history rows, not two per event.
        bulk_create_with_history(to_create, MonitoringEvent, batch_size=500)
    for key, event in existing.items():
        if key not in seen and event.status in MonitoringEvent.OPEN_STATUSES:
            event.status = Status.CANCELLED
            event.explanation = (
                f"{event.explanation} Cancelled on {today}: no longer in the plan "
                "(its inputs changed: a newer draw, prescription change or resolved finding)."
            )
            event.save()
            counts["cancelled"] += 1
    return counts


# --- Lab evaluation ---------------------------------------------------------------------------
def _rules_result(r: LabResult, tz: str):
    from clinical import labrules
    from clinical.timeutil import local_date
    from clinical.units import normalise

    return labrules.LabResult(
        analyte=codes.Analyte(r.analyte),
        result=normalise(r.analyte, r.reported_value, r.reported_unit),
        collected_on=local_date(r.collected_at, tz),
        reference_low=r.reference_low,
        reference_high=r.reference_high,
        result_id=str(r.pk),
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


def evaluate_results(result_ids: list[int]) -> list[int]:
    """Run the lab rules on stored results and keep one alert per (result version, rule).

    Idempotent: a result already evaluated at its version is skipped, the rows are locked while
    evaluated (two workers cannot both do it), and the database refuses a second alert for the
    same result version and rule. An amended result's earlier alerts are superseded. New alerts
    go to `schedules.notify` (critical ones are e-mailed at once) and the plan is re-synced.
    """
    from clinical import labrules
    from schedules import notify

    new_alert_ids: list[int] = []
    by_patient: dict[int, list[int]] = {}
    for rid, pid in LabResult.objects.filter(pk__in=result_ids).values_list("id", "patient_id"):
        by_patient.setdefault(pid, []).append(rid)
    for patient_id, ids in sorted(by_patient.items()):
        with transaction.atomic():
            patient = (
                Patient.objects.select_for_update().select_related("clinic").get(pk=patient_id)
            )
            pending = [
                r
                for r in LabResult.objects.select_for_update()
                .filter(pk__in=ids)
                .order_by("collected_at", "id")
                if r.needs_evaluation
            ]
            if not pending:
                continue
            tz = patient.clinic.time_zone
            everything = [_rules_result(r, tz) for r in LabResult.objects.filter(patient=patient)]
            heads = Prescription.objects.filter(patient=patient, superseded_by__isnull=True)
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
            now = timezone.now()
            patient_alerts: list[int] = []
            for r in pending:
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
                created = _store_findings(patient, r, findings)
                patient_alerts.extend(a.pk for a in created)
            # The rows are locked (select_for_update above), so no amendment can slip in between.
            LabResult.objects.filter(pk__in=[r.pk for r in pending]).update(
                evaluated_version=F("version"), evaluated_at=now
            )
            sync_plan(patient.pk)
            if patient_alerts:
                notify.on_alerts_raised(patient_alerts)
            new_alert_ids.extend(patient_alerts)
    return new_alert_ids


def _store_findings(patient: Patient, r: LabResult, findings) -> list[Alert]:
    created: list[Alert] = []
    for f in findings:
        alert, was_created = Alert.objects.get_or_create(
            lab_result=r,
            result_version=r.version,
            rule=f.rule,
            defaults={
                "patient": patient,
                "severity": f.severity.value,
                "message": f.message,
                "action": f.action,
                "source": f.source.cite()[:300],
                "details": _finding_details(f),
            },
        )
        if was_created:
            alert.related_results.add(r)
            created.append(alert)
    by_rule = {a.rule: a for a in created}
    # An amendment supersedes what the earlier version of the same result raised.
    earlier = (
        ()
        if r.version == 1
        else Alert.objects.filter(
            lab_result=r, result_version__lt=r.version, status__in=Alert.ACTIVE_STATUSES
        )
    )
    for old in earlier:
        old.status = Alert.Status.SUPERSEDED
        old.superseded_by = by_rule.get(old.rule)
        old.save()
    # A confirmed finding supersedes the first one it confirms (e.g. >3× ULN, then confirmed).
    for a in created:
        rule = a.details.get("supersedes_rule")
        if rule:
            for old in Alert.objects.filter(
                patient=patient, rule=rule, status__in=Alert.ACTIVE_STATUSES
            ).exclude(pk=a.pk):
                old.status = Alert.Status.SUPERSEDED
                old.superseded_by = a
                old.save()
    return created
