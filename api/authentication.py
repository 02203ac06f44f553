"""`Authorization: Token <key>` (`manage.py create_api_token`), loading the user's clinic
membership in the same query (every request needs it for tenancy and roles). Keys are looked up
by their SHA-256 digest (api/models.py) and refused once expired."""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from api import pg
from api.models import ApiToken as Token
from api.models import digest
from patients.models import StaffMembership


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        if "\x00" in key:
            # PostgreSQL text cannot hold NUL: the lookup would be a DataError (a 500), not "no
            # such token". (gunicorn refuses such a header first; other servers may not.)
            raise exceptions.AuthenticationFailed("Invalid token.")
        try:
            token = _token_with_user(digest(key))
        except (Token.DoesNotExist, ValueError):
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(
                "Token expired: ask for a new one (manage.py create_api_token --rotate)."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)


def _token_with_user(key_digest: str) -> Token:
    """The token, its user and the user's membership (None when it has none), as
    Token.objects.select_related("user", "user__membership").get(key_digest=...) loads them."""
    if connection.vendor != "postgresql":
        return Token.objects.select_related("user", "user__membership").get(key_digest=key_digest)
    # The same query written out: every API request runs it, and building it through the ORM
    # (three models' columns, select_related's bookkeeping) cost four times the query itself.
    # PostgreSQL's loaders give the ORM's values for these columns (aware UTC date-times), and
    # the objects are made and linked as select_related makes and links them.
    with pg.cursor() as cursor:  # a prepared statement
        cursor.execute(_token_sql(), [key_digest])
        row = cursor.fetchone()
    if row is None:
        raise Token.DoesNotExist("Token matching query does not exist.")
    user_model = get_user_model()
    n_token, n_user = len(Token._meta.concrete_fields), len(user_model._meta.concrete_fields)
    token = Token.from_db(connection.alias, None, row[:n_token])
    user = user_model.from_db(connection.alias, None, row[n_token : n_token + n_user])
    membership_row = row[n_token + n_user :]
    membership_pk = StaffMembership._meta.concrete_fields.index(StaffMembership._meta.pk)
    membership = (
        StaffMembership.from_db(connection.alias, None, membership_row)
        if membership_row[membership_pk] is not None  # else no membership row was joined
        else None
    )
    Token._meta.get_field("user").set_cached_value(token, user)
    membership_user = StaffMembership._meta.get_field("user")
    # None cached as select_related caches it: user.membership raises DoesNotExist, no query.
    membership_user.remote_field.set_cached_value(user, membership)
    if membership is not None:
        membership_user.set_cached_value(membership, user)
    return token


@functools.cache
def _token_sql() -> str:
    # Only the models' table and column names (quoted by the backend) are formatted in; the key
    # is a parameter.
    qn = connection.ops.quote_name
    user_model = get_user_model()

    def columns(model, alias):
        return [f"{alias}.{qn(f.column)}" for f in model._meta.concrete_fields]

    select = ", ".join(
        [*columns(Token, "t"), *columns(user_model, "u"), *columns(StaffMembership, "m")]
    )
    token_user = qn(Token._meta.get_field("user").column)
    membership_user = qn(StaffMembership._meta.get_field("user").column)
    user_pk = qn(user_model._meta.pk.column)
    return (
        f"SELECT {select} FROM {qn(Token._meta.db_table)} t "  # noqa: S608
        f"JOIN {qn(user_model._meta.db_table)} u ON u.{user_pk} = t.{token_user} "
        f"LEFT JOIN {qn(StaffMembership._meta.db_table)} m ON m.{membership_user} = u.{user_pk} "
        f"WHERE t.{qn(Token._meta.get_field('key_digest').column)} = %s"
    )
