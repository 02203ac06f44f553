"""Reads for the workspace pages, in a bounded number of queries whatever the history length."""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.db.models import Count, Min, Q
from django.utils import timezone

from clinical import codes
from clinical.labrules import age_in_years
from clinical.protocols import DEFAULT_THRESHOLDS, default_uln
from clinical.types import ClinicalInputError
from patients.models import Clinic, LabResult, Patient, Prescription, StaffMembership
from schedules.models import Alert, MonitoringEvent, Notification
from workspace import display

Status = MonitoringEvent.Status
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


# --- Today ------------------------------------------------------------------------------
# The lists Today counts; each is a page of its own (workspace.views.worklist / work_list).
WORK_LISTS: dict[str, str] = {
    "alerts": "Open critical and warning alerts",
    "overdue": "Tests overdue",
    "due": "Tests due now",
    "upcoming": "Tests coming up this week",
    "reviews": "Response reviews due",
    "held": "Prescriptions held, awaiting a decision",
    "not-evaluable": "Results not evaluable, waiting for a person",
    "failed-emails": "E-mails that failed",
}


def clinic_patients(clinic: Clinic, nurse: StaffMembership | None = None):
    qs = Patient.objects.filter(clinic=clinic)
    return qs.filter(responsible_nurse=nurse) if nurse is not None else qs


def work_querysets(clinic: Clinic, nurse: StaffMembership | None = None) -> dict:
    """Each of Today's lists as a queryset (for a nurse's own patients when `nurse` is given)."""
    today = clinic.today()
    week = today + timedelta(days=7)
    events = MonitoringEvent.objects.filter(patient__clinic=clinic).select_related("patient")
    alerts = Alert.objects.filter(clinic=clinic).select_related("patient", "lab_result")
    held = Prescription.objects.filter(
        patient__clinic=clinic,
        superseded_by__isnull=True,
        status=codes.PrescriptionStatus.HELD.value,
    ).select_related("patient")
    failed = Notification.objects.filter(clinic=clinic, state=Notification.State.FAILED)
    if nurse is not None:
        events = events.filter(patient__responsible_nurse=nurse)
        alerts = alerts.filter(patient__responsible_nurse=nurse)
        held = held.filter(patient__responsible_nurse=nurse)
        failed = failed.filter(Q(recipient=nurse) | Q(patient__responsible_nurse=nurse))
    tests = events.exclude(kind=codes.EventKind.RESPONSE_REVIEW.value)
    return {
        "alerts": alerts.filter(
            status=Alert.Status.OPEN, severity__in=("critical", "warning")
        ).order_by("raised_at", "id"),
        "overdue": tests.filter(status=Status.OVERDUE).order_by("latest", "id"),
        "due": tests.filter(status=Status.DUE).order_by("target", "id"),
        "upcoming": tests.filter(
            status__in=(Status.PLANNED, Status.UPCOMING), target__gt=today, target__lte=week
        ).order_by("target", "id"),
        "reviews": events.filter(
            kind=codes.EventKind.RESPONSE_REVIEW.value, status__in=(Status.DUE, Status.OVERDUE)
        ).order_by("target", "id"),
        "held": held.order_by("start_date", "id"),
        "not-evaluable": alerts.filter(
            rule="RESULT_NOT_EVALUABLE", status__in=Alert.ACTIVE_STATUSES
        ).order_by("raised_at", "id"),
        "failed-emails": failed.select_related("patient").order_by("created_at", "id"),
    }


def work_counts(querysets: dict) -> dict[str, int]:
    counts = {}
    for key, qs in querysets.items():
        if key == "alerts":
            items = worklist_items(qs)
            counts[key] = len(items)
            counts["critical"] = sum(1 for i in items if i.severity == "critical")
        else:
            counts[key] = qs.count()
    return counts


# --- The alert worklist: one item per lab result, listing every finding -----------------
@dataclass
class WorkItem:
    patient: Patient
    lab_result: LabResult | None
    alerts: list[Alert] = field(default_factory=list)

    @property
    def key(self) -> str:
        return ",".join(str(a.pk) for a in self.alerts)

    @property
    def severity(self) -> str:
        return min((a.severity for a in self.alerts), key=lambda s: SEVERITY_ORDER.get(s, 9))

    @property
    def raised_at(self) -> datetime:
        return min(a.raised_at for a in self.alerts)

    @property
    def age(self) -> timedelta:
        return timezone.now() - self.raised_at

    @property
    def first(self) -> Alert:
        return self.alerts[0]

    @property
    def any_open(self) -> bool:
        return any(a.status == Alert.Status.OPEN for a in self.alerts)


def worklist_items(alerts) -> list[WorkItem]:
    """Group alerts by the lab result that raised them (an ALT of 150 U/L above 3× ULN and above
    100 U/L is one item with two findings); an alert without a result is an item of its own.
    Oldest first."""
    items: OrderedDict = OrderedDict()
    for a in alerts:
        key = ("lab", a.lab_result_id) if a.lab_result_id else ("alert", a.pk)
        item = items.get(key)
        if item is None:
            item = items[key] = WorkItem(patient=a.patient, lab_result=a.lab_result)
        item.alerts.append(a)
    out = list(items.values())
    for item in out:
        item.alerts.sort(key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), a.pk))
    out.sort(key=lambda i: (i.raised_at, i.first.pk))
    return out


def age_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


# --- The patient chart --------------------------------------------------------------------
FLOWSHEET_ANALYTES: tuple[str, ...] = (
    "alt", "ast", "albumin", "wbc", "neutrophils", "lymphocytes", "eosinophils", "platelets",
    "haemoglobin", "mcv", "creatinine", "egfr",
)  # fmt: skip
CHART_ANALYTES: tuple[str, ...] = (
    "alt", "ast", "wbc", "neutrophils", "platelets", "creatinine", "egfr", "albumin", "mcv",
)  # fmt: skip
ULN_MULTIPLE_ANALYTES = ("alt", "ast")  # the 3×ULN line (EULAR/3E 2009 rec 5, REF §1)
LAB_FIELDS = (
    "id", "analyte", "reported_value", "reported_unit", "comparator", "value", "unit",
    "evaluable", "not_evaluable_reason", "reference_low_canonical", "reference_high_canonical",
    "collected_at", "accession", "source",
)  # fmt: skip


def age_words(birth: date, on: date) -> str:
    """'54 years'; under 2, in months ('18 months')."""
    years = age_in_years(birth, on)
    if years >= 2:
        return f"{years} years"
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    return f"{months} month{'s' if months != 1 else ''}"


class Lab:
    """A result row as the chart reads it (a tuple from one query, not a model instance: five
    years of results are ~700 rows, and model instances cost most of the chart's time)."""

    __slots__ = LAB_FIELDS

    def __init__(self, row: tuple) -> None:
        for name, value in zip(LAB_FIELDS, row, strict=True):
            setattr(self, name, value)

    @property
    def pk(self) -> int:
        return self.id

    def get_analyte_display(self) -> str:
        return display.test_name(self.analyte)


@dataclass
class Cell:
    lab: Lab
    text: str
    flag: str  # "", "H", "L", "critical", "?" (not evaluable)
    uln: Decimal | None
    uln_from_lab: bool


@lru_cache(maxsize=256)
def _default_uln(analyte: str, sex: str, age: int) -> Decimal | None:
    try:
        return default_uln(DEFAULT_THRESHOLDS, codes.Analyte(analyte), codes.Sex(sex), age).uln
    except (ClinicalInputError, ValueError):
        return None


def _uln(lab: Lab, patient: Patient, tz) -> tuple[Decimal | None, bool]:
    """The ULN a result is judged against: its laboratory's, else the configured default for
    the patient's age and sex on the day (clinical.protocols.default_uln, REF §3)."""
    if lab.reference_high_canonical is not None and lab.reference_high_canonical > 0:
        return lab.reference_high_canonical, True
    on = lab.collected_at.astimezone(tz).date()
    return _default_uln(lab.analyte, patient.sex, age_in_years(patient.birth_date, on)), False


def cell_for(lab: Lab, patient: Patient, critical_ids: set[int], tz) -> Cell:
    uln, from_lab = _uln(lab, patient, tz)
    if not lab.evaluable:
        return Cell(lab, lab.reported_value, "?", uln, from_lab)
    text = (lab.comparator or "") + display.number(display.shown_value(lab))
    flag = ""
    if lab.pk in critical_ids:
        flag = "critical"
    elif uln is not None and lab.value > uln:
        flag = "H"
    elif lab.reference_low_canonical is not None and lab.value < lab.reference_low_canonical:
        flag = "L"
    return Cell(lab, text, flag, uln, from_lab)


@dataclass
class ChartData:
    labs: list[Lab]
    cells: dict[int, Cell]
    critical_ids: set[int]


def chart_labs(patient: Patient) -> ChartData:
    """Every result of the patient (two queries), with its flag against its own range."""
    tz = patient.clinic.tz
    labs = [
        Lab(row)
        for row in LabResult.objects.filter(patient=patient)
        .order_by("collected_at", "id")
        .values_list(*LAB_FIELDS)
    ]
    critical_ids = set(
        Alert.objects.filter(patient=patient, severity="critical", lab_result__isnull=False)
        .exclude(status=Alert.Status.SUPERSEDED)
        .values_list("lab_result_id", flat=True)
    )
    cells = {lab.pk: cell_for(lab, patient, critical_ids, tz) for lab in labs}
    return ChartData(labs, cells, critical_ids)


def flowsheet(data: ChartData, tz, *, page: int, per_page: int = 8):
    """Columns are collection dates (newest first, paged), rows the analytes."""
    by_day: dict[date, dict[str, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    for lab in data.labs:
        by_day[lab.collected_at.astimezone(tz).date()][lab.analyte].append(data.cells[lab.pk])
    days = sorted(by_day, reverse=True)
    pages = max(1, -(-len(days) // per_page))
    page = min(max(page, 1), pages)
    shown = days[(page - 1) * per_page : page * per_page]
    rows = []
    units = {}
    for lab in data.labs:
        units.setdefault(lab.analyte, lab.unit)
    for analyte in FLOWSHEET_ANALYTES:
        if analyte not in units:
            continue
        rows.append(
            {
                "analyte": analyte,
                "name": display.test_name(analyte),
                "unit": display.unit(units[analyte]),
                "cells": [by_day[d].get(analyte, []) for d in shown],
            }
        )
    return {"days": shown, "rows": rows, "page": page, "pages": pages}


def chart_series(data: ChartData, tz, dose_changes: list[dict]) -> list[dict]:
    """Per analyte: points, the normal band, the 3×ULN line (ALT/AST), flags, dose markers."""
    out = []
    by_analyte: dict[str, list[Lab]] = defaultdict(list)
    for lab in data.labs:
        by_analyte[lab.analyte].append(lab)
    for analyte in CHART_ANALYTES:
        rows = by_analyte.get(analyte)
        if not rows:
            continue
        points = []
        for lab in rows:
            cell = data.cells[lab.pk]
            if not lab.evaluable:
                continue
            points.append(
                {
                    "t": int(lab.collected_at.timestamp() * 1000),
                    "d": display.day(lab.collected_at, tz),
                    "y": float(lab.value),
                    "v": cell.text,
                    "flag": cell.flag,
                    "low": float(lab.reference_low_canonical)
                    if lab.reference_low_canonical is not None
                    else None,
                    "high": float(cell.uln) if cell.uln is not None else None,
                    "x3": float(cell.uln * 3)
                    if cell.uln is not None and analyte in ULN_MULTIPLE_ANALYTES
                    else None,
                }
            )
        out.append(
            {
                "analyte": analyte,
                "name": display.test_name(analyte),
                "unit": display.unit(rows[-1].unit),
                "points": points,
                "count": len(rows),
                "table": values_table(
                    [data.cells[lab.pk] for lab in reversed(rows)], tz, display.unit(rows[-1].unit)
                ),
                "uln_multiple": analyte in ULN_MULTIPLE_ANALYTES,
                "markers": dose_changes,
            }
        )
    return out


def values_table(cells: list[Cell], tz, unit_text: str):
    """The table under a chart (the same values, for readers without JavaScript), built here
    rather than in the template: five years of results are ~700 rows, and a template loop (or
    format_html per row) is most of the chart's render time for them (bench/bench_chart.py)."""
    from html import escape

    from django.utils.safestring import mark_safe

    parts = [
        '<table class="mini"><thead><tr><th>Date</th><th>Value (',
        escape(unit_text),
        ")</th><th>ULN</th></tr></thead><tbody>",
    ]
    for c in cells:
        uln = ""
        if c.uln is not None:
            uln = display.number(c.uln) + ("" if c.uln_from_lab else "*")
        flag = f' class="flag-{escape(c.flag)}"' if c.flag else ""
        mark = f" <b>{escape(c.flag)}</b>" if c.flag else ""
        parts.append(
            f"<tr><td>{escape(display.day(c.lab.collected_at, tz))}</td>"
            f"<td{flag}>{escape(c.text)}{mark}</td><td>{escape(uln)}</td></tr>"
        )
    parts.append("</tbody></table>")
    return mark_safe("".join(parts))  # noqa: S308 (every value above is escaped)


def plan_events(patient: Patient):
    """Open events (what is due when, and why), then the last few done."""
    events = list(MonitoringEvent.objects.filter(patient=patient).order_by("target", "id"))
    open_ = [e for e in events if e.status in MonitoringEvent.OPEN_STATUSES]
    done = [e for e in events if e.status == Status.DONE][-5:][::-1]
    return open_, done


def alert_counts_by_patient(patient_ids) -> dict[int, int]:
    rows = (
        Alert.objects.filter(patient_id__in=patient_ids, status__in=Alert.ACTIVE_STATUSES)
        .values("patient_id")
        .annotate(n=Count("id"), first=Min("raised_at"))
    )
    return {r["patient_id"]: r["n"] for r in rows}
