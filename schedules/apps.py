from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Monitoring, alerts and notifications"

    def ready(self) -> None:
        # Calendar feeds (issue 17 item 6): registers the check that the chart link names the
        # patient. Celery's autodiscovery imports `schedules.tasks` only; register the reminder
        # tasks too. The plan's inputs mark it stale for the periodic re-plan (issue 14).
        from schedules import (  # noqa: F401
            calendar,
            reminder_tasks,
            signals,
        )
