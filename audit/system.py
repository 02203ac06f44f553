"""The "system" actor: changes made by Celery workers carry the inactive user "system" and a
change reason naming the task in django-simple-history (issue 14, item 7)."""

from __future__ import annotations

import threading

from celery.signals import task_postrun, task_prerun

SYSTEM_USERNAME = "system"
# The names of the tasks running in this thread, innermost last (an eager task may run another).
_running = threading.local()


def system_user():
    """The inactive user "system" that stands for the workers in the history tables."""
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "mtxmonitor", "last_name": "(system)"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _stack() -> list[str]:
    if not hasattr(_running, "tasks"):
        _running.tasks = []
    return _running.tasks


def current_task() -> str | None:
    stack = _stack()
    return stack[-1] if stack else None


@task_prerun.connect(dispatch_uid="audit-task-prerun")
def _task_started(sender=None, task=None, **kwargs):
    _stack().append(getattr(task, "name", None) or "task")


@task_postrun.connect(dispatch_uid="audit-task-postrun")
def _task_finished(sender=None, task=None, **kwargs):
    stack = _stack()
    if stack:
        stack.pop()


def system_actor():
    """The system user inside a Celery task, else None (a person, or nobody known)."""
    return system_user() if current_task() is not None else None
