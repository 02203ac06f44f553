"""`manage.py sweep_reminders`: the cron twin of the beat task."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import CommandError, call_command

from schedules.models import Notification
from tests.reminders.conftest import london, make_event, sweep

TODAY = date(2025, 3, 10)
NINE = london(2025, 3, 10, 9)


def test_the_cron_command_sweeps_sends_and_says_what_it_did(patient, smtp):
    make_event(patient, TODAY)
    out = sweep(NINE)
    assert (
        "Swept 1 clinic(s), 1 chunk(s): 1 status change(s), 1 reminder(s) queued, "
        "1 e-mail(s) composed." in out
    )
    assert "Sending: 1 sent." in out
    assert len(smtp.messages) == 1
    assert "Sending: nothing to send." in sweep(NINE)


def test_no_send_composes_and_the_next_run_sends(patient, smtp):
    make_event(patient, TODAY)
    sweep(NINE, no_send=True)
    assert Notification.objects.get().state == "pending" and smtp.messages == []
    sweep(NINE)
    assert len(smtp.messages) == 1


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--now", "2025-03-10T09:00"], "needs a time-zone offset"),
        (["--now", "tomorrow"], "--now"),
        (["--chunk-size", "0"], "at least 1"),
    ],
)
def test_the_command_refuses_bad_arguments(args, error, db):
    with pytest.raises(CommandError, match=error):
        call_command("sweep_reminders", *args)


@pytest.mark.worker
def test_fan_out_queues_the_chunks_for_the_workers(tasks, patient, smtp):
    make_event(patient, TODAY)
    out = sweep(NINE, fan_out=True)
    assert "Queued 1 clinic(s), 1 chunk(s) for the workers." in out
    tasks.wait_idle()
    smtp.inbox.wait_for(1)
    assert Notification.objects.get().state == "sent"
