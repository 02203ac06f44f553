#!/usr/bin/env bash
# `make run`: migrate, load demo data, print a login, then serve the admin and API on :8000 with
# a Celery worker and beat beside it. No DATABASE_URL/REDIS_URL: SQLite and a filesystem queue
# in var/ (embedded mode); with them set: PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DJANGO_DEBUG="${DJANGO_DEBUG:-1}"
export EMAIL_BACKEND="${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"
export EMAIL_FILE_PATH="${EMAIL_FILE_PATH:-$PWD/var/sent-mail}"
mkdir -p var/celery-queue var/celery-control var/sent-mail

$BIN/python manage.py migrate --noinput
$BIN/python manage.py seed_demo

if [ -n "${REDIS_URL:-}" ]; then
  echo "Celery: worker and beat on Redis ($REDIS_URL)."
  POOL=(--concurrency 2)
else
  echo "Celery: embedded worker and beat on a filesystem queue in var/ (no REDIS_URL set)."
  POOL=(--pool solo)
fi
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT INT TERM
$BIN/celery -A mtxmonitor worker "${POOL[@]}" --loglevel INFO --logfile var/celery-worker.log &
$BIN/celery -A mtxmonitor beat --loglevel INFO --logfile var/celery-beat.log \
  --schedule var/celerybeat-schedule &
echo "Worker and beat logs: var/celery-worker.log, var/celery-beat.log; e-mails: ${EMAIL_FILE_PATH}."
echo "Serving http://127.0.0.1:8000/admin/ and http://127.0.0.1:8000/api/schema/ (Ctrl-C stops)."
$BIN/python manage.py runserver 127.0.0.1:8000 --noreload
