"""The calendar feed endpoints (issue 17 item 6): no session, the secret token is the key."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from schedules.calendar import feed_for_token, render_feed


@never_cache
@require_safe
def calendar_feed(request, kind: str, token: str) -> HttpResponse:
    """GET /calendar/<nurse|clinic>/<token>.ics: the feed, or 404 for any token that is not
    the feed's current one (bad, rotated, of the other kind)."""
    feed = feed_for_token(kind, token)
    if feed is None:
        raise Http404("No such calendar.")
    body = render_feed(feed)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    # Patient-related: never kept by a shared cache or proxy (never_cache adds no-cache,
    # no-store, must-revalidate, max-age=0; private says it is for this client only).
    response["Cache-Control"] = "private, no-cache, no-store, must-revalidate, max-age=0"
    response["Content-Disposition"] = f'inline; filename="mtxmonitor-{kind}.ics"'
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
