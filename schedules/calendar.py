"""Calendar feeds: tokens, and the Django shell around `clinical.calendar_feed` (issue 17 item 6).

- `feed_rotate()` makes a feed's secret token (or replaces it) and returns the token once; only
  its SHA-256 is stored, so a lost URL is rotated, never recovered.
- `feed_for_token()` finds the feed of a token: the token's hash is looked up (an index on the
  hash, so the lookup's timing says nothing about the secret) and compared again with
  `hmac.compare_digest`. A bad, rotated or malformed token, a token of the other kind, or a
  nurse who has left the clinic or the role gives None (the view's 404).
- `render_feed()` reads the feed's events (a nurse's own patients of her clinic, or the
  clinic's), keeps their SEQUENCE (`CalendarEntry`) and builds the iCalendar bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from clinical import calendar_feed as cf
from clinical import codes
from patients.models import Clinic, StaffMembership
from schedules.models import CalendarEntry, CalendarFeed, MonitoringEvent

logger = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def retention_days() -> int:
    return int(getattr(settings, "MTXMONITOR_CALENDAR_RETENTION_DAYS", cf.DEFAULT_RETENTION_DAYS))


def feed_url(feed: CalendarFeed, token: str) -> str:
    return f"{settings.MTXMONITOR_BASE_URL}/calendar/{feed.kind}/{token}.ics"


def chart_url(patient_id: int) -> str:
    base = getattr(settings, "MTXMONITOR_CHART_URL", "") or (
        f"{settings.MTXMONITOR_BASE_URL}/staff/patients/{{id}}/"
    )
    return base.replace("{id}", str(int(patient_id)))


@checks.register(checks.Tags.urls)
def check_chart_url(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    base = getattr(settings, "MTXMONITOR_CHART_URL", "")
    if base and "{id}" not in base:
        return [
            checks.Error(
                f"MTXMONITOR_CHART_URL {base!r} has no {{id}}: every calendar event would link "
                "to the same page instead of its patient's chart.",
                hint="e.g. https://mtx.example.org/staff/patients/{id}/",
                id="schedules.E101",
            )
        ]
    return []


def uid_domain() -> str:
    return urlsplit(settings.MTXMONITOR_BASE_URL).hostname or "mtxmonitor.invalid"


def reference_key() -> bytes:
    """Derived from SECRET_KEY (a new SECRET_KEY gives every patient a new reference)."""
    return hashlib.sha256(
        f"mtxmonitor.calendar.patient_reference:{settings.SECRET_KEY}".encode()
    ).digest()


@transaction.atomic
def feed_rotate(
    *, clinic: Clinic | None = None, nurse: StaffMembership | None = None
) -> tuple[CalendarFeed, str]:
    """Create the feed of a nurse (or, with no nurse, of a clinic), or replace its token.

    Returns the feed and the new token: show it once (it is not stored)."""
    if nurse is not None:
        if nurse.role != StaffMembership.Role.NURSE:
            raise ValueError("nurse: only a nurse has a personal calendar feed.")
        if clinic is not None and clinic.pk != nurse.clinic_id:
            raise ValueError("clinic: must be the nurse's own clinic.")
        clinic = nurse.clinic
    if clinic is None:
        raise ValueError("clinic: a clinic or a nurse is required.")
    token = secrets.token_urlsafe(32)
    # A nurse has one feed wherever she works: after a move to another clinic it is dead
    # (`feed_for_token`) until rotated, which moves it to her clinic.
    mine = {"nurse": nurse} if nurse is not None else {"clinic": clinic, "nurse": None}
    feed = (
        CalendarFeed.objects.select_for_update(of=("self",)).filter(**mine).order_by("pk").first()
    )
    if feed is None:
        feed = CalendarFeed.objects.create(clinic=clinic, nurse=nurse, token_hash=hash_token(token))
    else:
        feed.clinic = clinic
        feed.token_hash = hash_token(token)
        feed.rotated_at = timezone.now()
        feed.save(update_fields=["clinic", "token_hash", "rotated_at"])
    return feed, token


def feed_for_token(kind: str, token: str) -> CalendarFeed | None:
    if kind not in ("nurse", "clinic") or not TOKEN_RE.match(token or ""):
        return None
    digest = hash_token(token)
    feed = (
        CalendarFeed.objects.select_related("clinic", "nurse__user")
        .filter(token_hash=digest)
        .first()
    )
    if feed is None or not hmac.compare_digest(feed.token_hash, digest):
        return None
    if feed.kind != kind:
        return None
    if feed.nurse_id is not None:
        nurse = feed.nurse
        if (
            nurse.clinic_id != feed.clinic_id
            or nurse.role != StaffMembership.Role.NURSE
            or not nurse.user.is_active
        ):
            return None
    return feed


def feed_events(feed: CalendarFeed):
    """The feed's monitoring events: its clinic's patients only (a nurse's: hers among them)."""
    events = MonitoringEvent.objects.filter(patient__clinic_id=feed.clinic_id)
    if feed.nurse_id is not None:
        events = events.filter(patient__responsible_nurse_id=feed.nurse_id)
    return events


def feed_name(feed: CalendarFeed) -> str:
    if feed.nurse_id:
        user = feed.nurse.user
        who = user.get_full_name() or user.username
        return f"{who}: monitoring ({feed.clinic.name})"
    return f"{feed.clinic.name}: monitoring"


def _sequences(
    events: list[MonitoringEvent], fingerprints: dict[int, str], now: datetime
) -> dict[int, tuple[int, datetime]]:
    """Each event's SEQUENCE after this build and when it was set, stored (`CalendarEntry`).

    A fixed number of queries however many events: the new entries inserted in one statement,
    every entry read locked (in event order, so two feeds built at once wait for each other
    rather than both bumping, and cannot deadlock), the changed ones written in one UPDATE.
    Call inside a transaction."""
    ids = sorted(e.pk for e in events)
    if not ids:
        return {}
    CalendarEntry.objects.bulk_create(
        [
            CalendarEntry(event_id=i, sequence=0, fingerprint=fingerprints[i], changed_at=now)
            for i in ids
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    sequences: dict[int, tuple[int, datetime]] = {}
    changed: list[CalendarEntry] = []
    for entry in (
        CalendarEntry.objects.select_for_update().filter(event_id__in=ids).order_by("event_id")
    ):
        previous = cf.SequenceState(entry.sequence, entry.fingerprint)
        state = cf.next_sequence(previous, fingerprints[entry.event_id])
        if state is not previous:
            entry.sequence, entry.fingerprint, entry.changed_at = (
                state.sequence,
                state.fingerprint,
                now,
            )
            changed.append(entry)
        sequences[entry.event_id] = (entry.sequence, entry.changed_at)
    if changed:
        CalendarEntry.objects.bulk_update(
            changed, ["sequence", "fingerprint", "changed_at"], batch_size=1000
        )
    return sequences


# Serialised events are cached by what they depend on (`clinical.calendar_feed.vevent_key`),
# so an unchanged event is not serialised again on the next build (the library's serialiser
# costs about a millisecond an event). The key is the content's hash: a cached value is always
# what would be built, and a change simply misses.
VEVENT_CACHE_SECONDS = 2 * 24 * 3600


def _vevents(spec: cf.FeedSpec, events: list[cf.FeedEvent], today) -> list[bytes]:
    store = caches["default"]
    keys = [f"mtxmonitor:calendar:vevent:{cf.vevent_key(e, spec, today)}" for e in events]
    try:
        found = store.get_many(keys)
    except Exception:  # the cache down: build everything, never fail the feed
        logger.warning("Calendar cache unavailable; building every event.", exc_info=True)
        found = {}
    out: list[bytes] = []
    missing: dict[str, bytes] = {}
    for key, event in zip(keys, events, strict=True):
        body = found.get(key)
        if not isinstance(body, bytes):
            body = cf.vevent_bytes(event, spec, today)
            missing[key] = body
        out.append(body)
    if missing:
        try:
            store.set_many(missing, timeout=VEVENT_CACHE_SECONDS)
        except Exception:
            logger.warning("Calendar cache unavailable; events not cached.", exc_info=True)
    return out


def render_feed(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    now = now or timezone.now()
    clinic = feed.clinic
    today = now.astimezone(clinic.tz).date()
    keep = retention_days()
    since = now - timedelta(days=keep)
    # Open events, and done/cancelled ones recent enough to be shown (is_shown decides finally).
    events = list(
        feed_events(feed)
        .exclude(status=MonitoringEvent.Status.CANCELLED, updated_at__lt=since)
        .exclude(
            status=MonitoringEvent.Status.DONE,
            completed_on__lt=today - timedelta(days=keep),
        )
        .order_by("target", "id")
    )
    key = reference_key()
    drafts = {
        e.pk: cf.FeedEvent(
            event_id=e.pk,
            kind=codes.EventKind(e.kind),
            drug=codes.Drug(e.drug),
            tests=tuple(e.tests),
            earliest=e.earliest,
            target=e.target,
            latest=e.latest,
            status=e.status,
            completed_on=e.completed_on,
            changed_at=e.updated_at,
            patient_ref=cf.patient_reference(key, e.patient_id),
            chart_url=chart_url(e.patient_id),
        )
        for e in events
    }
    shown = cf.shown_events(drafts.values(), today=today, now=now, retention_days=keep)
    shown_ids = {d.event_id for d in shown}
    with transaction.atomic():
        sequences = _sequences(
            [e for e in events if e.pk in shown_ids],
            {d.event_id: cf.fingerprint(d, today) for d in shown},
            now,
        )
    final = [
        replace(
            d,
            sequence=sequences[d.event_id][0],
            stamp=max(d.changed_at, sequences[d.event_id][1]),
        )
        for d in shown
    ]
    spec = cf.FeedSpec(
        name=feed_name(feed),
        time_zone=clinic.time_zone,
        uid_domain=uid_domain(),
        description="Monitoring draws and reviews from mtxmonitor. Patients appear by an "
        "opaque reference; the link opens the chart (staff login).",
    )
    return cf.assemble(spec, _vevents(spec, final, today))
