"""The Celery app (https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html).

All configuration lives in Django settings under the CELERY_ prefix.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mtxmonitor.settings")

app = Celery("mtxmonitor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
