"""The staff page of the cohort report (issue 19): the API's numbers, a CSV download and the
drug-survival curve as a picture. Staff login; the user's own clinic only."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import mark_safe
from django.utils.text import slugify

from clinical import codes
from clinical.cohort import report_rows
from clinical.types import ClinicalInputError
from patients.tenancy import STAFF_UI_ROLES, membership_of
from reports.csv import cohort_csv
from reports.selectors import clinic_cohort_report
from reports.svg import survival_svg

FILTERS = (
    "drug",
    "diagnosis",
    "min_age_at_start_years",
    "max_age_at_start_years",
    "started_from",
    "started_to",
    "response_min_improvement",
    "percent_rounding",
    "suppress_small",
)


@staff_member_required(login_url="admin:login")
def cohort_page(request):
    from api.serializers import CohortQuerySerializer

    m = membership_of(request.user)
    if m is None or m.role not in STAFF_UI_ROLES:
        return TemplateResponse(
            request,
            "reports/cohort.html",
            {"forbidden": "The cohort report is a clinic's own: you have no staff role in one."},
            status=403,
        )
    params = {k: v for k, v in request.GET.items() if k in FILTERS and v != ""}
    ser = CohortQuerySerializer(data=params)
    errors: dict[str, str] = {}
    report = None
    if ser.is_valid():
        d = dict(ser.validated_data)
        d["response_min_improvement"] = int(d["response_min_improvement"])
        try:
            report = clinic_cohort_report(m.clinic, **d)
        except ClinicalInputError as exc:
            errors[exc.field] = exc.reason
    else:
        errors = {k: " ".join(str(e) for e in v) for k, v in ser.errors.items()}
    if report is not None and request.GET.get("format") == "csv":
        response = HttpResponse(cohort_csv(report), content_type="text/csv; charset=utf-8")
        name = f"cohort-{slugify(m.clinic.name)}-{report['today']}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    sections: dict[str, list] = {}
    if report is not None:
        for section, measure, shown, _cell in report_rows(report):
            sections.setdefault(section, []).append((measure, shown))
    query = request.GET.copy()
    query["format"] = "csv"
    # The SVG holds only numbers and escaped labels (reports/svg.py).
    svg = mark_safe(survival_svg(report["drug_survival"])) if report else ""  # noqa: S308
    return TemplateResponse(
        request,
        "reports/cohort.html",
        {
            "clinic": m.clinic,
            "report": report,
            "sections": sections,
            "errors": errors,
            "params": params,
            "csv_query": query.urlencode(),
            "svg": svg,
            "km": report["drug_survival"] if report else None,
            "drugs": ["methotrexate", "mycophenolate_mofetil"],
            "diagnoses": [c.value for c in codes.Diagnosis],
        },
        status=400 if errors else 200,
    )
