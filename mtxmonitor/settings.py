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
MTXMONITOR_NOTIFICATION_RETRY_MAX_SECONDS = env_int(
    "MTXMONITOR_NOTIFICATION_RETRY_MAX_SECONDS", 3600
)
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

# --- Calendar feeds (issue 17 item 6) ------------------------------------------------------
# The chart link in each calendar event; "{id}" is the patient's id. Default: the staff
# workspace's chart page under MTXMONITOR_BASE_URL.
MTXMONITOR_CHART_URL = env_str(
    "MTXMONITOR_CHART_URL", f"{MTXMONITOR_BASE_URL}/staff/patients/{{id}}/"
)
# Done and cancelled draws stay in the feeds this many days (cancelled: STATUS:CANCELLED).
MTXMONITOR_CALENDAR_RETENTION_DAYS = env_int("MTXMONITOR_CALENDAR_RETENTION_DAYS", 30)
# --- Hardening and audit (issue 14, items 6 and 7) ----------------------------------------
# Measured against Django's deployment checklist and OWASP ASVS 4.0 level 2. The production
# environment that makes `manage.py check --deploy --fail-level WARNING` clean behind the shipped
# nginx is in the README ("Production security settings") and is run by tests/test_hardening.py.
from datetime import timedelta  # noqa: E402

# HTTPS (https://docs.djangoproject.com/en/5.2/ref/middleware/#http-strict-transport-security).
# Off by default so a laptop on http:// works; production turns them on.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# Behind a proxy that terminates TLS and SETS (never forwards) X-Forwarded-Proto, as
# deploy/nginx/mtxmonitor.conf does. Never on without such a proxy: a client could claim https.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies in front append to X-Forwarded-For (1 behind the shipped nginx): the client's
# address for the login lockout and the audit log is the one the outermost trusted proxy saw.
MTXMONITOR_TRUSTED_PROXY_COUNT = env_int("MTXMONITOR_TRUSTED_PROXY_COUNT", 0)
# Sessions: an idle timeout (ASVS 3.3.2), renewed by every request; gone when the browser closes.
SESSION_COOKIE_AGE = env_int("MTXMONITOR_SESSION_IDLE_MINUTES", 30) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Passwords: at least 12 characters, not all digits, not a common one, not like the user's name
# (ASVS 2.1.1, 2.1.7).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# E-mails carry MRNs and lab values: STARTTLS unless asked not to (on by default when not DEBUG).
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not DEBUG)

INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp", "accounts", "audit"]
# Login lockout (django-axes): on the authentication backend, so it guards every login page that
# uses Django's auth (the admin's, the staff workspace's), not one URL. Locked per user name and,
# separately, per address, after MTXMONITOR_LOGIN_FAILURE_LIMIT failures; released after the
# cool-off or by `manage.py axes_reset_username USER` / `axes_reset_ip ADDRESS`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("MTXMONITOR_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("MTXMONITOR_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_ip"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# Optional TOTP for staff (django-otp): a user with a confirmed device must give its code after the
# password on any login page; MTXMONITOR_REQUIRE_STAFF_OTP=1 requires every staff user to enrol.
MTXMONITOR_REQUIRE_STAFF_OTP = env_bool("MTXMONITOR_REQUIRE_STAFF_OTP", False)
OTP_TOTP_ISSUER = "mtxmonitor"
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE += [
    "accounts.middleware.RequireOTPMiddleware",
    # Cache-Control: no-store on every /api/ and /admin/ answer and on any answer to a signed-in
    # user: patient data never stays in a browser's or a proxy's cache.
    "accounts.middleware.NoStoreMiddleware",
    # One access-log row per patient shown by a patient page or API answer (audit/).
    "audit.middleware.PatientReadAuditMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]
# API tokens are stored as SHA-256 digests (api.models.ApiToken) and expire.
MTXMONITOR_API_TOKEN_DAYS = env_int("MTXMONITOR_API_TOKEN_DAYS", 365)
# --- Clinic workspace at /staff/ (workspace/, issue #17) ----------------------------------
INSTALLED_APPS.append("workspace")
# Staff log in at /staff/login/ and land on Today (https://docs.djangoproject.com/en/5.2/ref/settings/#login-redirect-url).
LOGIN_URL = "workspace:login"
LOGIN_REDIRECT_URL = "workspace:today"
LOGOUT_REDIRECT_URL = "workspace:login"
# The one date format of the workspace (Django's `date` filter syntax: "j M Y" is 3 Dec 2026),
# applied in the clinic's time zone; a time, where shown, follows as 24-hour "H:i".
MTXMONITOR_DATE_FORMAT = env_str("MTXMONITOR_DATE_FORMAT", "j M Y")
# --- Reliability under faults (issue 14, reliability half; README "Reliability") -------------
# Store first: no request that stores clinical data waits long on Redis. The throttle's cache
# and the broker get short socket timeouts; a throttle whose cache errors lets the request
# through (api/throttling.py), a publish that fails after commit is logged and the result (or
# plan, or e-mail) is picked up by the periodic sweeps below from the database.
MTXMONITOR_CACHE_TIMEOUT_SECONDS = float(env_str("MTXMONITOR_CACHE_TIMEOUT_SECONDS", "0.5"))
MTXMONITOR_BROKER_TIMEOUT_SECONDS = float(env_str("MTXMONITOR_BROKER_TIMEOUT_SECONDS", "2"))
# After a failed publish (or cache call), a process skips the broker (the throttle's cache) for
# this long: a frozen Redis then costs one timeout per process per period (mtxmonitor/dispatch.py).
MTXMONITOR_BROKER_BACKOFF_SECONDS = float(env_str("MTXMONITOR_BROKER_BACKOFF_SECONDS", "10"))
MTXMONITOR_CACHE_BACKOFF_SECONDS = float(env_str("MTXMONITOR_CACHE_BACKOFF_SECONDS", "5"))
if REDIS_URL:
    CACHES["default"].setdefault("OPTIONS", {}).update(
        socket_connect_timeout=MTXMONITOR_CACHE_TIMEOUT_SECONDS,
        socket_timeout=MTXMONITOR_CACHE_TIMEOUT_SECONDS,
    )
    # https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html
    # (without socket_timeout a publish to a frozen Redis waits for ever).
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        socket_timeout=MTXMONITOR_BROKER_TIMEOUT_SECONDS,
        socket_connect_timeout=MTXMONITOR_BROKER_TIMEOUT_SECONDS,
        # Fail a publish fast rather than retrying a dead connection for ever.
        max_retries=0,
        interval_start=0,
        interval_step=0.2,
        interval_max=0.2,
    )
    CELERY_REDIS_SOCKET_TIMEOUT = MTXMONITOR_BROKER_TIMEOUT_SECONDS
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = MTXMONITOR_BROKER_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Nothing left silent: how often the safety nets run (database time decides what is due).
# A critical result stored while the worker was down is evaluated within RECONCILE_SECONDS
# (+ GRACE) of the worker's return, and its e-mail goes at once; a critical e-mail a dying
# worker left "sending" is released after CRITICAL_SENDING_TIMEOUT_SECONDS and re-sent by the
# next retry sweep (MTXMONITOR_NOTIFICATION_RETRY_SWEEP_SECONDS): under 2 minutes in all.
MTXMONITOR_RECONCILE_GRACE_SECONDS = env_int("MTXMONITOR_RECONCILE_GRACE_SECONDS", 20)
MTXMONITOR_REPLAN_SECONDS = env_int("MTXMONITOR_REPLAN_SECONDS", 60)
MTXMONITOR_REPLAN_GRACE_SECONDS = env_int("MTXMONITOR_REPLAN_GRACE_SECONDS", 15)
MTXMONITOR_CRITICAL_SENDING_TIMEOUT_SECONDS = env_int(
    "MTXMONITOR_CRITICAL_SENDING_TIMEOUT_SECONDS", 60
)
CELERY_BEAT_SCHEDULE["reconcile-lab-evaluations"]["schedule"] = env_int(
    "MTXMONITOR_RECONCILE_SECONDS", 60
)
CELERY_BEAT_SCHEDULE["replan-stale-plans"] = {
    "task": "schedules.tasks.replan_stale",
    "schedule": MTXMONITOR_REPLAN_SECONDS,
}
CELERY_BEAT_SCHEDULE["send-due-notifications"]["schedule"] = env_int(
    "MTXMONITOR_NOTIFICATION_RETRY_SWEEP_SECONDS", 30
)
# A sweep queued while no worker ran is dropped rather than run N times on the worker's return.
for _entry in ("reconcile-lab-evaluations", "replan-stale-plans", "send-due-notifications"):
    CELERY_BEAT_SCHEDULE[_entry]["options"] = {
        "expires": max(10, int(CELERY_BEAT_SCHEDULE[_entry]["schedule"]) - 5)
    }
# Digests are capped in size: past the cap the e-mail lists the first patients in full and
# links to the staff worklist for the rest (schedules/mail.py). Common SMTP limit: 10 MB.
MTXMONITOR_DIGEST_MAX_BYTES = env_int("MTXMONITOR_DIGEST_MAX_BYTES", 1_000_000)
# --- Staff UI safety: vendored API docs and a Content-Security-Policy (issue #13) ----------
# /api/docs/ serves Swagger UI from the pinned drf-spectacular-sidecar package (no CDN), its
# init script as a separate same-origin file (SpectacularSwaggerSplitView in urls.py).
INSTALLED_APPS.append("drf_spectacular_sidecar")
SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        # No call to the public validator service from a logged-in page.
        "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    }
)
# Scripts only from this host (no inline script, no eval, no other host); styles may be inline
# (the admin's and Swagger UI's style attributes); images also as data: URIs (Swagger UI's
# icons). Applied to every response by mtxmonitor/csp.py.
CONTENT_SECURITY_POLICY = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'", "'unsafe-inline'"),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "mtxmonitor.csp.ContentSecurityPolicyMiddleware",
)
# --- Outcomes registry and cohort report (issue 19) ---------------------------------------
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {"AdverseEventKindEnum": "api.schema.enum_AdverseEventKindEnum"}
)
