"""Reads that the API needs in bulk, shaped for its answers (no N+1, no more columns than used)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from patients.models import LabResult
from schedules.models import Alert

# The lab-result columns an alert shows (api.serializers.AlertLabResultSerializer).
ALERT_LAB_FIELDS = (
    "id", "analyte", "reported_value", "reported_unit", "value", "unit", "reference_high",
    "collected_at", "accession", "version",
)  # fmt: skip


def with_lab_results(alerts: Sequence[Alert]) -> Sequence[Alert]:
    """Set `alert.lab_results_shown` on each alert: the result that raised it and every related
    result, oldest first — in two queries for any number of alerts."""
    ids = [a.pk for a in alerts]
    links: dict[int, set[int]] = defaultdict(set)
    if ids:
        through = Alert.related_results.through
        for alert_id, lab_id in through.objects.filter(alert_id__in=ids).values_list(
            "alert_id", "labresult_id"
        ):
            links[alert_id].add(lab_id)
    for a in alerts:
        if a.lab_result_id:
            links[a.pk].add(a.lab_result_id)
    wanted = set().union(*links.values()) if links else set()
    labs = (
        {r.pk: r for r in LabResult.objects.filter(pk__in=wanted).only(*ALERT_LAB_FIELDS)}
        if wanted
        else {}
    )
    for a in alerts:
        rows = [labs[i] for i in links.get(a.pk, ()) if i in labs]
        a.lab_results_shown = sorted(rows, key=lambda r: (r.collected_at, r.pk))
    return alerts
