"""Print a clinic's cohort report (issue 19): JSON, CSV, a Markdown table, or the demo cohort
beside the reference study's abstract (`--abstract`, the README's table)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from clinical.cohort import report_rows
from clinical.types import ClinicalInputError

# The abstract's figures (REF §7), each beside the report line it corresponds to.
ABSTRACT = (
    ("Children (courses)", "28", lambda r: str(r["n"])),
    (
        "Age at start, years, mean ± SD",
        "2.7 ± 1.2",
        lambda r: _mean(r["table1"]["age_at_start_years"]),
    ),
    ("Baseline IGA, mean ± SD", "3.78 ± 0.4", lambda r: _mean(r["table1"]["baseline_iga"])),
    (
        "Treatment duration, months, median",
        "5",
        lambda r: f"{r['table1']['duration_months']['median']}",
    ),
    ("Response", "50 % (14/28)", lambda r: _cell(r["outcomes"]["week_24"]["response"])),
    ("IGA 0/1 at week 12", "14.2 % (4/28)", lambda r: _cell(r["outcomes"]["week_12"]["iga_0_1"])),
    ("IGA 0/1 at week 24", "21.4 % (6/28)", lambda r: _cell(r["outcomes"]["week_24"]["iga_0_1"])),
    (
        "Any adverse event",
        "57.1 % (16/28)",
        lambda r: _cell(r["outcomes"]["adverse_events"]["any"]),
    ),
    (
        "Stopped for an adverse event",
        "7.1 % (2/28)",
        lambda r: _cell(r["outcomes"]["end_reasons"]["adverse_event"]),
    ),
    (
        "Stopped for lack of efficacy / parental concern",
        "most stops",
        lambda r: (
            f"{_cell(r['outcomes']['end_reasons']['lack_of_efficacy'])} / "
            f"{_cell(r['outcomes']['end_reasons']['patient_or_parent_concern'])} "
            f"of {r['outcomes']['stopped']['n']} stops"
        ),
    ),
)


def _mean(c: dict) -> str:
    return f"{c['mean']} ± {c['sd']}"


def _cell(c: dict) -> str:
    return f"{c['percent']} % ({c['n']}/{c['of']})"


class Command(BaseCommand):
    help = "Print a clinic's cohort report (JSON, CSV, Markdown, or --abstract side by side)."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="The clinic's name.")
        parser.add_argument("--drug")
        parser.add_argument("--diagnosis")
        parser.add_argument("--min-age", type=Decimal, dest="min_age_at_start_years")
        parser.add_argument("--max-age", type=Decimal, dest="max_age_at_start_years")
        parser.add_argument("--started-from", type=date.fromisoformat, dest="started_from")
        parser.add_argument("--started-to", type=date.fromisoformat, dest="started_to")
        parser.add_argument("--response-min-improvement", type=int, choices=(1, 2), default=2)
        parser.add_argument(
            "--percent-rounding", choices=("half_up", "truncate"), default="half_up"
        )
        parser.add_argument("--suppress-small", action="store_true")
        parser.add_argument(
            "--format", choices=("json", "csv", "markdown", "abstract"), default="markdown"
        )

    def handle(self, *args, **o):
        from patients.models import Clinic
        from reports.csv import cohort_csv
        from reports.selectors import clinic_cohort_report

        clinic = Clinic.objects.filter(name=o["clinic"]).first()
        if clinic is None:
            raise CommandError(f"no clinic named {o['clinic']!r}.")
        names = (
            "drug", "diagnosis", "min_age_at_start_years", "max_age_at_start_years",
            "started_from", "started_to", "response_min_improvement", "percent_rounding",
            "suppress_small",
        )  # fmt: skip
        options = {k: o[k] for k in names if o.get(k) is not None}
        try:
            report = clinic_cohort_report(clinic, **options)
        except ClinicalInputError as exc:
            raise CommandError(f"{exc.field}: {exc.reason}") from exc
        if o["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False))
        elif o["format"] == "csv":
            self.stdout.write(cohort_csv(report), ending="")
        elif o["format"] == "abstract":
            self.stdout.write("| Measure | Reference abstract | mtxmonitor report (demo cohort) |")
            self.stdout.write("|---|---|---|")
            for label, theirs, ours in ABSTRACT:
                self.stdout.write(f"| {label} | {theirs} | {ours(report)} |")
        else:
            self.stdout.write("| Section | Measure | Value |")
            self.stdout.write("|---|---|---|")
            for section, measure, shown, _cell in report_rows(report):
                self.stdout.write(f"| {section} | {measure} | {shown} |")
