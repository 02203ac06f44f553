from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Monitoring, alerts and notifications"

    def ready(self) -> None:
        # Celery's autodiscovery imports `schedules.tasks` only; register the reminder tasks too.
        # The plan's inputs mark it stale for the periodic re-plan (issue 14).
        from schedules import (
            reminder_tasks,  # noqa: F401
            signals,  # noqa: F401
        )
