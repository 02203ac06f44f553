"""Sign-in events into the access log, and the "system" actor for changes made by workers."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from audit.log import record
from audit.models import AccessLog
from audit.system import current_task, system_user


@receiver(user_logged_in, dispatch_uid="audit-login")
def _logged_in(sender, request, user, **kwargs):
    record(AccessLog.Action.LOGIN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        record(AccessLog.Action.LOGOUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username") or "")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first() if username else None
    record(
        AccessLog.Action.LOGIN_FAILED,
        request=request,
        user=user,
        username=username,
        detail={"known_user": user is not None},
    )


@receiver(user_locked_out, dispatch_uid="audit-locked-out")
def _locked_out(sender, request, username, ip_address, **kwargs):
    record(
        AccessLog.Action.LOCKED_OUT,
        request=request,
        username=username or "",
        detail={"address": ip_address},
    )


@receiver(pre_create_historical_record, dispatch_uid="audit-system-history")
def _mark_system_changes(sender, instance, history_instance, **kwargs):
    """A change made inside a Celery task, with no person behind it, is the system's."""
    task = current_task()
    if task is None or history_instance.history_user_id is not None:
        return
    history_instance.history_user = system_user()
    if not history_instance.history_change_reason:
        history_instance.history_change_reason = f"system: {task}"
