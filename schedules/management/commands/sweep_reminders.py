"""`manage.py sweep_reminders`: the reminder sweep for cron, the same code Celery beat runs.

    */15 * * * *  cd /srv/mtxmonitor && .venv/bin/python manage.py sweep_reminders

By default it needs no worker: it runs every chunk here, then sends the e-mails (the day's
digests, escalations, and every notification whose retry is due). With --fan-out it queues the
chunks for the Celery workers instead, exactly as beat does. Safe to run as often as you like
and beside beat: every write is keyed (see schedules/reminders.py and schedules/mail.py).
"""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Move monitoring events through upcoming/due/overdue and send the nurses' reminders."

    def add_arguments(self, parser):
        parser.add_argument(
            "--fan-out",
            action="store_true",
            help="Queue the chunks for Celery workers (as beat does) instead of running them here.",
        )
        parser.add_argument(
            "--now",
            help="Pretend it is this instant (ISO 8601 with offset); for replays and tests.",
        )
        parser.add_argument("--chunk-size", type=int, help="Patients per chunk (default: setting).")
        parser.add_argument(
            "--no-send",
            action="store_true",
            help="Queue reminders and compose e-mails but send nothing (the next run sends them).",
        )

    def handle(self, *args, **options):
        from schedules.mail import send_batch, send_due
        from schedules.reminders import sweep

        now = None
        if options["now"]:
            try:
                now = datetime.fromisoformat(options["now"])
            except ValueError as exc:
                raise CommandError(f"--now: {exc}") from exc
            if now.tzinfo is None:
                raise CommandError("--now needs a time-zone offset, e.g. 2025-03-30T08:00+01:00.")
        if options["chunk_size"] is not None and options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")

        report = sweep(now=now, fan_out=options["fan_out"], chunk_size=options["chunk_size"])
        line = f"{report.clinics} clinic(s), {report.chunks} chunk(s)"
        if options["fan_out"]:
            self.stdout.write(f"Queued {line} for the workers.")
            if not options["no_send"]:
                send_due(now=now)  # retries and stuck rows; the chunks queue their own digests
            return
        self.stdout.write(
            f"Swept {line}: {report.statuses_changed} status change(s), "
            f"{report.reminders_queued} reminder(s) queued, "
            f"{len(report.notification_ids)} e-mail(s) composed."
        )
        if options["no_send"]:
            return
        outcomes = send_batch(report.notification_ids, now=now)
        for outcome, n in send_due(now=now, inline=True).items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
        summary = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "nothing to send"
        self.stdout.write(f"Sending: {summary}.")
