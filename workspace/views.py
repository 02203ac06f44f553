"""The clinic workspace (issue #17): Today, the patient chart, prescribing with a preview, the
alert worklist and lab entry by panel. Server-rendered; every write goes through the services
(patients/services.py, patients/prescriptions.py, schedules/services.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinical import codes
from patients import prescriptions as rx
from patients.models import LabResult, Patient, Prescription
from patients.services import lab_result_record
from schedules.models import Alert, MonitoringEvent
from schedules.services import alert_acknowledge, alert_resolve
from workspace import display, forms, prescribing, selectors
from workspace.access import (
    can,
    clinic_alert,
    clinic_patient,
    clinic_prescription,
    require_write,
    staff_page,
)


def _calendar_help_url() -> str:
    """The calendar feed page (issue #17 item 6)."""
    return reverse("workspace:calendar")


# --- Calendar feed (issue #17 item 6) -------------------------------------------------------
@staff_page
def calendar(request):
    """A nurse's own feed (her patients' due draws and reviews); a clinician's: the clinic's.
    The secret URL is shown once, when it is made or replaced (only its hash is stored); a
    viewer reads what the feed is but cannot make one."""
    from schedules.calendar import feed_rotate, feed_url
    from schedules.models import CalendarFeed

    role = request.membership.role
    if role == "nurse":
        feed = CalendarFeed.objects.filter(nurse=request.membership).first()
        whose = "your patients"
    else:
        feed = CalendarFeed.objects.filter(clinic=request.clinic, nurse__isnull=True).first()
        whose = f"every patient of {request.clinic.name}"
    may_rotate = role in ("nurse", "clinician")
    new_url = ""
    if request.method == "POST":
        if not may_rotate:
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("A viewer cannot make a calendar link.")
        if role == "nurse":
            feed, token = feed_rotate(nurse=request.membership)
        else:
            feed, token = feed_rotate(clinic=request.clinic)
        new_url = feed_url(feed, token)
    return render(
        request,
        "workspace/calendar.html",
        {
            "feed": feed,
            "whose": whose,
            "may_rotate": may_rotate,
            "new_url": new_url,
            "nav": "calendar",
        },
    )


def _is_nurse(request) -> bool:
    return request.membership.role == "nurse"


# --- Today ---------------------------------------------------------------------------------
@staff_page
def today(request):
    clinic = request.clinic
    sections = []
    if _is_nurse(request):
        mine = selectors.work_querysets(clinic, request.membership)
        sections.append(
            {
                "title": "My patients",
                "mine": True,
                "qs": mine,
                "counts": selectors.work_counts(mine),
            }
        )
    whole = selectors.work_querysets(clinic)
    sections.append(
        {
            "title": f"{clinic.name}",
            "mine": False,
            "qs": whole,
            "counts": selectors.work_counts(whole),
        }
    )
    first = sections[0]
    items = selectors.worklist_items(first["qs"]["alerts"][:200])
    return render(
        request,
        "workspace/today.html",
        {
            "sections": sections,
            "lists": selectors.WORK_LISTS,
            "items": items[:25],
            "items_mine": first["mine"],
            "due_events": list(first["qs"]["overdue"][:10]) + list(first["qs"]["due"][:10]),
            "today": clinic.today(),
            "calendar_url": _calendar_help_url(),
            "nav": "today",
        },
    )


@staff_page
def work_list(request, kind: str):
    from django.http import Http404

    if kind not in selectors.WORK_LISTS:
        raise Http404("No such list.")
    if kind == "alerts":
        url = reverse("workspace:alerts")
        return redirect(f"{url}?mine=1" if request.GET.get("mine") else url)
    mine = bool(request.GET.get("mine")) and _is_nurse(request)
    qs = selectors.work_querysets(request.clinic, request.membership if mine else None)[kind]
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "workspace/work_list.html",
        {
            "kind": kind,
            "title": selectors.WORK_LISTS[kind],
            "page": page,
            "mine": mine,
            "nav": "today",
        },
    )


# --- Patients ------------------------------------------------------------------------------
@staff_page
def patient_list(request):
    qs = Patient.objects.filter(clinic=request.clinic).select_related("responsible_nurse__user")
    q = (request.GET.get("q") or "").strip()
    if q:
        from django.db.models import Q

        qs = qs.filter(
            Q(mrn__icontains=q) | Q(family_name__icontains=q) | Q(given_name__icontains=q)
        )
    if request.GET.get("mine") and _is_nurse(request):
        qs = qs.filter(responsible_nurse=request.membership)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    counts = selectors.alert_counts_by_patient([p.pk for p in page])
    for p in page:
        p.open_alerts = counts.get(p.pk, 0)
    return render(request, "workspace/patient_list.html", {"page": page, "q": q, "nav": "patients"})


@staff_page
def chart(request, patient_id: int):
    patient = clinic_patient(request, patient_id)
    clinic = patient.clinic
    tz = clinic.tz
    today_ = clinic.today()
    latest = patient.measurements.current().order_by("-measured_on", "-id").first()
    stale = False
    if latest is not None:
        limit = (
            clinic.measurement_max_age_days_under_2
            if patient.age_years(today_) < 2
            else clinic.measurement_max_age_days
        )
        stale = (today_ - latest.measured_on).days > limit
    history = list(patient.prescriptions.select_related("created_by").order_by("start_date", "id"))
    superseded = {p.supersedes_id for p in history if p.supersedes_id}
    heads = [p for p in history if p.pk not in superseded]
    regimen = [
        {"rx": p, "words": prescribing.regimen_words(patient, p)}
        for p in heads
        if p.status != codes.PrescriptionStatus.STOPPED.value
    ]
    stopped = [p for p in heads if p.status == codes.PrescriptionStatus.STOPPED.value]
    open_events, done_events = selectors.plan_events(patient)
    phases = {}
    for e in open_events:
        if e.kind == codes.EventKind.ROUTINE.value and e.drug not in phases:
            phases[e.drug] = _phase_words(e)
    for r in regimen:
        r["phase"] = phases.get(r["rx"].drug, "")
    alerts = list(
        Alert.objects.filter(patient=patient, status__in=Alert.ACTIVE_STATUSES)
        .select_related("patient", "lab_result")
        .order_by("raised_at", "id")
    )
    data = selectors.chart_labs(patient)
    dose_changes = [
        {
            "t": int(
                datetime.combine(p.start_date, datetime.min.time(), tzinfo=tz).timestamp() * 1000
            ),
            "label": f"{p.get_change_display()} {display.number(p.dose_mg)} mg",
            "kind": p.change,
        }
        for p in history
        if p.drug != codes.Drug.FOLIC_ACID.value
    ]
    try:
        fs_page = int(request.GET.get("fs", 1))
    except ValueError:
        fs_page = 1
    series = selectors.chart_series(data, tz, dose_changes)
    chart_json = [
        {k: v for k, v in s.items() if k != "table"} | {"id": f"chart-{s['analyte']}"}
        for s in series
    ]
    return render(
        request,
        "workspace/chart.html",
        {
            "patient": patient,
            "age": selectors.age_words(patient.birth_date, today_),
            "latest": latest,
            "stale": stale,
            "regimen": regimen,
            "stopped": stopped,
            "history": history[::-1],
            "alerts": selectors.worklist_items(alerts),
            "flowsheet": selectors.flowsheet(data, tz, page=fs_page),
            "series": series,
            "chart_json": chart_json,
            "open_events": open_events,
            "done_events": done_events,
            "assessments": list(patient.assessments.all()[:20]),
            "adverse_events": list(patient.adverse_events.all()[:20]),
            "can_prescribe": can(request, "prescription"),
            "can_lab": can(request, "labresult"),
            "panels": forms.PANELS,
            "nav": "patients",
        },
    )


@staff_page
def timeline(request, patient_id: int):
    """The API's timeline (api.views.timeline_entries), newest first, 50 a page: its own page
    so that the chart stays fast whatever the length of the history."""
    from api.views import timeline_entries

    patient = clinic_patient(request, patient_id)
    entries = timeline_entries(patient)[::-1]
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    rows = [
        {"type": r._timeline_type, "date": r._timeline_date, "summary": r._timeline_summary}
        for r in page
    ]
    return render(
        request,
        "workspace/timeline.html",
        {"patient": patient, "page": page, "rows": rows, "nav": "patients"},
    )


def _phase_words(e: MonitoringEvent) -> str:
    """'initiation phase, every 4–6 weeks' from the planner's explanation; else the phase."""
    import re

    m = re.search(r"\(([^()]*?phase, every [^;)]*)", e.explanation or "")
    if m:
        return m.group(1)
    return f"{e.phase} phase" if e.phase else ""


# --- Prescribing ---------------------------------------------------------------------------
ACTIONS = {
    "change": ("Change the dose", forms.ChangeDoseForm),
    "hold": ("Hold", forms.HoldForm),
    "restart": ("Restart", forms.RestartForm),
    "stop": ("Stop", forms.StopForm),
}


@staff_page
def prescribe_start(request, patient_id: int):
    patient = clinic_patient(request, patient_id)
    require_write(request, "prescription")
    today_ = patient.clinic.today()
    form = forms.StartForm(
        request.POST or None,
        initial={
            "start_date": today_,
            "drug": "methotrexate",
            "basis": "mg_per_m2",
            "weekday": "",
        },
    )
    confirm = forms.ConfirmForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        confirm.is_valid()
        data["override_reason"] = confirm.cleaned_data.get("override_reason", "")
        preview = prescribing.preview_start(patient, data, request.user)
        if "confirm" in request.POST and preview.calculation is not None:
            problem = _confirm_problem(preview, confirm)
            if problem:
                confirm.add_error(None, problem)
            else:
                try:
                    outcome = rx.prescription_start(
                        **prescribing.start_kwargs(patient, data, preview.calculation, request.user)
                    )
                except ValidationError as exc:
                    preview = prescribing.Preview(calculation=preview.calculation)
                    prescribing._absorb(preview, exc)
                else:
                    _saved_message(request, outcome.prescription, preview)
                    return redirect("workspace:chart", patient_id=patient.pk)
    return render(
        request,
        "workspace/prescribe.html",
        {
            "patient": patient,
            "title": "Start a prescription",
            "form": form,
            "confirm": confirm,
            "preview": preview,
            "action": "start",
            "nav": "patients",
        },
    )


def _confirm_problem(preview: prescribing.Preview, confirm: forms.ConfirmForm) -> str | None:
    if not preview.can_save:
        return "This cannot be saved: see what stops it above."
    if preview.needs_override and not (confirm.cleaned_data.get("override_reason") or "").strip():
        return "Give the reason for overriding the stop (it is recorded with the prescription)."
    if preview.needs_baseline_confirm and not confirm.cleaned_data.get("confirm_no_baseline"):
        return "Confirm that you prescribe without baseline bloods on record."
    return None


def _saved_message(request, p: Prescription, preview) -> None:
    n = len(p.warnings or [])
    text = f"Saved: {p}."
    if preview is not None and preview.needs_baseline_confirm:
        text += " Baseline bloods are due on or before the first dose."
    if n:
        text += f" {n} warning{'s' if n != 1 else ''} recorded with it."
    messages.success(request, text)


@staff_page
def prescribe_action(request, patient_id: int, prescription_id: int, action: str):
    from django.http import Http404

    patient = clinic_patient(request, patient_id)
    current = clinic_prescription(request, patient, prescription_id)
    if action not in ACTIONS:
        raise Http404("No such action.")
    require_write(request, "prescription")
    title, form_class = ACTIONS[action]
    today_ = patient.clinic.today()
    initial = {"effective_date": today_}
    if action == "change":
        initial |= {"basis": current.basis or "fixed", "formulation": current.formulation}
    if request.GET.get("reason"):
        initial["reason"] = request.GET["reason"][:500]
    form = form_class(request.POST or None, initial=initial)
    confirm = forms.ConfirmForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        confirm.is_valid()
        service, kwargs = _action_call(patient, current, action, form.cleaned_data, request.user)
        kwargs["override_reason"] = confirm.cleaned_data.get("override_reason", "")
        if action in ("hold", "stop"):
            kwargs.pop("override_reason")
        preview = None
        if action == "change":
            preview = prescribing.Preview()
            dose = prescribing.calculate_for_change(patient, current, form.cleaned_data, preview)
            if dose is not None:
                kwargs["dose_mg"] = dose
                run = prescribing.dry_run(service, **kwargs)
                run.calculation = preview.calculation
                run.warnings = preview.warnings + [
                    w for w in run.warnings if w.code not in {x.code for x in preview.warnings}
                ]
                preview = run
        else:
            preview = prescribing.dry_run(service, **kwargs)
        direct = action in ("hold", "stop") and preview.can_save
        if ("confirm" in request.POST or direct) and "dose_mg" not in preview.field_errors:
            problem = _confirm_problem(preview, confirm)
            if problem:
                confirm.add_error(None, problem)
            else:
                try:
                    outcome = service(**kwargs)
                except ValidationError as exc:
                    preview = prescribing.Preview()
                    prescribing._absorb(preview, exc)
                else:
                    _saved_message(request, outcome.prescription, None)
                    back = request.POST.get("next") or ""
                    if back.startswith("/staff/"):
                        return HttpResponseRedirect(back)
                    return redirect("workspace:chart", patient_id=patient.pk)
    return render(
        request,
        "workspace/prescribe.html",
        {
            "patient": patient,
            "current": current,
            "current_words": prescribing.regimen_words(patient, current),
            "title": f"{title}: {current.get_drug_display().lower()}",
            "form": form,
            "confirm": confirm,
            "preview": preview,
            "action": action,
            "next": request.GET.get("next") or request.POST.get("next") or "",
            "nav": "patients",
        },
    )


def _action_call(patient, current, action, data, user):
    common = {
        "prescription": current,
        "effective_date": data["effective_date"],
        "reason": data["reason"],
        "user": user,
    }
    if action == "change":
        return rx.prescription_change_dose, common | {
            "dose_mg": current.dose_mg,
            "basis": data["basis"],
            "basis_amount": data["amount"],
            "formulation": data.get("formulation") or None,
        }
    if action == "hold":
        return rx.prescription_hold, common
    if action == "restart":
        return rx.prescription_restart, common | {"dose_mg": data.get("dose_mg")}
    return rx.prescription_stop, common | {"end_reason": data["end_reason"]}


# --- Alerts --------------------------------------------------------------------------------
@staff_page
def alerts(request):
    mine = bool(request.GET.get("mine")) and _is_nurse(request)
    show = request.GET.get("show", "open")
    statuses = {
        "open": (Alert.Status.OPEN,),
        "acknowledged": (Alert.Status.ACKNOWLEDGED,),
        "resolved": (Alert.Status.RESOLVED,),
    }.get(show, (Alert.Status.OPEN,))
    qs = (
        Alert.objects.filter(clinic=request.clinic, status__in=statuses)
        .select_related("patient", "lab_result")
        .order_by("raised_at", "id")
    )
    if mine:
        qs = qs.filter(patient__responsible_nurse=request.membership)
    if show == "resolved":
        qs = qs.order_by("-resolved_at", "-id")
    items = selectors.worklist_items(qs[:1000])
    if show == "resolved":
        items.reverse()
    page = Paginator(items, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "workspace/alerts.html",
        {
            "page": page,
            "show": show,
            "mine": mine,
            "can_act": can(request, "alert"),
            "note_form": forms.NoteForm(),
            "nav": "alerts",
        },
    )


def _scoped_alerts(request, ids):
    clean = []
    for part in ids:
        for x in str(part).split(","):
            if x.strip().isdigit():
                clean.append(int(x))
    return list(Alert.objects.filter(clinic=request.clinic, pk__in=clean).order_by("id"))


@staff_page
@require_POST
def alerts_bulk_acknowledge(request):
    require_write(request, "alert")
    form = forms.NoteForm(request.POST)
    chosen = _scoped_alerts(request, request.POST.getlist("item"))
    if not chosen:
        messages.error(request, "Choose at least one item to acknowledge.")
    elif not form.is_valid():
        messages.error(request, "A note is required: say what was done or decided.")
    else:
        done = 0
        with transaction.atomic():
            for a in chosen:
                if a.status == Alert.Status.OPEN:
                    alert_acknowledge(alert=a, user=request.user, note=form.cleaned_data["note"])
                    done += 1
        messages.success(request, f"Acknowledged {done} alert{'s' if done != 1 else ''}.")
    return redirect(reverse("workspace:alerts") + ("?mine=1" if request.POST.get("mine") else ""))


@staff_page
def alert_detail(request, alert_id: int):
    alert = clinic_alert(request, alert_id)
    patient = alert.patient
    siblings = (
        list(
            Alert.objects.filter(clinic=request.clinic, lab_result_id=alert.lab_result_id)
            .select_related("patient", "lab_result", "acknowledged_by", "resolved_by")
            .order_by("id")
        )
        if alert.lab_result_id
        else [alert]
    )
    item = selectors.worklist_items(siblings)[0]
    drugs = set()
    for a in siblings:
        drugs.update((a.details or {}).get("drugs") or [])
    holdable = [
        p
        for p in rx.current_prescriptions(patient)
        if p.status == codes.PrescriptionStatus.ACTIVE.value and (not drugs or p.drug in drugs)
    ]
    withhold = any((a.details or {}).get("withhold") for a in siblings)
    repeat_events = list(
        MonitoringEvent.objects.filter(alert__in=siblings)
        .exclude(status=MonitoringEvent.Status.CANCELLED)
        .order_by("target")
    )
    repeat_tests = set()
    for a in siblings:
        repeat_tests.update((a.details or {}).get("tests_to_repeat") or [])
    for e in repeat_events:
        repeat_tests.update(e.tests or [])
    panel = None
    if alert.lab_result_id:
        panel = forms.PANEL_OF.get(alert.lab_result.analyte)
    for t in repeat_tests:
        panel = panel or forms.PANEL_OF.get(t)
    return render(
        request,
        "workspace/alert.html",
        {
            "alert": alert,
            "item": item,
            "patient": patient,
            "note_form": forms.NoteForm(),
            "can_act": can(request, "alert"),
            "can_prescribe": can(request, "prescription"),
            "can_lab": can(request, "labresult"),
            "holdable": holdable,
            "withhold": withhold,
            "repeat_events": repeat_events,
            "repeat_panel": panel,
            "hold_reason": f"Held for: {display.plain_message(alert.message)}",
            "nav": "alerts",
        },
    )


@staff_page
@require_POST
def alert_act(request, alert_id: int, action: str):
    from django.http import Http404

    alert = clinic_alert(request, alert_id)
    if action not in ("acknowledge", "resolve"):
        raise Http404("No such action.")
    require_write(request, "alert")
    form = forms.NoteForm(request.POST)
    ids = request.POST.getlist("item") or [str(alert.pk)]
    chosen = _scoped_alerts(request, ids) or [alert]
    if not form.is_valid():
        messages.error(request, "A note is required: say what was done or decided.")
    else:
        service = alert_acknowledge if action == "acknowledge" else alert_resolve
        try:
            with transaction.atomic():
                for a in chosen:
                    if action == "acknowledge" and a.status != Alert.Status.OPEN:
                        continue
                    if action == "resolve" and a.status not in Alert.ACTIVE_STATUSES:
                        continue
                    service(alert=a, user=request.user, note=form.cleaned_data["note"])
        except ValidationError as exc:
            for errs in exc.message_dict.values():
                for e in errs:
                    messages.error(request, e)
        else:
            word = "Acknowledged" if action == "acknowledge" else "Resolved"
            messages.success(request, f"{word}: {display.rule_name(alert.rule)}.")
    return redirect("workspace:alert", alert_id=alert.pk)


# --- Lab entry by panel ----------------------------------------------------------------------
@staff_page
def lab_entry(request, patient_id: int, panel: str):
    from django.http import Http404

    patient = clinic_patient(request, patient_id)
    if panel not in forms.PANELS:
        raise Http404("No such panel.")
    require_write(request, "labresult")
    tz = patient.clinic.tz
    now_local = timezone.now().astimezone(tz).replace(second=0, microsecond=0, tzinfo=None)
    form = forms.PanelForm(
        request.POST or None,
        panel=panel,
        initial={"collected_at": now_local.strftime("%Y-%m-%dT%H:%M")},
    )
    entry_key = request.POST.get("entry_key") or uuid.uuid4().hex
    row_errors: dict[str, list[str]] = {}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        collected = data["collected_at"]  # aware: read in the clinic's zone (staff_page)
        if timezone.is_naive(collected):
            collected = timezone.make_aware(collected, tz)
        accession = (data.get("accession") or "").strip()
        stored = []
        try:
            with transaction.atomic():
                for analyte, _u in forms.PANELS[panel][1]:
                    value = (data.get(f"{analyte}_value") or "").strip()
                    if not value:
                        continue
                    try:
                        out = lab_result_record(
                            patient=patient,
                            analyte=analyte,
                            value=value,
                            unit=data.get(f"{analyte}_unit") or "",
                            reference_low=data.get(f"{analyte}_low"),
                            reference_high=data.get(f"{analyte}_high"),
                            collected_at=collected,
                            accession=f"{accession}-{analyte.upper()}" if accession else "",
                            source="manual",
                            strict_unit=True,
                            manual_key=entry_key,
                        )
                    except ValidationError as exc:
                        row_errors[analyte] = [
                            f"{k.replace('_', ' ')}: {m}" if k != "__all__" else m
                            for k, ms in exc.message_dict.items()
                            for m in ms
                        ]
                        continue
                    stored.append(out)
                if row_errors:
                    raise ValidationError("rows")
        except ValidationError:
            stored = []
        if not row_errors:
            names = ", ".join(
                f"{display.test_name(o.result.analyte)} {o.result.reported_value}" for o in stored
            )
            replayed = sum(1 for o in stored if o.outcome == "replayed")
            text = f"Recorded {forms.PANELS[panel][0].lower()}: {names}."
            if replayed:
                text += f" ({replayed} already recorded under the same entry: not duplicated.)"
            messages.success(request, text + " The lab rules are checking it now.")
            return redirect("workspace:chart", patient_id=patient.pk)
    rows = list(form.rows())
    for r in rows:
        r["errors"] = row_errors.get(r["analyte"], [])
    return render(
        request,
        "workspace/lab_entry.html",
        {
            "patient": patient,
            "form": form,
            "panel": panel,
            "panel_name": forms.PANELS[panel][0],
            "panels": forms.PANELS,
            "rows": rows,
            "entry_key": entry_key,
            "alert_id": request.GET.get("alert", ""),
            "nav": "patients",
        },
    )


def lab_result_link(lab: LabResult) -> str:
    return reverse("workspace:chart", args=[lab.patient_id])
