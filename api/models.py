"""API tokens, stored hashed (issue 14, item 6).

The key is shown once, when it is made (`manage.py create_api_token`); the database keeps only
its SHA-256 digest, so a copy of the database or a backup gives no working key. A key is 40
random hex characters (160 bits), so a fast unsalted digest is enough: there is nothing to guess
a dictionary from (OWASP ASVS 2.10.3 / 3.5.2). Each token expires (MTXMONITOR_API_TOKEN_DAYS,
365 by default) and a rotation gives the old key a grace period or none.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="The key's first 8 characters, to tell keys apart."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id}, expires {self.expires_at:%Y-%m-%d})"

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @classmethod
    def issue(cls, user, *, days: int | None = None) -> tuple[ApiToken, str]:
        """A new token for `user` and its key (the only time the key exists in clear)."""
        key = secrets.token_hex(20)
        days = settings.MTXMONITOR_API_TOKEN_DAYS if days is None else days
        now = timezone.now()
        token = cls.objects.create(
            user=user,
            key_digest=digest(key),
            prefix=key[:8],
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        return token, key
