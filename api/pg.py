"""Cursors for the written-out queries every API request runs on PostgreSQL (the token lookup,
the alert list, the plan): prepared statements, and psycopg's compiled date-time loader.

Prepared statements: PostgreSQL plans a statement each time it is sent, and for the alert page
(a page, its count, the results behind it) planning cost more than running it - about 0.8 of
1.8 ms of the database's CPU per request on the 2-core bench machine. Prepared once per
connection (psycopg's server-side binding cursor, `prepare=True`), it is planned again only when
PostgreSQL decides to. Django leaves prepared statements off by default for transaction-pooling
PgBouncers older than 1.21 (they cannot follow a statement prepared on one server connection
to the next); behind such a pooler set DATABASE_PREPARED_STATEMENTS=0 and these cursors are
Django's own. Everything else (the ORM, the admin, the tasks) uses Django's cursors as always.

Both kinds of cursor are Django's wrappers (errors are Django's, the test client's query capture
and DEBUG's query log see them) around a psycopg cursor that loads what the ORM loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection
from psycopg.pq import Format

# psycopg's default loader for timestamptz (compiled, with psycopg[binary]).
_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"]
_C_TIMESTAMPTZ_LOADER = psycopg.postgres.adapters.get_loader(_TIMESTAMPTZ.oid, Format.TEXT)


class PreparedCursor(psycopg.Cursor):
    """psycopg's server-side binding cursor, every statement prepared on the connection the
    first time it runs there (psycopg keeps them, per connection, in its own LRU cache)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


@contextmanager
def cursor(*, compiled_timestamps: bool = False) -> Iterator:
    """A Django cursor for a written-out PostgreSQL query: prepared (unless
    DATABASE_PREPARED_STATEMENTS is off), and with `compiled_timestamps`, its timestamptz
    columns read by psycopg's compiled loader rather than Django's (a Python subclass of
    psycopg's Python loader, only to set tzinfo to UTC - which psycopg's gives too, the session's
    time zone being UTC: Django sets it). The same aware date-times for a fifth of the calls."""
    if settings.DATABASE_PREPARED_STATEMENTS:
        # What connection.cursor() does (BaseDatabaseWrapper._cursor), with another cursor.
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        with connection.wrap_database_errors:
            raw = PreparedCursor(connection.connection)
        connection.validate_thread_sharing()
        wrapped = (
            connection.make_debug_cursor(raw)
            if connection.queries_logged
            else connection.make_cursor(raw)
        )
    else:
        wrapped = connection.cursor()
    with wrapped:
        if compiled_timestamps:
            wrapped.cursor.adapters.register_loader(_TIMESTAMPTZ.oid, _C_TIMESTAMPTZ_LOADER)
        yield wrapped
