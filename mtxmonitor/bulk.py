"""Bulk INSERT of new rows together with their django-simple-history rows, fast.

`simple_history.utils.bulk_create_with_history` does the same thing through Django's
`bulk_create`, which prepares every value of every row in Python (about 4 µs a value: for a
batch of 1,000 lab results, 24 columns and their 28-column history rows, most of the request's
time). On PostgreSQL this module instead takes the ids from the table's sequence and sends rows
and history rows with `COPY ... FROM STDIN`, whose values psycopg adapts in C: the same rows, the
same history (type "+", the given user, the same date for the batch), in the caller's
transaction, with every constraint enforced by the database (a duplicate is an IntegrityError, as
from `bulk_create`). Elsewhere (SQLite, the embedded default) it is `bulk_create_with_history`.

Only for plain INSERTs of new objects: no signals are sent (neither does `bulk_create`), no
many-to-many rows are written, and `auto_now`/`auto_now_add` fields get their value as in
`bulk_create`. Measured in bench/README.md (`bench_ingest.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

# Field types whose Python value psycopg adapts exactly as Django would (Django's own preparation
# returns them unchanged on PostgreSQL); any other type goes through `get_db_prep_save`.
_AS_IS = (
    models.CharField,
    models.TextField,
    models.IntegerField,  # includes the positive, small, big and auto variants
    models.BooleanField,
    models.DateTimeField,
    models.DateField,
    models.DecimalField,
    models.ForeignKey,
)
_HISTORY_COLUMNS = {"history_id", "history_date", "history_change_reason", "history_type"}


def insert_with_history(
    objs: Sequence[models.Model], model: type[models.Model], *, user=None
) -> Sequence[models.Model]:
    """Insert new, unsaved `objs` of `model` and one "+" history row each; set their ids.

    Must run inside a transaction (the caller's), so that a failure leaves neither."""
    if not objs:
        return objs
    if user is None:
        from audit.system import system_actor

        user = system_actor()  # inside a Celery task: the "system" user (issue 14)
    history = model.history.model
    tracked = {f.attname for f in history.tracked_fields}
    extra = {
        f.attname
        for f in history._meta.concrete_fields
        if f.attname not in tracked and f.attname not in _HISTORY_COLUMNS
    } - {"history_user_id"}
    if connection.vendor != "postgresql" or extra:
        # Not PostgreSQL, or a history model with columns of its own: the library's way.
        return bulk_create_with_history(objs, model, batch_size=500, default_user=user)

    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if f is not pk]
    prepare = [None if isinstance(f, _AS_IS) else f for f in fields]
    now = timezone.now()
    qn = connection.ops.quote_name
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, pk.column, len(objs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        rows = []
        for obj, pk_value in zip(objs, ids, strict=True):
            values = []
            for f, prep in zip(fields, prepare, strict=True):
                value = f.pre_save(obj, add=True)  # fills auto_now(_add), as bulk_create does
                values.append(value if prep is None else prep.get_db_prep_save(value, connection))
            rows.append((pk_value, *values))
        columns = [pk.column] + [f.column for f in fields]
        by_attname = {pk.attname: 0} | {f.attname: i + 1 for i, f in enumerate(fields)}
        hist_fields = [f for f in history._meta.concrete_fields if f.attname in tracked]
        hist_columns = [f.column for f in hist_fields] + [
            "history_date",
            "history_change_reason",
            "history_type",
            "history_user_id",
        ]
        hist_index = [by_attname[f.attname] for f in hist_fields]
        user_id = getattr(user, "pk", None)
        with connection.wrap_database_errors:  # IntegrityError etc., as from bulk_create
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(
                f"COPY {qn(model._meta.db_table)} ({', '.join(map(qn, columns))}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            with raw.copy(
                f"COPY {qn(history._meta.db_table)} ({', '.join(map(qn, hist_columns))}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row((*(row[i] for i in hist_index), now, None, "+", user_id))
    for obj, pk_value in zip(objs, ids, strict=True):
        obj.pk = pk_value
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs
