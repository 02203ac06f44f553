"""The reminder sweep on the database: statuses by local date, keyed reminders, daily digests."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from clinical.reminders import event_status
from schedules import reminders
from schedules.models import MonitoringEvent, Notification, Reminder
from tests.conftest import make_member
from tests.reminders.conftest import body, london, make_event, make_patient, sweep

TODAY = date(2025, 3, 10)  # a Monday; London is on GMT
NINE = london(2025, 3, 10, 9)  # after Northside's 08:00 send hour


def at(days: int, hour: int = 9):
    d = TODAY + timedelta(days=days)
    return london(d.year, d.month, d.day, hour)


# --- Statuses --------------------------------------------------------------------------------
def test_statuses_follow_the_clinics_local_date_at_every_window_position(patient):
    events = [
        make_event(patient, TODAY + timedelta(days=o), latest=TODAY + timedelta(days=o + 3))
        for o in range(-20, 21)
    ]
    done = make_event(patient, TODAY - timedelta(days=30), status="done")
    cancelled = make_event(patient, TODAY + timedelta(days=2), status="cancelled")

    reminders.sweep(now=NINE, fan_out=False)

    for e in events:
        e.refresh_from_db()
        assert e.status == event_status(
            target=e.target, latest=e.latest, today=TODAY, lead_days=7
        ), e.target
    counts = {
        s: sum(e.status == s for e in events) for s in ("planned", "upcoming", "due", "overdue")
    }
    assert counts == {"planned": 13, "upcoming": 7, "due": 4, "overdue": 17}
    done.refresh_from_db()
    cancelled.refresh_from_db()
    assert (done.status, cancelled.status) == ("done", "cancelled")


def test_a_re_dated_event_moves_back_to_planned(patient):
    event = make_event(patient, TODAY + timedelta(days=3))
    reminders.sweep(now=NINE, fan_out=False)
    event.refresh_from_db()
    assert event.status == "upcoming"
    MonitoringEvent.objects.filter(id=event.id).update(
        target=TODAY + timedelta(days=30), latest=TODAY + timedelta(days=40)
    )
    reminders.sweep(now=NINE, fan_out=False)
    event.refresh_from_db()
    assert event.status == "planned"


# --- One reminder per occurrence, one digest per nurse per day --------------------------------------
def test_a_draw_due_in_7_days_gives_one_upcoming_reminder_and_three_more_runs_add_nothing(
    patient, nina, smtp
):
    event = make_event(patient, TODAY + timedelta(days=7))

    sweep(NINE)
    for minutes in (15, 30, 45):
        sweep(NINE + timedelta(minutes=minutes))

    reminder = Reminder.objects.get()
    assert (reminder.phase, reminder.event_id, reminder.due_on) == ("upcoming", event.id, TODAY)
    assert (
        reminder.key == f"upcoming:event={event.id}:target=2025-03-17:to=nurse-{nina.membership.id}"
    )
    digest = Notification.objects.get()
    assert (digest.kind, digest.state, digest.for_date, digest.to_email) == (
        "digest",
        "sent",
        TODAY,
        "nina@example.org",
    )
    assert len(smtp.messages) == 1
    assert "coming up: due Mon 17 Mar 2025 (in 7 days)" in body(smtp.messages[0])


def test_the_digest_waits_for_the_clinics_send_hour(patient, smtp):
    make_event(patient, TODAY)
    sweep(at(0, hour=7))
    assert Reminder.objects.filter(phase="due").count() == 1
    assert Notification.objects.count() == 0 and smtp.messages == []

    sweep(at(0, hour=8))
    assert len(smtp.messages) == 1
    assert Reminder.objects.get().notification.state == "sent"


def test_one_digest_per_nurse_grouped_by_patient_soonest_first(clinic, nina, nadia, patient, smtp):
    other = make_patient(clinic, "N-0100", nina, given_name="Zed", family_name="Zulu")
    nadias = make_patient(clinic, "N-0200", nadia)
    make_event(patient, TODAY + timedelta(days=5), tests=["alt"])
    make_event(other, TODAY, tests=["platelets"])
    make_event(other, TODAY + timedelta(days=6), tests=["creatinine"])
    make_event(
        patient, TODAY - timedelta(days=12), latest=TODAY - timedelta(days=1), tests=["wbc"]
    )  # overdue since today
    make_event(nadias, TODAY + timedelta(days=1))

    sweep(NINE)

    assert len(smtp.messages) == 2
    (ninas,) = smtp.inbox.to("nina@example.org")
    assert len(smtp.inbox.to("nadia@example.org")) == 1
    assert ninas["Subject"] == (
        "[mtxmonitor] Monitoring reminders Mon 10 Mar 2025: 1 overdue, 1 due, 2 coming up"
    )
    text = body(ninas)
    # Pat (overdue WBC, target 26 Feb) before Zed (platelets due today); each patient's lines
    # soonest first.
    order = [
        text.index(s) for s in ("MRN N-0001", "WBC", "ALT", "MRN N-0100", "Platelets", "Creatinine")
    ]
    assert order == sorted(order)
    assert "overdue 1 day: was due Wed 26 Feb 2025, window closed Sun 9 Mar 2025" in text
    assert "due today, Mon 10 Mar 2025" in text


def test_reminders_whose_event_was_done_before_the_digest_are_dropped_not_sent(patient, smtp):
    event = make_event(patient, TODAY)
    sweep(at(0, hour=6))  # queued before the send hour
    MonitoringEvent.objects.filter(id=event.id).update(status="done", completed_on=TODAY)

    sweep(NINE)

    reminder = Reminder.objects.get()
    assert reminder.notification is None and "done, cancelled or re-dated" in reminder.dropped
    digest = Notification.objects.get()
    assert (digest.state, digest.message_id) == ("skipped", "")
    assert "Nothing left to send" in digest.last_error
    assert smtp.messages == []


def test_a_reminder_queued_after_the_days_digest_went_out_waits_for_the_next_day(patient, smtp):
    make_event(patient, TODAY)
    sweep(NINE)
    late = make_event(patient, TODAY + timedelta(days=2))  # planned at 10:00
    sweep(at(0, hour=10))
    assert len(smtp.messages) == 1
    waiting = Reminder.objects.get(event=late)
    # An upcoming reminder falls due lead_days before the target, even if found later.
    assert waiting.notification is None and waiting.due_on == TODAY - timedelta(days=5)

    sweep(at(1, hour=8))
    assert len(smtp.messages) == 2
    waiting.refresh_from_db()
    assert waiting.notification.for_date == TODAY + timedelta(days=1)
    assert "coming up: due Wed 12 Mar 2025 (in 1 day)" in body(smtp.messages[1])


# --- Overdue repeats and escalation ----------------------------------------------------------------
def test_overdue_is_repeated_every_3_days_and_a_missed_day_is_caught_up(patient, smtp):
    make_event(patient, TODAY - timedelta(days=10), latest=TODAY - timedelta(days=1))
    sent_on = []
    for day in (0, 1, 2, 4, 5, 6, 7, 8):  # no sweep at all on day 3
        before = len(smtp.messages)
        sweep(at(day))
        if len(smtp.messages) > before:
            sent_on.append(day)
    # Occurrences fall on days 0, 3 and 6; the one of day 3 goes out on day 4.
    assert sent_on == [0, 4, 6]
    assert sorted(Reminder.objects.values_list("due_on", flat=True)) == [
        TODAY,
        TODAY + timedelta(days=3),
        TODAY + timedelta(days=6),
    ]


def test_escalation_goes_once_to_the_clinic_contact_after_14_days_overdue(patient, smtp):
    make_event(patient, TODAY - timedelta(days=30), latest=TODAY - timedelta(days=13))
    sweep(at(0))
    assert smtp.inbox.to("derm@example.org") == []  # 13 days overdue

    sweep(at(1))
    (escalation,) = smtp.inbox.to("derm@example.org")
    assert escalation["Subject"] == (
        "[mtxmonitor] Escalation Tue 11 Mar 2025: 1 monitoring test long overdue"
    )
    assert "MRN N-0001 (PE), nurse: Nina" in body(escalation)
    assert "overdue 14 days" in body(escalation)

    for day in (1, 2, 3, 4):
        sweep(at(day, hour=11))
    assert len(smtp.inbox.to("derm@example.org")) == 1
    assert Reminder.objects.filter(phase="escalation").count() == 1


# --- Nowhere to send: the clinic contact ---------------------------------------------------------------
def test_patients_without_a_nurse_are_reminded_to_the_clinic_contact(clinic, smtp):
    orphan = make_patient(clinic, "N-0300", None)
    make_event(orphan, TODAY)
    sweep(NINE)
    (message,) = smtp.messages
    assert message["X-Envelope-To"] == "derm@example.org"
    assert Notification.objects.get().key == f"digest:to=clinic-{clinic.id}:on=2025-03-10"
    sweep(NINE + timedelta(hours=1))
    assert len(smtp.messages) == 1


def test_a_nurse_without_an_address_or_disabled_falls_back_to_the_clinic_contact(
    patient, nina, smtp
):
    nina.email = ""
    nina.save()
    make_event(patient, TODAY)
    sweep(NINE)
    (message,) = smtp.messages
    assert message["X-Envelope-To"] == "derm@example.org"
    assert Notification.objects.get().recipient == nina.membership


# --- Clinics in other time zones --------------------------------------------------------------------
def test_each_clinic_uses_its_own_date_at_the_same_instant(patient, other_patient, smtp):
    # 03:30 UTC on 10 March: London's 10 March (03:30 GMT), New York's 9 March (23:30 EDT).
    now = london(2025, 3, 10, 3, 30)
    london_event = make_event(patient, date(2025, 3, 10))
    ny_event = make_event(other_patient, date(2025, 3, 10))
    reminders.sweep(now=now, fan_out=False)
    london_event.refresh_from_db()
    ny_event.refresh_from_db()
    assert (london_event.status, ny_event.status) == ("due", "upcoming")


# --- Scale: queries grow with chunks, not patients ----------------------------------------------------
def _populate(clinic, nurses, patients_per_nurse, start):
    for n, nurse in enumerate(nurses):
        for i in range(patients_per_nurse):
            p = make_patient(clinic, f"Q-{start + n * 1000 + i}", nurse)
            make_event(p, TODAY + timedelta(days=3))  # upcoming
            make_event(p, TODAY)  # due
            # overdue 20 days: a nurse reminder and an escalation
            make_event(p, TODAY - timedelta(days=40), latest=TODAY - timedelta(days=20))
            make_event(p, TODAY + timedelta(days=60))  # planned


def _reset():
    Notification.objects.all().delete()
    Reminder.objects.all().delete()
    MonitoringEvent.objects.update(status="planned")


def _count_queries(**options) -> tuple[int, reminders.SweepReport]:
    with CaptureQueriesContext(connection) as ctx:
        report = reminders.sweep(now=NINE, fan_out=False, **options)
    return len(ctx.captured_queries), report


def test_sweep_query_count_grows_with_chunks_not_with_patients(
    clinic, nina, nadia, django_assert_max_num_queries
):
    nurses = [nina, nadia]
    _populate(clinic, nurses, 2, start=0)
    small, report = _count_queries()
    assert (report.chunks, Reminder.objects.count(), len(report.notification_ids)) == (1, 4 * 4, 3)

    _reset()
    _populate(clinic, nurses, 10, start=100)  # now 24 patients
    large, report = _count_queries()
    assert (report.chunks, Reminder.objects.count()) == (1, 24 * 4)
    assert large == small

    _reset()
    split, report = _count_queries(chunk_size=1)  # one chunk per nurse
    assert report.chunks == 2
    per_chunk = split - large
    # savepoint, patients, UPDATE statuses, candidates, queued keys, INSERT, 4 to compose, release
    assert 0 < per_chunk <= 11

    _reset()
    third = make_member(clinic, "noor", "nurse")
    _populate(clinic, [third], 1, start=900)
    with django_assert_max_num_queries(large + 2 * per_chunk):
        _, report = _count_queries(chunk_size=1)
    assert report.chunks == 3


def test_chunks_keep_each_nurses_patients_together(clinic, nina, nadia):
    for i in range(5):
        make_patient(clinic, f"C-{i}", nina)
    for i in range(3):
        make_patient(clinic, f"D-{i}", nadia)
    make_patient(clinic, "E-1", None)
    chunks = reminders.plan_chunks(chunk_size=4)
    assert sorted((c.nurse_ids, c.unassigned) for c in chunks) == sorted(
        [((nina.membership.id,), False), ((nadia.membership.id,), True)]
    )


# --- Two sweeps at once -----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_the_same_time_create_every_reminder_and_digest_once(clinic, nina, nadia):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite has one writer)")
    _populate(clinic, [nina, nadia], 5, start=0)
    barrier = threading.Barrier(4)
    errors = []

    def run():
        try:
            barrier.wait()
            reminders.sweep(now=NINE, fan_out=False, chunk_size=1)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Reminder.objects.count() == 10 * 4
    assert Reminder.objects.values("key").distinct().count() == 40
    assert sorted(Notification.objects.values_list("kind", flat=True)) == [
        "digest",
        "digest",
        "escalation",
    ]


# --- One broken clinic does not stop the others ---------------------------------------------------
def test_a_clinic_with_an_unknown_time_zone_is_logged_and_the_others_still_get_reminders(
    patient, other_patient, smtp, caplog
):
    from patients.models import Clinic

    Clinic.objects.filter(id=other_patient.clinic_id).update(time_zone="Mars/Olympus_Mons")
    make_event(patient, TODAY)
    make_event(other_patient, TODAY)
    sweep(NINE)
    assert len(smtp.messages) == 1 and smtp.messages[0]["X-Envelope-To"] == "nina@example.org"
    assert f"Clinic {other_patient.clinic_id}: unusable reminder settings" in caplog.text
    assert "NOT being sent" in caplog.text


# --- Wiring -----------------------------------------------------------------------------------------
def test_beat_runs_the_sweep_and_the_retry_sweep_and_celery_knows_both_tasks(settings):
    from mtxmonitor.celery import app

    ours = {
        "schedules.reminder_tasks.sweep_reminders",
        "schedules.reminder_tasks.send_due_notifications",
    }
    assert ours <= {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    # Registered at Django start-up (SchedulesConfig.ready), not only when a worker boots.
    assert ours | {
        "schedules.reminder_tasks.send_notifications",
        "schedules.reminder_tasks.send_notification",
        "schedules.reminder_tasks.sweep_reminder_chunk",
    } <= set(app.tasks)
