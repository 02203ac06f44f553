"""Lean read paths for the two busiest answers: GET /alerts/ and GET /patients/{id}/plan/.

Every nurse's screen and every EHR poll reads these (a page of 50 alerts with the results behind
them cost ~14 ms of CPU, a plan ~4 ms), so they are answered without DRF's serializer machinery
and with as little ORM work as their queries need. Three layers, each answering exactly what the
general machinery answers:

1. Rows, not serializers. A ModelSerializer builds its fields by model introspection on every
   request (again for the nested lab results), then for every row and field calls get_attribute
   and to_representation on model instances the ORM built only to be read from. Here the rows
   are tuples of the columns the answer shows, and each becomes its dict in one function.
2. A count only when the page cannot tell it (api.pagination.RowsPaginator): a short page is
   the last one. The pagination shape, links and errors are DRF's.
3. On PostgreSQL, the queries these clients send all day - the alert list with no filter but
   ?status=, in the view's default order; a plan with no filter, in its default order - are
   written out (SqlRows): building them through django-filter and the ORM cost more than
   everything else in the request. Any other request - another filter, ?ordering=, an invalid
   value, another database - takes the general path (django-filter, OrderingFilter, the ORM),
   which answers errors too. Both paths scope to the clinic the same way (the alert's own
   clinic, Alert.clinic; the event's patient's clinic) and tests/api/test_read_paths.py runs
   every case through both. On the nurses' poll the results behind the page's alerts come in
   the page's own statement (AlertSqlRows); on the general path, by one written-out query.
   These statements are prepared on PostgreSQL (api/pg.py): planning them cost more than
   running them.

The formats are DRF's, byte for byte:

- ids and foreign keys: the integer (PrimaryKeyRelatedField answers the pk);
- text and choices: as stored (CharField/ChoiceField give a stored string back unchanged);
- date-times: ISO 8601 in the current time zone (UTC here), "+00:00" written "Z"
  (DRF's DateTimeField with USE_TZ and the default DATETIME_FORMAT);
- dates: ISO 8601 (DateField, default DATE_FORMAT);
- decimals: a string with the column's four places (DecimalField(12, 4), coerce_to_string);
- `details`: a copy with string keys (DictField); `tests`: a list of strings (ListField).

AlertSerializer and MonitoringEventSerializer remain the definition (the OpenAPI schema, GET
/alerts/{id}/, the actions and the timeline use them); tests/api/test_read_paths.py checks this
module against them byte for byte, and pins both answers field by field. A field added to
either serializer must be added here too - that test fails until it is.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, getcontext

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field, Model, QuerySet
from django.http import QueryDict
from django.utils import timezone

from api import pg
from patients.models import LabResult, Patient
from schedules.models import Alert, MonitoringEvent

# --- Formats (DRF's, see the module docstring) -------------------------------------------
_FOUR_PLACES = Decimal("0.0001")
_DECIMAL_12_4 = Context(prec=12, rounding=getcontext().rounding)


def _decimal_12_4(value: Decimal | None) -> str | None:
    # DecimalField(max_digits=12, decimal_places=4): quantized, then written without exponent.
    if value is None:
        return None
    return f"{value.quantize(_FOUR_PLACES, context=_DECIMAL_12_4):f}"


def _date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def datetime_formatter() -> Callable[[datetime | None], str | None]:
    """DRF's DateTimeField.to_representation, with the current time zone looked up once per
    answer rather than once per value (it is a context-local read: the largest part of DRF's
    cost per date-time)."""
    tz = timezone.get_current_timezone()

    def to_json(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return to_json


def _details(value: dict | None) -> dict | None:
    return None if value is None else {str(k): v for k, v in value.items()}


def _tests(value: Iterable | None) -> list | None:
    return None if value is None else [None if t is None else str(t) for t in value]


# --- Row sources (api.pagination.RowSource) -----------------------------------------------
class QuerysetRows:
    """The general path: the rows of a queryset (filtered and ordered by the view's backends)."""

    def __init__(self, queryset: QuerySet, columns: Sequence[str]) -> None:
        self.queryset = queryset
        self.columns = columns
        self.ordered = queryset.ordered  # Django's paginator warns about an unordered list

    def rows(self, offset: int, limit: int) -> list[tuple]:
        return list(self.queryset.values_list(*self.columns)[offset : offset + limit])

    def count(self) -> int:
        # The queryset itself, not the rows: no joins for the shown columns to plan.
        return self.queryset.count()


@dataclass(frozen=True)
class Sql:
    """A written-out list query (PostgreSQL): the page and the count, under the same conditions;
    JSON columns by position and field. With `count_in_page`, the page carries the count too:
    a scalar subquery, evaluated once per statement (the same work as a COUNT of its own, one
    round trip fewer) - for a list whose pages are usually full, where the count is needed."""

    page: str
    count: str
    json_fields: tuple[tuple[int, Field], ...] = ()
    count_in_page: bool = False

    @classmethod
    def build(
        cls, *, select, from_, where, order_by, json_fields=(), count_in_page=False, count_from=None
    ) -> Sql:
        # count_from: FROM without the joins only the shown columns need (planned for nothing).
        count = f"SELECT COUNT(*) FROM {count_from or from_} WHERE {where}"  # noqa: S608
        if count_in_page:
            select = f"{select}, ({count}) AS total_count"
        return cls(
            page=f"SELECT {select} FROM {from_} WHERE {where} ORDER BY {order_by} "  # noqa: S608
            "LIMIT %s OFFSET %s",
            count=count,
            json_fields=tuple(json_fields),
            count_in_page=count_in_page,
        )


class SqlRows:
    """The rows of an Sql with its parameters (those of its conditions). JSON columns are loaded
    as their fields load them, so the rows are the ORM's, value for value."""

    def __init__(self, sql: Sql, params: Sequence) -> None:
        self.sql = sql
        self.params = list(params)
        self.known_count: int | None = None  # read with a page (count_in_page)

    def rows(self, offset: int, limit: int) -> list[tuple]:
        params = [*self.params, *self.params] if self.sql.count_in_page else [*self.params]
        with pg.cursor(compiled_timestamps=True) as cursor:
            cursor.execute(self.sql.page, [*params, limit, offset])
            rows = cursor.fetchall()
        if self.sql.count_in_page and rows:
            self.known_count = rows[0][-1]
            rows = [row[:-1] for row in rows]
        if self.sql.json_fields:
            rows = [self._load_json(row) for row in rows]
        return rows

    def _load_json(self, row: tuple) -> tuple:
        row = list(row)
        for i, field in self.sql.json_fields:
            row[i] = field.from_db_value(row[i], None, connection)
        return tuple(row)

    def count(self) -> int:
        if self.known_count is not None:
            return self.known_count
        with pg.cursor() as cursor:
            cursor.execute(self.sql.count, self.params)
            return cursor.fetchone()[0]


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(alias: str, model: type[Model], name: str) -> str:
    return f"{alias}.{_qn(model._meta.get_field(name).column)}"


def _order_by(alias: str, model: type[Model], ordering: Sequence[str]) -> str:
    return ", ".join(
        f"{_column(alias, model, o.lstrip('-'))} {'DESC' if o.startswith('-') else 'ASC'}"
        for o in ordering
    )


def _in_clinic(alias: str, fk: str) -> tuple[str, str]:
    """FROM and WHERE parts scoping rows of `alias` to the clinic of their patient (`fk`), as
    the views' querysets do (patient__clinic_id): the clinic id is the first parameter."""
    return (
        f"JOIN {_qn(Patient._meta.db_table)} p ON p.{_qn(Patient._meta.pk.column)} = {alias}.{_qn(fk)}",
        f"p.{_qn(Patient._meta.get_field('clinic').column)} = %s",
    )


# --- Alerts --------------------------------------------------------------------------------
# The columns of AlertSerializer, in its field order (lab_results comes from LAB_COLUMNS).
ALERT_COLUMNS = (
    "id", "patient_id", "rule", "severity", "status", "message", "action", "source", "details",
    "lab_result_id", "result_version", "raised_at", "acknowledged_by__username",
    "acknowledged_at", "acknowledge_note", "resolved_by__username", "resolved_at",
    "resolve_note", "superseded_by_id",
)  # fmt: skip

# The columns of AlertLabResultSerializer, in its field order.
LAB_COLUMNS = (
    "id", "analyte", "reported_value", "reported_unit", "value", "unit", "reference_high",
    "collected_at", "accession", "version",
)  # fmt: skip


_LAB_RESULT_ID = ALERT_COLUMNS.index("lab_result_id")
_COLLECTED_AT_ID = operator.itemgetter(LAB_COLUMNS.index("collected_at"), 0)  # oldest first
_ALERT_PARAMS = frozenset({"status", "page", "page_size"})


def alert_rows(
    params: QueryDict, clinic_id: int, ordering: Sequence[str], general: Callable[[], QuerySet]
):
    """The alert list's rows: written out (SqlRows) for the nurses' poll - on PostgreSQL, no
    parameter but ?status= (valid values), ?page= and ?page_size=, the view's default order;
    else `general()` (the view's filtered, ordered queryset)."""
    statuses = set(params.getlist("status"))
    if (
        connection.vendor != "postgresql"
        or not params.keys() <= _ALERT_PARAMS
        or not statuses <= set(Alert.Status.values)  # "" or unknown: the general path's 400
    ):
        return QuerysetRows(general(), ALERT_COLUMNS)
    sql = _alerts_sql(statuses=len(statuses), ordering=tuple(ordering))
    # django-filter's MultipleChoiceFilter: the status is any of those named.
    return AlertSqlRows(sql, [clinic_id, *sorted(statuses)])


class AlertSqlRows(SqlRows):
    """The alert page read with the results linked to its alerts, in one statement (the page,
    each row joined to its links' results: one round trip fewer than asking for them after).
    rows() gives the alerts as SqlRows gives them; `linked`, the (alert id, *LAB_COLUMNS) rows
    _linked_labs would read for them, for alerts_json."""

    linked: list[tuple] | None = None

    def rows(self, offset: int, limit: int) -> list[tuple]:
        n = len(ALERT_COLUMNS)
        alerts: dict[int, tuple] = {}  # in the page's order (the statement's ORDER BY)
        linked = []
        for row in super().rows(offset, limit):
            alerts.setdefault(row[0], row[:n])
            if row[n] is not None:  # a result linked to it (LEFT JOIN: none gives NULLs)
                linked.append((row[0], *row[n:]))
        self.linked = linked
        return list(alerts.values())


@functools.cache
def _alerts_sql(*, statuses: int, ordering: tuple[str, ...]) -> Sql:
    user = get_user_model()
    username, user_pk = _qn(user._meta.get_field("username").column), _qn(user._meta.pk.column)
    columns = {
        "acknowledged_by__username": f"ack.{username}",
        "resolved_by__username": f"res.{username}",
    }
    # The alert's own copy of its patient's clinic (Alert.clinic): the page and its count are
    # read from one index, (clinic, status, newest first), with no join to the patients.
    where = [f"{_column('a', Alert, 'clinic_id')} = %s"]
    if statuses:
        # IN with a placeholder each, not = ANY(array): PostgreSQL reads one status's alerts in
        # index order (alert_clinic_status_newest) and stops after the page only for `status = x`,
        # which is what it makes of IN (x).
        where.append(f"{_column('a', Alert, 'status')} IN ({', '.join(['%s'] * statuses)})")
    sql = Sql.build(
        select=", ".join(
            f"{columns.get(c) or _column('a', Alert, c)} AS c{i}"
            for i, c in enumerate(ALERT_COLUMNS)
        ),
        from_=(
            f"{_qn(Alert._meta.db_table)} a "
            f"LEFT JOIN {_qn(user._meta.db_table)} ack "
            f"ON ack.{user_pk} = {_column('a', Alert, 'acknowledged_by_id')} "
            f"LEFT JOIN {_qn(user._meta.db_table)} res "
            f"ON res.{user_pk} = {_column('a', Alert, 'resolved_by_id')}"
        ),
        where=" AND ".join(where),
        order_by=_order_by("a", Alert, ordering),
        json_fields=[(ALERT_COLUMNS.index("details"), Alert._meta.get_field("details"))],
        count_in_page=True,  # a clinic's open alerts rarely fit one page
        count_from=f"{_qn(Alert._meta.db_table)} a",
    )
    # The page (its count last, as Sql.build puts it), each alert joined to the results linked
    # to it (AlertSqlRows). The columns are named by position (c0, c1, ...: the two usernames
    # share a name); the outer ORDER BY keeps the page's order, by the same columns.
    alert_count = len(ALERT_COLUMNS)
    outer_order = ", ".join(
        f"page.c{ALERT_COLUMNS.index(o.lstrip('-'))} {'DESC' if o.startswith('-') else 'ASC'}"
        for o in ordering
    )
    page = (
        f"SELECT {', '.join(f'page.c{i}' for i in range(alert_count))}, "  # noqa: S608
        f"{_lab_columns('lab')}, page.total_count "
        f"FROM ({sql.page}) page "
        f"{_links_and_results('page.c0')} "
        f"ORDER BY {outer_order}"
    )
    return dataclasses.replace(sql, page=page)


def _alert_labs(
    rows: Sequence[tuple], linked: Iterable[tuple] | None = None
) -> dict[int, list[tuple]]:
    """The results behind each alert of the page, oldest first: the linked ones
    (related_results) and the one that raised it (lab_result), each once - the same rows
    api.selectors.with_lab_results gives the serializer. One query: the links joined to their
    results (none when `linked`, those rows, was read with the page: AlertSqlRows). The result
    that raised an alert is linked too when the lab rules store it (schedules.services), so a
    second query, by primary key, runs only for one that is not."""
    if not rows:
        return {}
    labs: dict[int, dict[int, tuple]] = {row[0]: {} for row in rows}
    if linked is None:
        linked = _linked_labs(list(labs))
    for link in linked:  # (alert id, *LAB_COLUMNS)
        labs[link[0]][link[1]] = link[1:]
    unlinked = {
        row[0]: row[_LAB_RESULT_ID]
        for row in rows
        if row[_LAB_RESULT_ID] is not None and row[_LAB_RESULT_ID] not in labs[row[0]]
    }
    if unlinked:
        found = {
            lab[0]: lab
            for lab in LabResult.objects.filter(pk__in=set(unlinked.values())).values_list(
                *LAB_COLUMNS
            )
        }
        for alert_id, lab_id in unlinked.items():
            if lab_id in found:
                labs[alert_id][lab_id] = found[lab_id]
    return {
        alert_id: sorted(by_id.values(), key=_COLLECTED_AT_ID)
        if len(by_id) > 1
        else [*by_id.values()]
        for alert_id, by_id in labs.items()
    }


def _linked_labs(alert_ids: list[int]) -> Iterable[tuple]:
    """(alert id, *LAB_COLUMNS) of every result linked to these alerts."""
    if connection.vendor == "postgresql":
        # Written out: building this query through the ORM (eleven joined column paths, a
        # parameter per alert) cost three times the rest of its work. psycopg's loaders give
        # what the ORM gives for these columns (aware UTC date-times, Decimals), so the rows are
        # the same; tests/api/test_read_paths.py compares the two.
        with pg.cursor(compiled_timestamps=True) as cursor:
            cursor.execute(_linked_labs_sql(), [alert_ids])
            return cursor.fetchall()
    return linked_labs_orm(alert_ids)


def linked_labs_orm(alert_ids: list[int]) -> Iterable[tuple]:
    """_linked_labs through the ORM (other databases; the reference for the SQL)."""
    through = Alert.related_results.through
    return through.objects.filter(alert_id__in=alert_ids).values_list(
        "alert_id", *(f"labresult__{c}" for c in LAB_COLUMNS)
    )


def _lab_columns(alias: str) -> str:
    return ", ".join(f"{alias}.{_qn(LabResult._meta.get_field(c).column)}" for c in LAB_COLUMNS)


def _link_table() -> str:
    return _qn(Alert.related_results.through._meta.db_table)


def _link_column(name: str) -> str:
    return f"link.{_qn(Alert.related_results.through._meta.get_field(name).column)}"


def _linked_result() -> str:
    """The result of the link `link`, as `lab`: looked up by primary key (LATERAL ... OFFSET 0
    keeps PostgreSQL from turning it back into a join, for which it hashes every result of
    every patient to find fifty: 0.6 ms of the database's time instead of 0.08). Only table and
    column names (the models', quoted by the backend) are formatted in."""
    lab = LabResult._meta
    return (
        f"LATERAL (SELECT * FROM {_qn(lab.db_table)} one "  # noqa: S608
        f"WHERE one.{_qn(lab.pk.column)} = {_link_column('labresult')} OFFSET 0) lab"
    )


def _links_and_results(alert_id: str) -> str:
    """The results linked to the alert whose id is the SQL expression `alert_id`, as `lab`
    (LEFT JOINs: an alert with none gives one row, of NULLs)."""
    return (
        f"LEFT JOIN {_link_table()} link ON {_link_column('alert')} = {alert_id} "
        f"LEFT JOIN {_linked_result()} ON TRUE"
    )


@functools.cache
def _linked_labs_sql() -> str:
    # The alert ids are a parameter.
    return (
        f"SELECT {_link_column('alert')}, {_lab_columns('lab')} "  # noqa: S608
        f"FROM {_link_table()} link JOIN {_linked_result()} ON TRUE "
        f"WHERE {_link_column('alert')} = ANY(%s)"
    )


def alerts_json(rows: Sequence[tuple], linked: Iterable[tuple] | None = None) -> list[dict]:
    """AlertSerializer's answer for each row of ALERT_COLUMNS, with its lab results (`linked`:
    see _alert_labs)."""
    labs = _alert_labs(rows, linked)
    dt = datetime_formatter()

    def lab_json(lab) -> dict:
        pk, analyte, value, unit, canonical, canonical_unit, high, collected, accession, ver = lab
        return {
            "id": pk,
            "analyte": analyte,
            "value": value,
            "unit": unit,
            "canonical_value": _decimal_12_4(canonical),
            "canonical_unit": canonical_unit,
            "reference_high": _decimal_12_4(high),
            "collected_at": dt(collected),
            "accession": accession,
            "version": ver,
        }

    out = []
    for row in rows:
        (
            pk, patient, rule, severity, status, message, action, source, details, lab_result,
            result_version, raised_at, acknowledged_by, acknowledged_at, acknowledge_note,
            resolved_by, resolved_at, resolve_note, superseded_by,
        ) = row  # fmt: skip
        out.append(
            {
                "id": pk,
                "patient": patient,
                "rule": rule,
                "severity": severity,
                "status": status,
                "message": message,
                "action": action,
                "source": source,
                "details": _details(details) if details else details,  # None, {}: as they are
                "lab_result": lab_result,
                "result_version": result_version,
                "lab_results": [lab_json(lab) for lab in labs.get(pk, ())],
                "raised_at": dt(raised_at),
                "acknowledged_by": acknowledged_by,
                "acknowledged_at": None if acknowledged_at is None else dt(acknowledged_at),
                "acknowledge_note": acknowledge_note,
                "resolved_by": resolved_by,
                "resolved_at": None if resolved_at is None else dt(resolved_at),
                "resolve_note": resolve_note,
                "superseded_by": superseded_by,
            }
        )
    return out


# --- Monitoring plan -----------------------------------------------------------------------
# The columns of MonitoringEventSerializer, in its field order.
EVENT_COLUMNS = (
    "id", "patient_id", "prescription_id", "drug", "kind", "tests", "earliest", "target",
    "latest", "status", "completed_on", "phase", "interval_days", "explanation", "protocol",
    "source", "alert_id", "completion_reason", "completion_note",
)  # fmt: skip


_PLAN_PARAMS = frozenset({"page", "page_size"})


def plan_rows(
    params: QueryDict,
    clinic_id: int,
    patient_id: int,
    ordering: Sequence[str],
    general: Callable[[], QuerySet],
):
    """A patient's plan as rows: written out (SqlRows) on PostgreSQL when the request names no
    filter and no ordering (the EHRs' poll); else `general()` (the view's filtered queryset)."""
    if connection.vendor != "postgresql" or not params.keys() <= _PLAN_PARAMS:
        return QuerysetRows(general(), EVENT_COLUMNS)
    return SqlRows(_plan_sql(tuple(ordering)), [clinic_id, patient_id])


@functools.cache
def _plan_sql(ordering: tuple[str, ...]) -> Sql:
    joins, in_clinic = _in_clinic("e", MonitoringEvent._meta.get_field("patient").column)
    return Sql.build(
        select=", ".join(_column("e", MonitoringEvent, c) for c in EVENT_COLUMNS),
        from_=f"{_qn(MonitoringEvent._meta.db_table)} e {joins}",
        where=f"{in_clinic} AND {_column('e', MonitoringEvent, 'patient_id')} = %s",
        order_by=_order_by("e", MonitoringEvent, ordering),
        json_fields=[(EVENT_COLUMNS.index("tests"), MonitoringEvent._meta.get_field("tests"))],
    )


def events_json(rows: Sequence[tuple]) -> list[dict]:
    """MonitoringEventSerializer's answer for each row of EVENT_COLUMNS."""
    out = []
    for row in rows:
        (
            pk, patient, prescription, drug, kind, tests, earliest, target, latest, status,
            completed_on, phase, interval_days, explanation, protocol, source, alert,
            completion_reason, completion_note,
        ) = row  # fmt: skip
        out.append(
            {
                "id": pk,
                "patient": patient,
                "prescription": prescription,
                "drug": drug,
                "kind": kind,
                "tests": _tests(tests),
                "earliest": _date(earliest),
                "target": _date(target),
                "latest": _date(latest),
                "status": status,
                "completed_on": _date(completed_on),
                "phase": phase,
                "interval_days": interval_days,
                "explanation": explanation,
                "protocol": protocol,
                "source": source,
                "alert": alert,
                "completion_reason": completion_reason,
                "completion_note": completion_note,
            }
        )
    return out
