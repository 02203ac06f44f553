from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Monitoring, alerts and notifications"

    def ready(self) -> None:
        # Celery's autodiscovery imports `schedules.tasks` only; register the reminder tasks too.
        from schedules import reminder_tasks  # noqa: F401
