"""Nurse and clinic calendar feeds (issue 17 item 6): tokens, scoping, UID/SEQUENCE, privacy."""

from __future__ import annotations

import hashlib
import itertools
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import icalendar
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from schedules.calendar import feed_rotate, render_feed
from schedules.models import CalendarEntry, CalendarFeed, MonitoringEvent
from tests.conftest import make_member

pytestmark = pytest.mark.django_db

_keys = itertools.count()


def make_event(patient, *, target=None, status="due", kind="routine", tests=("alt", "wbc")):
    target = target or patient.clinic.today()
    return MonitoringEvent.objects.create(
        patient=patient,
        drug="methotrexate",
        key=f"calendar-test:{next(_keys)}",
        kind=kind,
        tests=list(tests),
        earliest=target - timedelta(days=3),
        target=target,
        latest=target + timedelta(days=7),
        status=status,
        explanation="Every 4-6 weeks in the early phase (EULAR/3E 2009, REF §1).",
    )


def url_path(url: str) -> str:
    return urlsplit(url.strip()).path


def fetch(client, kind: str, token: str):
    return client.get(f"/calendar/{kind}/{token}.ics")


def events_of(response) -> dict[str, icalendar.Event]:
    assert response.status_code == 200, response.status_code
    cal = icalendar.Calendar.from_ical(response.content)
    return {str(v["UID"]): v for v in cal.walk("VEVENT")}


def uid(event: MonitoringEvent) -> str:
    return f"monitoring-event-{event.pk}@127.0.0.1"


@pytest.fixture
def nurse_feed(nina):
    return feed_rotate(nurse=nina.membership)


@pytest.fixture
def clinic_feed(clinic):
    return feed_rotate(clinic=clinic)


# --- what the feed holds -----------------------------------------------------------------------
def test_a_nurses_feed_parses_and_holds_her_patients_due_draws(client, patient, nurse_feed):
    due = make_event(patient)
    review = make_event(
        patient, kind="response_review", tests=(), target=date.today() + timedelta(days=20)
    )
    response = fetch(client, "nurse", nurse_feed[1])
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(response.content)
    assert str(cal["X-WR-CALNAME"]) == "Nina: monitoring (Northside Dermatology)"
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/London"
    events = events_of(response)
    assert set(events) == {uid(due), uid(review)}
    v = events[uid(due)]
    assert v["DTSTART"].dt == due.target and str(v["STATUS"]) == "CONFIRMED"
    assert str(v["URL"]) == f"http://127.0.0.1:8000/staff/patients/{patient.pk}/"
    assert "Monitoring bloods (methotrexate) – ALT, WBC" in str(v["SUMMARY"])


def test_the_clinic_time_zone_decides_today_for_overdue(client, other_clinic, settings):
    # Eastside is in New York: at 02:00 UTC it is still yesterday there.
    from patients.models import Patient

    olga = Patient.objects.create(
        clinic=other_clinic,
        mrn="E-0009",
        given_name="Olga",
        family_name="Other",
        birth_date=date(1980, 1, 2),
        sex="female",
        diagnosis="rheumatoid_arthritis",
    )
    feed, _ = feed_rotate(clinic=other_clinic)
    e = make_event(olga, target=date(2026, 3, 3))  # latest 10 March
    now = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)
    cal = icalendar.Calendar.from_ical(render_feed(feed, now=now))
    (v,) = cal.walk("VEVENT")
    assert not str(v["SUMMARY"]).startswith("Overdue")  # 10 March, 21:00 in New York
    later = render_feed(feed, now=now + timedelta(hours=5))
    (v,) = icalendar.Calendar.from_ical(later).walk("VEVENT")
    assert str(v["SUMMARY"]).startswith("Overdue") and int(v["SEQUENCE"]) == 1
    assert str(v["UID"]) == f"monitoring-event-{e.pk}@127.0.0.1"


def test_the_uid_is_stable_across_regenerations_and_rotations(client, patient, nina):
    e = make_event(patient)
    _, token = feed_rotate(nurse=nina.membership)
    first = events_of(fetch(client, "nurse", token))
    _, token = feed_rotate(nurse=nina.membership)
    second = events_of(fetch(client, "nurse", token))
    assert set(first) == set(second) == {uid(e)}
    assert int(second[uid(e)]["SEQUENCE"]) == int(first[uid(e)]["SEQUENCE"]) == 0


def test_the_sequence_increases_after_each_date_change(client, patient, nurse_feed):
    e = make_event(patient)
    token = nurse_feed[1]
    assert int(events_of(fetch(client, "nurse", token))[uid(e)]["SEQUENCE"]) == 0
    assert int(events_of(fetch(client, "nurse", token))[uid(e)]["SEQUENCE"]) == 0  # no change
    sequences = []
    for shift in (5, 9, 0):  # moved, moved again, moved back: each a change
        target = date.today() + timedelta(days=shift)
        MonitoringEvent.objects.filter(pk=e.pk).update(
            target=target, latest=target + timedelta(days=7)
        )
        v = events_of(fetch(client, "nurse", token))[uid(e)]
        assert v["DTSTART"].dt == target
        sequences.append(int(v["SEQUENCE"]))
    assert sequences == [1, 2, 3]
    assert CalendarEntry.objects.get(event=e).sequence == 3


def test_time_passing_from_planned_to_due_is_not_a_change(client, patient, nurse_feed):
    e = make_event(patient, status="planned")
    fetch(client, "nurse", nurse_feed[1])
    MonitoringEvent.objects.filter(pk=e.pk).update(status="due")
    v = events_of(fetch(client, "nurse", nurse_feed[1]))[uid(e)]
    assert int(v["SEQUENCE"]) == 0


def test_a_cancelled_draw_shows_cancelled_with_a_higher_sequence_then_leaves(
    client, patient, nurse_feed
):
    e = make_event(patient)
    fetch(client, "nurse", nurse_feed[1])
    MonitoringEvent.objects.filter(pk=e.pk).update(status="cancelled", updated_at=timezone.now())
    v = events_of(fetch(client, "nurse", nurse_feed[1]))[uid(e)]
    assert str(v["STATUS"]) == "CANCELLED" and int(v["SEQUENCE"]) == 1
    assert str(v["SUMMARY"]).startswith("Cancelled: ")
    MonitoringEvent.objects.filter(pk=e.pk).update(
        updated_at=timezone.now() - timedelta(days=30, minutes=1)
    )
    assert uid(e) not in events_of(fetch(client, "nurse", nurse_feed[1]))


def test_the_retention_is_a_setting(client, patient, nurse_feed, settings):
    settings.MTXMONITOR_CALENDAR_RETENTION_DAYS = 3
    e = make_event(patient, status="cancelled")
    MonitoringEvent.objects.filter(pk=e.pk).update(updated_at=timezone.now() - timedelta(days=4))
    assert uid(e) not in events_of(fetch(client, "nurse", nurse_feed[1]))


def test_a_done_draw_stays_a_while_on_the_day_it_was_done(client, patient, nurse_feed):
    today = patient.clinic.today()
    e = make_event(patient, target=today - timedelta(days=2))
    fetch(client, "nurse", nurse_feed[1])
    MonitoringEvent.objects.filter(pk=e.pk).update(status="done", completed_on=today)
    v = events_of(fetch(client, "nurse", nurse_feed[1]))[uid(e)]
    assert v["DTSTART"].dt == today and str(v["SUMMARY"]).startswith("Done: ")
    assert int(v["SEQUENCE"]) == 1
    MonitoringEvent.objects.filter(pk=e.pk).update(completed_on=today - timedelta(days=31))
    assert uid(e) not in events_of(fetch(client, "nurse", nurse_feed[1]))


def test_a_plan_from_the_planner_shows_up(client, patient, nurse_feed):
    from schedules.services import sync_plan
    from tests.test_monitoring import start_mtx

    start_mtx(patient, date.today() + timedelta(days=7))
    sync_plan(patient.pk)
    events = events_of(fetch(client, "nurse", nurse_feed[1]))
    baseline = MonitoringEvent.objects.filter(patient=patient, kind="baseline")
    assert baseline.exists()
    assert {uid(e) for e in baseline} <= set(events)


def test_an_alt_above_3x_uln_puts_the_repeat_draw_in_the_nurses_feed(client, patient, nurse_feed):
    from tests.test_monitoring import draw, start_mtx

    today = patient.clinic.today()
    start_mtx(patient, today - timedelta(days=60))
    draw(patient, today - timedelta(days=1), alt="150")  # 3.75 x ULN 40 (REF §3)
    repeat = MonitoringEvent.objects.get(patient=patient, kind="confirmatory")
    assert repeat.status in MonitoringEvent.OPEN_STATUSES
    v = events_of(fetch(client, "nurse", nurse_feed[1]))[uid(repeat)]
    assert str(v["SUMMARY"]).startswith("Repeat bloods (methotrexate) – ")
    assert "ALT" in str(v["SUMMARY"]) and v["DTSTART"].dt == repeat.target


# --- scoping -----------------------------------------------------------------------------------
def test_another_nurses_patients_are_in_the_clinic_feed_only(
    client, clinic, patient, nurse_feed, clinic_feed
):
    from tests.reminders.conftest import make_patient

    nora = make_member(clinic, "nora", "nurse")
    hers = make_event(make_patient(clinic, "N-0100", nora))
    unassigned = make_event(make_patient(clinic, "N-0101"))
    mine = make_event(patient)
    assert set(events_of(fetch(client, "nurse", nurse_feed[1]))) == {uid(mine)}
    assert set(events_of(fetch(client, "clinic", clinic_feed[1]))) == {
        uid(mine),
        uid(hers),
        uid(unassigned),
    }


def test_another_clinics_events_never_appear(
    client, nina, patient, other_patient, nurse_feed, clinic_feed
):
    from patients.models import Patient

    mine = make_event(patient)
    theirs = make_event(other_patient)
    # Even a row pointing at Nina from another clinic (inconsistent data) stays out.
    stray = Patient.objects.create(
        clinic=other_patient.clinic,
        mrn="E-0002",
        given_name="Stray",
        family_name="Row",
        birth_date=date(1990, 1, 1),
        sex="male",
        diagnosis="psoriasis",
    )
    Patient.objects.filter(pk=stray.pk).update(responsible_nurse=nina.membership)
    stray_event = make_event(stray)
    for kind, token in (("nurse", nurse_feed[1]), ("clinic", clinic_feed[1])):
        response = fetch(client, kind, token)
        assert set(events_of(response)) == {uid(mine)}, kind
        assert b"Olga" not in response.content and b"Stray" not in response.content
    _, token = feed_rotate(clinic=other_patient.clinic)
    assert set(events_of(fetch(client, "clinic", token))) == {uid(theirs), uid(stray_event)}


# --- tokens ------------------------------------------------------------------------------------
def test_only_the_hash_of_the_token_is_stored(nurse_feed):
    feed, token = nurse_feed
    stored = CalendarFeed.objects.get(pk=feed.pk)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    assert len(token) >= 40


@pytest.mark.parametrize(
    "bad",
    ["x" * 43, "short", "a" * 200, "%2e%2e", "..", "A" * 42 + "!"],
)
def test_a_bad_token_is_404(client, patient, nurse_feed, bad):
    make_event(patient)
    response = fetch(client, "nurse", bad)
    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.content


def test_a_rotated_token_is_404_and_the_new_one_works(client, patient, nina, nurse_feed):
    make_event(patient)
    feed, old = nurse_feed
    assert fetch(client, "nurse", old).status_code == 200
    again, new = feed_rotate(nurse=nina.membership)
    assert again.pk == feed.pk and again.rotated_at is not None
    assert fetch(client, "nurse", old).status_code == 404
    assert fetch(client, "nurse", new).status_code == 200


def test_a_token_under_the_other_kind_is_404(client, nurse_feed, clinic_feed):
    assert fetch(client, "clinic", nurse_feed[1]).status_code == 404
    assert fetch(client, "nurse", clinic_feed[1]).status_code == 404
    assert fetch(client, "other", clinic_feed[1]).status_code == 404


def test_a_nurse_who_left_the_role_or_was_deactivated_has_no_feed(client, nina, nurse_feed):
    token = nurse_feed[1]
    nina.membership.role = "viewer"
    nina.membership.save()
    assert fetch(client, "nurse", token).status_code == 404
    nina.membership.role = "nurse"
    nina.membership.save()
    assert fetch(client, "nurse", token).status_code == 200
    nina.is_active = False
    nina.save()
    assert fetch(client, "nurse", token).status_code == 404


def test_only_a_nurse_has_a_personal_feed(alice, other_clinic, nina):
    with pytest.raises(ValueError, match="nurse"):
        feed_rotate(nurse=alice.membership)
    with pytest.raises(ValueError, match="clinic"):
        feed_rotate(nurse=nina.membership, clinic=other_clinic)


def test_no_session_is_needed_and_only_get_is_allowed(client, nurse_feed):
    assert "sessionid" not in client.cookies
    response = fetch(client, "nurse", nurse_feed[1])
    assert response.status_code == 200
    assert not response.cookies
    assert client.post(f"/calendar/nurse/{nurse_feed[1]}.ics").status_code == 405
    assert client.head(f"/calendar/nurse/{nurse_feed[1]}.ics").status_code == 200


# --- privacy -----------------------------------------------------------------------------------
def test_no_name_birth_date_or_mrn_in_the_feed(client, patient, toddler, clinic_feed):
    make_event(patient)
    make_event(toddler, kind="baseline", tests=("alt", "chest_xray"))
    body = fetch(client, "clinic", clinic_feed[1]).content.decode()
    unfolded = body.replace("\r\n ", "")
    for p in (patient, toddler):
        for text in (p.given_name, p.family_name, p.mrn, p.birth_date.isoformat()):
            assert not re.search(rf"\b{re.escape(text)}\b", unfolded), text
        assert p.birth_date.strftime("%Y%m%d") not in unfolded
        assert f"{p.birth_date.day} {p.birth_date:%b %Y}" not in unfolded
    assert unfolded.count("P-") >= 2


def test_the_planners_explanation_with_risk_factors_and_age_stays_out(client, patient, nurse_feed):
    e = make_event(patient)
    why = "Every 4-6 weeks: short end because of alcohol excess, age 72 (over 70)."
    MonitoringEvent.objects.filter(pk=e.pk).update(explanation=why)
    body = fetch(client, "nurse", nurse_feed[1]).content.decode().replace("\r\n ", "")
    assert uid(e) in body
    assert "alcohol" not in body and "age 72" not in body
    assert f"/staff/patients/{patient.pk}/" in body


def test_the_patient_reference_is_the_same_in_both_feeds_and_differs_by_patient(
    client, patient, toddler, nurse_feed, clinic_feed
):
    a, b = make_event(patient), make_event(toddler)
    mine = events_of(fetch(client, "nurse", nurse_feed[1]))
    theirs = events_of(fetch(client, "clinic", clinic_feed[1]))
    ref = str(mine[uid(a)]["SUMMARY"]).rsplit("· ", 1)[1]
    assert ref == str(theirs[uid(a)]["SUMMARY"]).rsplit("· ", 1)[1]
    assert ref != str(mine[uid(b)]["SUMMARY"]).rsplit("· ", 1)[1]


def test_the_response_is_private_and_never_stored(client, nurse_feed):
    response = fetch(client, "nurse", nurse_feed[1])
    cache = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store", "no-cache"} <= cache
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_chart_link_base_is_a_setting(client, patient, nurse_feed, settings):
    settings.MTXMONITOR_CHART_URL = "https://ward.example/chart/{id}/view"
    e = make_event(patient)
    v = events_of(fetch(client, "nurse", nurse_feed[1]))[uid(e)]
    assert str(v["URL"]) == f"https://ward.example/chart/{patient.pk}/view"


def test_a_chart_url_without_the_patient_id_fails_the_system_check(settings):
    from schedules.calendar import check_chart_url

    assert check_chart_url() == []
    settings.MTXMONITOR_CHART_URL = "https://ward.example/chart/"
    (error,) = check_chart_url()
    assert error.id == "schedules.E101" and "MTXMONITOR_CHART_URL" in error.msg


# --- the command -------------------------------------------------------------------------------
def test_the_command_prints_a_working_url_and_rotation_kills_the_old_one(
    client, nina, patient, capsys
):
    e = make_event(patient)
    call_command("calendar_token", "--nurse", "nina")
    out = capsys.readouterr().out
    assert "created" in out
    first = next(line for line in out.splitlines() if "/calendar/nurse/" in line)
    assert uid(e) in events_of(client.get(url_path(first)))
    call_command("calendar_token", "--nurse", "nina")
    out = capsys.readouterr().out
    assert "rotated" in out
    second = next(line for line in out.splitlines() if "/calendar/nurse/" in line)
    assert second != first
    assert client.get(url_path(first)).status_code == 404
    assert client.get(url_path(second)).status_code == 200


def test_the_command_makes_a_clinic_feed_by_name_or_id(client, clinic, capsys):
    call_command("calendar_token", "--clinic", clinic.name)
    call_command("calendar_token", "--clinic", str(clinic.pk))
    out = capsys.readouterr().out
    urls = [line for line in out.splitlines() if "/calendar/clinic/" in line]
    assert len(urls) == 2 and CalendarFeed.objects.filter(clinic=clinic).count() == 1
    assert client.get(url_path(urls[0])).status_code == 404
    assert client.get(url_path(urls[1])).status_code == 200


def test_the_command_names_what_is_wrong(alice, clinic):
    with pytest.raises(CommandError, match="--nurse: no staff member"):
        call_command("calendar_token", "--nurse", "nobody")
    with pytest.raises(CommandError, match="--nurse: 'alice' is a clinician"):
        call_command("calendar_token", "--nurse", "alice")
    with pytest.raises(CommandError, match="--clinic: no clinic"):
        call_command("calendar_token", "--clinic", "Nowhere")


# --- the admin ---------------------------------------------------------------------------------
def admin_url(feed=None) -> str:
    base = "/admin/schedules/calendarfeed/"
    return f"{base}{feed.pk}/change/" if feed else base


def test_a_clinician_makes_a_feed_in_the_admin_and_sees_the_url_once(client, alice, nina, clinic):
    client.force_login(alice)
    response = client.post(
        f"{admin_url()}add/", {"clinic": clinic.pk, "nurse": nina.membership.pk}, follow=True
    )
    assert response.status_code == 200
    feed = CalendarFeed.objects.get(nurse=nina.membership)
    shown = [str(m) for m in response.context["messages"]]
    (message,) = [m for m in shown if "/calendar/nurse/" in m]
    token = message.split("/calendar/nurse/", 1)[1].split(".ics", 1)[0]
    assert hashlib.sha256(token.encode()).hexdigest() == feed.token_hash
    assert token not in client.get(admin_url(feed)).content.decode()


def test_the_admin_refuses_a_nurse_of_another_clinic(client, alice, clinic, other_clinic):
    noor = make_member(other_clinic, "noor", "nurse")
    client.force_login(alice)
    response = client.post(f"{admin_url()}add/", {"clinic": clinic.pk, "nurse": noor.membership.pk})
    assert response.status_code == 200  # the form again, with the error
    assert not CalendarFeed.objects.exists()


def test_rotating_in_the_admin_kills_the_old_url(client, alice, patient, nurse_feed):
    feed, old = nurse_feed
    client.force_login(alice)
    response = client.post(
        admin_url(),
        {"action": "rotate_tokens", "_selected_action": [feed.pk]},
        follow=True,
    )
    (message,) = [str(m) for m in response.context["messages"] if "/calendar/" in str(m)]
    new = message.split("/calendar/nurse/", 1)[1].split(".ics", 1)[0]
    client.logout()
    assert fetch(client, "nurse", old).status_code == 404
    assert fetch(client, "nurse", new).status_code == 200


def test_a_nurse_sees_and_rotates_only_her_own_feed(client, clinic, nina, nurse_feed, clinic_feed):
    nora = make_member(clinic, "nora", "nurse")
    noras, noras_token = feed_rotate(nurse=nora.membership)
    client.force_login(nina)
    page = client.get(admin_url()).content.decode()
    assert "Calendar of Nina" in page and "Calendar of Nora" not in page
    assert client.get(admin_url(noras)).status_code in (302, 404)
    assert client.get(admin_url(clinic_feed[0])).status_code in (302, 404)
    client.post(admin_url(), {"action": "rotate_tokens", "_selected_action": [noras.pk]})
    client.logout()
    assert fetch(client, "nurse", noras_token).status_code == 200  # untouched


def test_another_clinics_clinician_sees_no_feed_of_ours(client, bob, nurse_feed, clinic_feed):
    client.force_login(bob)
    page = client.get(admin_url()).content.decode()
    assert "Calendar of" not in page
    assert client.get(admin_url(nurse_feed[0])).status_code in (302, 404)
    client.post(
        admin_url(),
        {"action": "rotate_tokens", "_selected_action": [nurse_feed[0].pk, clinic_feed[0].pk]},
    )
    client.logout()
    assert fetch(client, "nurse", nurse_feed[1]).status_code == 200
    assert fetch(client, "clinic", clinic_feed[1]).status_code == 200


def test_a_nurse_makes_her_own_feed_but_no_other(client, clinic, nina):
    nora = make_member(clinic, "nora", "nurse")
    client.force_login(nina)
    assert client.get(f"{admin_url()}add/").status_code == 200
    for nurse in ("", nora.membership.pk):  # the clinic's feed, another nurse's
        response = client.post(f"{admin_url()}add/", {"clinic": clinic.pk, "nurse": nurse})
        assert response.status_code == 200 and not CalendarFeed.objects.exists()
    response = client.post(
        f"{admin_url()}add/", {"clinic": clinic.pk, "nurse": nina.membership.pk}, follow=True
    )
    assert any("/calendar/nurse/" in str(m) for m in response.context["messages"])
    assert CalendarFeed.objects.get().nurse == nina.membership


def test_a_viewer_sees_feeds_but_cannot_make_or_rotate_one(client, clinic, nurse_feed):
    vic = make_member(clinic, "vic", "viewer")
    client.force_login(vic)
    assert client.get(admin_url()).status_code == 200
    assert client.get(f"{admin_url()}add/").status_code == 403
    client.post(admin_url(), {"action": "rotate_tokens", "_selected_action": [nurse_feed[0].pk]})
    client.logout()
    assert fetch(client, "nurse", nurse_feed[1]).status_code == 200


# --- the demo ----------------------------------------------------------------------------------
def test_the_demo_prints_ninas_feed_url_and_it_holds_her_patients_draws(client, capsys):
    from patients.models import Patient

    call_command("seed_demo")
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "Calendar:" in line)
    response = client.get(url_path(line.split("Calendar:", 1)[1]))
    events = events_of(response)
    ninas = MonitoringEvent.objects.filter(
        patient__responsible_nurse__user__username="nurse.nina",
        status__in=MonitoringEvent.OPEN_STATUSES,
    )
    assert ninas.exists()
    assert {f"monitoring-event-{e.pk}@127.0.0.1" for e in ninas} <= set(events)
    body = response.content.decode().replace("\r\n ", "")
    for p in Patient.objects.all():
        assert not re.search(rf"\b{re.escape(p.family_name)}\b", body), p.family_name
        assert p.mrn not in body


# --- cost and concurrency ----------------------------------------------------------------------
def test_a_feed_costs_a_fixed_number_of_queries_however_many_events_change(
    client, patient, toddler, clinic_feed, django_assert_max_num_queries
):
    events = [
        make_event(p, target=date.today() + timedelta(days=i))
        for i in range(40)
        for p in (patient, toddler)
    ]
    fetch(client, "clinic", clinic_feed[1])
    MonitoringEvent.objects.filter(pk__in=[e.pk for e in events]).update(status="cancelled")
    with django_assert_max_num_queries(8):
        v = events_of(fetch(client, "clinic", clinic_feed[1]))
    assert len(v) == 80 and {int(x["SEQUENCE"]) for x in v.values()} == {1}


def test_cached_event_bytes_are_exactly_what_a_fresh_build_gives(patient, toddler, clinic_feed):
    from django.core.cache import cache

    for i in range(5):
        make_event(patient, target=date.today() + timedelta(days=i))
        make_event(toddler, target=date.today() - timedelta(days=20 + i))  # overdue
    now = timezone.now()
    first = render_feed(clinic_feed[0], now=now)
    cached = render_feed(clinic_feed[0], now=now)
    cache.clear()
    fresh = render_feed(clinic_feed[0], now=now)
    assert first == cached == fresh
    assert len(icalendar.Calendar.from_ical(fresh).walk("VEVENT")) == 10


def test_the_feed_is_served_when_the_cache_is_down(client, patient, nurse_feed, settings):
    e = make_event(patient)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    assert uid(e) in events_of(fetch(client, "nurse", nurse_feed[1]))


def test_a_nurse_who_moved_clinic_has_no_feed(client, nina, other_clinic, nurse_feed):
    from patients.models import StaffMembership

    StaffMembership.objects.filter(pk=nina.membership.pk).update(clinic=other_clinic)
    assert fetch(client, "nurse", nurse_feed[1]).status_code == 404
    # Rotating gives her a feed at her new clinic (the same row, no second feed).
    nina.membership.refresh_from_db()
    feed, token = feed_rotate(nurse=nina.membership)
    assert feed.pk == nurse_feed[0].pk and feed.clinic == other_clinic
    assert fetch(client, "nurse", token).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_feeds_built_at_once_bump_a_changed_event_once(clinic, nina, patient):
    import threading

    from django.db import connection

    e = make_event(patient)
    nurse, _ = feed_rotate(nurse=nina.membership)
    whole, _ = feed_rotate(clinic=clinic)
    render_feed(nurse)
    target = date.today() + timedelta(days=4)
    MonitoringEvent.objects.filter(pk=e.pk).update(target=target, latest=target)
    barrier = threading.Barrier(4)
    bodies, errors = [], []

    def build(feed):
        try:
            barrier.wait()
            bodies.append(render_feed(CalendarFeed.objects.get(pk=feed.pk)))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=build, args=(f,)) for f in (nurse, whole, nurse, whole)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    sequences = {
        int(v["SEQUENCE"]) for b in bodies for v in icalendar.Calendar.from_ical(b).walk("VEVENT")
    }
    assert sequences == {1}
    assert CalendarEntry.objects.get(event=e).sequence == 1
