"""`Authorization: Token <key>` (DRF tokens; `manage.py create_api_token`), loading the user's
clinic membership in the same query (every request needs it for tenancy and roles)."""

from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        try:
            token = Token.objects.select_related("user", "user__membership").get(key=key)
        except (Token.DoesNotExist, ValueError):
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)
