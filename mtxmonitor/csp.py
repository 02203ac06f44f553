"""Content-Security-Policy on every response (issue #13).

Django 5.2 has no built-in CSP, so this small middleware sets one header from
`settings.CONTENT_SECURITY_POLICY` (a dict of directive -> sources). The policy allows scripts
from this host only: no inline script, no eval, no other host. The admin (Django's own static
files), /api/docs/ (Swagger UI vendored by drf-spectacular-sidecar, its init script served as a
separate same-origin file) and the staff pages (vendored Chart.js, inline-free templates) all
run under it. A view may set its own header; it is then left alone.
"""

from __future__ import annotations

from django.conf import settings

HEADER = "Content-Security-Policy"


def policy_text(policy: dict[str, tuple[str, ...]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.value = policy_text(settings.CONTENT_SECURITY_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        if self.value and HEADER not in response:
            response[HEADER] = self.value
        return response
