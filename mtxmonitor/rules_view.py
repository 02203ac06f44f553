"""A read-only page in the admin listing every clinical rule with its source, so a clinic can
review what the service does: products, dose caps, protocols (phases, baseline, thresholds,
default ULNs) and the prescription checks. Everything shown is read from `clinical/` itself."""

from __future__ import annotations

from dataclasses import fields

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.template.response import TemplateResponse


def _thresholds(t) -> list[tuple[str, str, str]]:
    rows = []
    for f in fields(t):
        value = getattr(t, f.name)
        if hasattr(value, "value") and hasattr(value, "source"):
            rows.append((f.name.replace("_", " "), f"{value.value}", value.source.cite()))
        elif value is None:
            rows.append((f.name.replace("_", " "), "off", ""))
        elif isinstance(value, int):
            rows.append((f.name.replace("_", " "), str(value), "protocol data"))
    return rows


@login_required(login_url="admin:login")
def clinical_rules(request):
    from clinical.prescription_checks import CHECK_CODES
    from clinical.products import CAP_RULES, PAEDIATRIC_LIMITS, PRODUCTS
    from clinical.protocols import PROTOCOLS

    protocols = []
    for p in PROTOCOLS.values():
        protocols.append(
            {
                "p": p,
                "drugs": ", ".join(d.value.replace("_", " ") for d in sorted(p.drugs)),
                "phases": p.phases,
                "baseline": [
                    (drug.value.replace("_", " "), items) for drug, items in p.baseline_tests
                ],
                "thresholds": _thresholds(p.thresholds),
                "ulns": p.thresholds.default_ulns,
                "risk": ", ".join(
                    sorted(r.value.replace("_", " ") for r in p.shortening_risk_factors)
                ),
            }
        )
    context = {
        **admin.site.each_context(request),
        "title": "Clinical rules and their sources",
        "products": list(PRODUCTS.values()),
        "caps": CAP_RULES,
        "paediatric": PAEDIATRIC_LIMITS,
        "protocols": protocols,
        "check_codes": sorted(CHECK_CODES),
    }
    return TemplateResponse(request, "admin/clinical_rules.html", context)
