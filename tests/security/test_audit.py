"""Issue 14, item 7: the access log (audit/) and the system actor in the history tables.

On the code before issue 14 none of these reads, sign-ins, token changes or Resends left a trace,
and the workers' changes had no actor (history_user empty)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from audit.models import AccessLog
from tests.api.conftest import make_prescription, token_client
from tests.conftest import make_member

PASSWORD = "pw-for-tests-only"

pytestmark = pytest.mark.django_db


def reads(**kw):
    return list(AccessLog.objects.filter(action="read", **kw).order_by("id"))


def test_api_reads_of_a_patient_are_recorded_with_who_what_and_where(patient, other_patient, nina):
    client = token_client(nina)
    assert client.get(f"/api/v1/patients/{patient.pk}/", REMOTE_ADDR="127.0.0.5").status_code == 200
    (row,) = reads()
    assert (row.user, row.username, row.patient_id, row.clinic_id) == (
        nina,
        "nina",
        patient.pk,
        patient.clinic_id,
    )
    assert (row.view, row.method, row.address) == ("api:patient-detail", "GET", "127.0.0.5")
    assert row.path == f"/api/v1/patients/{patient.pk}/"

    for url in ("plan", "timeline", "measurements"):
        assert client.get(f"/api/v1/patients/{patient.pk}/{url}/").status_code == 200
    assert [r.view for r in reads()][1:] == [
        "api:patient-plan",
        "api:patient-timeline",
        "api:patient-measurements",
    ]
    # Another clinic's patient: a 404, nothing was shown, nothing recorded.
    assert client.get(f"/api/v1/patients/{other_patient.pk}/").status_code == 404
    assert not reads(patient_id=other_patient.pk)


def test_a_list_records_one_row_per_patient_shown(clinic, patient, toddler, nina):
    client = token_client(nina)
    assert client.get("/api/v1/patients/").json()["count"] == 2
    assert sorted(r.patient_id for r in reads(view="api:patient-list")) == sorted(
        [patient.pk, toddler.pk]
    )
    # "Who has seen Pat's record?" is one query on the patient.
    assert {r.username for r in AccessLog.objects.filter(patient=patient)} == {"nina"}


def test_admin_patient_pages_are_recorded(patient, alice):
    client = Client()
    client.force_login(alice)
    for page in ("change", "history"):
        assert client.get(f"/admin/patients/patient/{patient.pk}/{page}/").status_code == 200
    assert client.get("/admin/patients/patient/").status_code == 200
    assert [(r.view, r.patient_id) for r in reads(user=alice)] == [
        ("admin:patients_patient_change", patient.pk),
        ("admin:patients_patient_history", patient.pk),
        ("admin:patients_patient_changelist", patient.pk),
    ]


def test_workspace_patient_pages_are_recorded(patient, other_patient, alice):
    client = Client()
    client.force_login(alice)
    for page in ("", "timeline/"):
        assert client.get(f"/staff/patients/{patient.pk}/{page}").status_code == 200
    # Another clinic's chart is a 404: it showed nothing and records nothing.
    assert client.get(f"/staff/patients/{other_patient.pk}/").status_code == 404
    assert [(r.view, r.patient_id) for r in reads(user=alice)] == [
        ("workspace:chart", patient.pk),
        ("workspace:timeline", patient.pk),
    ]


def test_sign_ins_failures_and_lockouts_are_recorded(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    form = {"username": "alice", "password": PASSWORD}
    client.post("/admin/login/", {**form, "password": "wrong"}, REMOTE_ADDR="127.0.0.6")
    client.post("/admin/login/", {"username": "mallory", "password": "x"}, REMOTE_ADDR="127.0.0.6")
    assert client.post("/admin/login/?next=/admin/", form).status_code == 302
    client.post("/admin/logout/")
    rows = list(AccessLog.objects.order_by("id").values_list("action", "username", "address"))
    assert rows == [
        ("login_failed", "alice", "127.0.0.6"),
        ("login_failed", "mallory", "127.0.0.6"),
        ("login", "alice", "127.0.0.1"),
        ("logout", "alice", "127.0.0.1"),
    ]
    assert AccessLog.objects.get(username="mallory").user is None
    for _ in range(3):
        Client().post("/admin/login/", {**form, "password": "wrong"})
    assert AccessLog.objects.filter(action="locked_out", username="alice").exists()


def test_token_issue_and_rotation_are_recorded(clinic, capsys):
    feed = make_member(clinic, "lab-feed", "integration", staff=False)
    call_command("create_api_token", "lab-feed")
    first = capsys.readouterr().out.strip()
    call_command("create_api_token", "lab-feed", "--rotate", "--grace-minutes", "30")
    rows = list(AccessLog.objects.filter(user=feed).order_by("id"))
    assert [r.action for r in rows] == ["token_issued", "token_rotated"]
    assert rows[0].detail["prefix"] == first[:8] and first not in str(rows[0].detail)
    assert rows[1].detail["retired"] == [first[:8]] and rows[1].clinic_id == clinic.pk


def test_the_admins_resend_is_recorded(clinic, alice):
    from schedules.models import Notification

    n = Notification.objects.create(
        clinic=clinic, kind="digest", key="digest:x", to_email="nina@example.org", state="failed"
    )
    client = Client()
    client.force_login(alice)
    client.post("/admin/schedules/notification/", {"action": "resend", "_selected_action": [n.id]})
    row = AccessLog.objects.get(action="resend")
    assert (row.user, row.clinic_id, row.detail["notifications"]) == (alice, clinic.pk, [n.id])


def test_the_log_is_read_only_and_each_clinic_sees_its_own(clinic, patient, alice, nina, bob):
    token_client(nina).get(f"/api/v1/patients/{patient.pk}/")
    AccessLog.objects.create(action="login", user=bob, username="bob", clinic=bob.membership.clinic)
    client = Client()
    client.force_login(alice)
    page = client.get("/admin/audit/accesslog/")
    assert page.status_code == 200
    shown = list(page.context["cl"].result_list)
    assert shown and all(r.clinic_id == clinic.pk for r in shown)
    assert "bob" not in {r.username for r in shown}
    other = AccessLog.objects.get(username="bob")
    assert client.get(f"/admin/audit/accesslog/{other.pk}/change/").status_code == 302  # not found
    mine = shown[0]
    assert client.post(f"/admin/audit/accesslog/{mine.pk}/delete/").status_code == 403
    nurse = Client()
    nurse.force_login(nina)
    assert nurse.get("/admin/audit/accesslog/").status_code == 403  # clinicians only


def test_changes_made_by_a_worker_are_marked_as_the_system(patient):
    from schedules.models import MonitoringEvent
    from schedules.tasks import replan_patient

    make_prescription(patient)
    replan_patient.apply(args=[patient.pk])  # as a worker runs it
    history = MonitoringEvent.history.filter(patient_id=patient.pk)
    assert history.exists()
    assert {h.history_user.username for h in history} == {"system"}
    assert not history.first().history_user.is_active  # nobody can sign in as it


def test_a_save_inside_a_task_is_the_systems_and_a_persons_stays_theirs(patient, alice):
    from celery.signals import task_postrun, task_prerun

    from schedules.tasks import replan_patient

    task_prerun.send(sender=replan_patient, task=replan_patient, task_id="t1", args=(), kwargs={})
    try:
        patient.given_name = "Patricia"  # changed by a worker
        patient.save()
    finally:
        task_postrun.send(sender=replan_patient, task=replan_patient, task_id="t1")
    latest = patient.history.first()
    assert latest.history_user.username == "system"
    assert latest.history_change_reason == "system: schedules.tasks.replan_patient"
    patient.given_name = "Pat"  # changed by a person
    patient._history_user = alice
    patient.save()
    assert patient.history.first().history_user == alice
