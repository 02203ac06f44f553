"""Django settings for mtxmonitor, all read from the environment.

Embedded defaults let `make run` work on a machine with nothing but Python: SQLite, and Celery
on a filesystem broker served by an embedded worker + beat (see README "Running"). Production
sets DATABASE_URL (PostgreSQL) and REDIS_URL, and must set DJANGO_SECRET_KEY.

Reference: https://docs.djangoproject.com/en/5.2/ref/settings/
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mtxmonitor.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MTXMONITOR_VAR_DIR", str(BASE_DIR / "var")))

# --- Security -----------------------------------------------------------------------------
# DEBUG is off unless asked for (DJANGO_DEBUG=1); `make run` asks for it.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or ""
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-development-key-only-used-with-DJANGO_DEBUG"  # noqa: S105
    else:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Production refuses to start without it "
            "(development: DJANGO_DEBUG=1, or use `make run` / `make test`)."
        )
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Applications -------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "simple_history",
    "patients",
    "schedules",
    "api",
    "reports",  # issue 19: the cohort report's staff page
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records who made each change in the django-simple-history tables.
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "mtxmonitor.urls"
WSGI_APPLICATION = "mtxmonitor.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
# DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/mtxmonitor. Default: SQLite in var/.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'mtxmonitor.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded worker writes while the web process reads: WAL + a busy timeout + IMMEDIATE
    # transactions avoid "database is locked" (https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-notes).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# The API's hottest queries are prepared statements on PostgreSQL (api/pg.py); 0 behind a
# transaction-pooling PgBouncer older than 1.21. psycopg prepares only with a threshold set (Django
# sets none); its cursors that Django makes bind on the client and never prepare, so only those
# queries, asked with prepare=True, are.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that skips a connection which has just answered
    # (mtxmonitor/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "mtxmonitor.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if DATABASE_PREPARED_STATEMENTS else None
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, time ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-gb"
# Stored times are UTC; each clinic's own IANA time zone decides its "today" (Clinic.time_zone).
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- E-mail -------------------------------------------------------------------------------
# SMTP server for nurse reminders (https://docs.djangoproject.com/en/5.2/topics/email/).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
# `make run` writes e-mails as files here (EMAIL_BACKEND=...filebased.EmailBackend).
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "sent-mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 1025)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "mtxmonitor <noreply@mtxmonitor.invalid>")
# Base of the links in e-mails to a patient's page.
MTXMONITOR_BASE_URL = env_str("MTXMONITOR_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Celery -------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
REDIS_URL = env_str("REDIS_URL") or ""
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A task not acknowledged within this time is redelivered; it must exceed the longest task
    # (https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    # Embedded mode: a filesystem queue in var/ that the embedded worker (`make run`) consumes.
    # Gives up: several machines sharing the queue, and `celery inspect` (no broadcast).
    _queue = VAR_DIR / "celery-queue"
    for _folder in (_queue, VAR_DIR / "celery-control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_RESULT_BACKEND = None
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Tasks are written to be idempotent, so a task lost with a dying worker is redelivered
# rather than dropped (https://docs.celeryq.dev/en/stable/faq.html#faq-acks-late-vs-retry).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Safety net: evaluates every lab result still unevaluated (stored while Redis or the worker
    # was down, or whose dispatch was lost), so nothing that arrives goes unread.
    "reconcile-lab-evaluations": {
        "task": "schedules.tasks.reconcile_unevaluated_results",
        "schedule": env_int("MTXMONITOR_RECONCILE_SECONDS", 300),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Nurse reminders (issue #5: schedules/reminders.py, schedules/mail.py) ------------------
# The sweep runs every N minutes (a divisor of 60, so a clinic's send hour, e.g. 08:00 local,
# is hit on the hour); it is idempotent, so a missed or doubled run changes nothing.
MTXMONITOR_REMINDER_SWEEP_MINUTES = env_int("MTXMONITOR_REMINDER_SWEEP_MINUTES", 15)
if MTXMONITOR_REMINDER_SWEEP_MINUTES not in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30):
    raise ImproperlyConfigured("MTXMONITOR_REMINDER_SWEEP_MINUTES must divide 60 (e.g. 5, 15, 30).")
# Patients per sweep chunk (one Celery task); a nurse's patients always share a chunk.
MTXMONITOR_REMINDER_CHUNK_SIZE = env_int("MTXMONITOR_REMINDER_CHUNK_SIZE", 2000)
# Sending: attempts before a notification is marked failed (then staff resend it in the admin),
# the first retry delay (doubled each time, capped), and how long a row may stay "sending"
# before the retry sweep assumes its worker died (well above a send's worst case, EMAIL_TIMEOUT
# per SMTP step).
MTXMONITOR_NOTIFICATION_MAX_ATTEMPTS = env_int("MTXMONITOR_NOTIFICATION_MAX_ATTEMPTS", 8)
MTXMONITOR_NOTIFICATION_RETRY_SECONDS = env_int("MTXMONITOR_NOTIFICATION_RETRY_SECONDS", 60)
MTXMONITOR_NOTIFICATION_RETRY_MAX_SECONDS = env_int("MTXMONITOR_NOTIFICATION_RETRY_MAX_SECONDS", 3600)
MTXMONITOR_NOTIFICATION_SENDING_TIMEOUT_SECONDS = env_int(
    "MTXMONITOR_NOTIFICATION_SENDING_TIMEOUT_SECONDS", 600
)
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE["sweep-reminders"] = {
    "task": "schedules.reminder_tasks.sweep_reminders",
    "schedule": crontab(minute=f"*/{MTXMONITOR_REMINDER_SWEEP_MINUTES}"),
}
# Retries whose backoff has passed, rows stuck "sending", dispatches lost while Redis was down.
CELERY_BEAT_SCHEDULE["send-due-notifications"] = {
    "task": "schedules.reminder_tasks.send_due_notifications",
    "schedule": env_int("MTXMONITOR_NOTIFICATION_RETRY_SWEEP_SECONDS", 60),
}

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mtxmonitor API",
    "DESCRIPTION": "Methotrexate and mycophenolate monitoring: patients, prescriptions, labs, "
    "monitoring plans and alerts. Clinical sources: see the README.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- API v1 (api/, issue #6) --------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK.update(
    {
        # Token auth loads the user's clinic membership in the same query (api/authentication.py).
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "api.authentication.TokenAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
        # One JSON error shape for every 4xx: {"errors": [{"field", "code", "message"}]}.
        "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
        # Every operation documents its error responses (api/schema.py).
        "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
        # Per-token budget (api/throttling.py); a lab batch of up to 1,000 results is one request.
        "DEFAULT_THROTTLE_RATES": {"token": env_str("MTXMONITOR_API_RATE", "1200/min")},
    }
)
SPECTACULAR_SETTINGS.update(
    {
        # Separate request and response components: read-only fields are not asked for.
        "COMPONENT_SPLIT_REQUEST": True,
        "SCHEMA_PATH_PREFIX": r"/api/v1",
        # One name per choice set where several share a field name (e.g. "status").
        "ENUM_NAME_OVERRIDES": {
            name: f"api.schema.enum_{name}"
            for name in (
                "DrugEnum",
                "CalculatorDrugEnum",
                "AlertSeverityEnum",
                "AdverseEventSeverityEnum",
                "AlertStatusEnum",
                "EventStatusEnum",
                "PrescriptionStatusEnum",
                "BsaFormulaEnum",
                "DiagnosisEnum",
            )
        },
    }
)
# Request size limit (https://docs.djangoproject.com/en/5.2/ref/settings/#data-upload-max-memory-size),
# also enforced on JSON bodies by api/parsers.py (413): a full lab batch of 1,000 results is
# about 300 KB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MTXMONITOR_MAX_BODY_BYTES", 2_621_440)
# Throttle counters must be shared by every web process: Redis when configured
# (https://docs.djangoproject.com/en/5.2/topics/cache/#redis), else this process's memory.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }

# --- Clinical defaults --------------------------------------------------------------------
MTXMONITOR_DEMO_PASSWORD = env_str("MTXMONITOR_DEMO_PASSWORD")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Outcomes registry and cohort report (issue 19) ---------------------------------------
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {"AdverseEventKindEnum": "api.schema.enum_AdverseEventKindEnum"}
)
