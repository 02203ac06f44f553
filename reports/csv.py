"""The cohort report as CSV: one line per row of the printed table, with its numbers apart."""

from __future__ import annotations

import csv
import io

from clinical.cohort import report_rows

COLUMNS = ["section", "measure", "value", "n", "of", "percent", "mean", "sd", "median", "q1", "q3"]


def cohort_csv(report: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for section, measure, shown, cell in report_rows(report):
        w.writerow([section, measure, shown, *(_v(cell.get(k)) for k in COLUMNS[3:])])
    w.writerow([])
    w.writerow(["definition", "text"])
    for name, text in report["definitions"].items():
        w.writerow([name, text])
    return out.getvalue()


def _v(value) -> str:
    return "" if value is None else str(value)
