"""The client's address as the outermost trusted proxy saw it (issue 14).

Behind the shipped nginx (`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`) the
last entry of X-Forwarded-For is the address nginx accepted the connection from; anything left of
it was written by the client and is not trusted. MTXMONITOR_TRUSTED_PROXY_COUNT says how many
proxies append to the header (0: none, REMOTE_ADDR is the client).
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    meta = request.META
    proxies = getattr(settings, "MTXMONITOR_TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        chain = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [part for part in chain if part]
        if len(chain) >= proxies:
            return chain[-proxies]
    return meta.get("REMOTE_ADDR") or None
