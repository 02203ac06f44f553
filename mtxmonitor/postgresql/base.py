"""Django's PostgreSQL backend; CONN_HEALTH_CHECKS skips a connection that has just answered.

With CONN_HEALTH_CHECKS (settings.py turns it on), Django sends `SELECT 1` before the first
query of every request that reuses a persistent connection, so that a connection that died while
idle (the server restarted, a firewall or pooler dropped it) is replaced instead of failing the
request. Under load that is one database round trip in four of an API request (the token, the
page, the throttle's Redis call, the check), each with its context switches on both sides.

Here a connection that completed a query less than HEALTH_CHECK_AFTER seconds ago is not
checked again: it has just shown that it works, as a `SELECT 1` would, and a connection that
dies after its last answer fails the next query whether that query is a check or the request's
own. A connection idle for longer - the case the check exists for - is checked as before.
Queries that fail mark the connection (Django's errors_occurred) and Django closes it at the end
of the request if it no longer answers, as always.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

# Seconds since a connection's last completed query within which it is not checked again.
HEALTH_CHECK_AFTER = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.answered_at = float("-inf")  # time.monotonic() of the last completed query
        self.execute_wrappers.append(self._note_answer)

    def _note_answer(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        self.answered_at = time.monotonic()  # not reached when the query raised
        return result

    def connect(self) -> None:
        self.answered_at = float("-inf")
        super().connect()

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.errors_occurred
            and time.monotonic() - self.answered_at < HEALTH_CHECK_AFTER
        ):
            self.health_check_done = True  # it has just answered: as good as a SELECT 1
            return
        super().close_if_health_check_failed()
