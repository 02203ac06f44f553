"""Django's PostgreSQL backend, with a health check that skips connections known to work
(see base.py). settings.DATABASES uses it whenever DATABASE_URL is a PostgreSQL URL."""
