"""mtxmonitor/postgresql: the health check skips a connection that has just answered, and still
replaces one that died while idle (the case CONN_HEALTH_CHECKS exists for).

Each request ends (and the next begins) with close_if_unusable_or_obsolete(); its first query
runs the health check. The tests drive those steps on the real connection."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the backend is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def checks(monkeypatch) -> list[bool]:
    """Each health check (is_usable: SELECT 1) run on the connection, with its outcome."""
    from mtxmonitor.postgresql import base

    seen: list[bool] = []
    is_usable = base.DatabaseWrapper.is_usable

    def spy(self):
        seen.append(is_usable(self))
        return seen[-1]

    monkeypatch.setattr(base.DatabaseWrapper, "is_usable", spy)
    return seen


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request() -> None:
    connection.close_if_unusable_or_obsolete()  # request_finished, then request_started


def idle(seconds: float) -> None:
    connection.answered_at -= seconds  # as if its last answer were that much older


def terminate(pid: int) -> None:
    db = settings.DATABASES["default"]
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_backend_is_in_use_with_health_checks_on():
    from mtxmonitor.postgresql.base import DatabaseWrapper

    assert isinstance(connections["default"], DatabaseWrapper)
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    assert connection.settings_dict["CONN_MAX_AGE"] > 0  # persistent: the check matters


def test_a_connection_that_has_just_answered_is_not_checked_again(checks):
    pid = backend_pid()
    for _ in range(3):
        next_request()
        assert backend_pid() == pid
    assert checks == []


def test_a_connection_idle_for_longer_is_checked(checks):
    from mtxmonitor.postgresql.base import HEALTH_CHECK_AFTER

    pid = backend_pid()
    next_request()
    idle(HEALTH_CHECK_AFTER)
    assert backend_pid() == pid
    assert checks == [True]
    next_request()  # it answered the check and the query: not checked again
    backend_pid()
    assert checks == [True]


def test_a_connection_that_died_while_idle_is_replaced_before_the_query(checks):
    pid = backend_pid()
    terminate(pid)
    next_request()
    idle(60)
    assert backend_pid() != pid  # the request's own query ran, on a new connection
    assert checks == [False]


def test_a_connection_that_died_just_after_answering_fails_one_query_then_is_replaced(checks):
    # The trade made (mtxmonitor/postgresql/base.py): within HEALTH_CHECK_AFTER of its last
    # answer a connection is trusted, so one that dies then fails the next query - as it would
    # if it died between a check and the query. Django then closes it; the next request
    # reconnects. The API answers such a failure 503 (api/exceptions.py).
    pid = backend_pid()
    terminate(pid)
    next_request()
    connection.answered_at = time.monotonic()  # however long the termination took
    with pytest.raises(OperationalError):
        backend_pid()
    assert connection.errors_occurred
    next_request()  # Django checks a connection that raised, and closes it
    assert checks == [False]
    assert backend_pid() != pid
