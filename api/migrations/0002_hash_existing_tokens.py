"""Existing DRF tokens (plaintext keys in authtoken_token) become hashed ApiTokens with the
default expiry, and the plaintext rows are deleted: the keys in use keep working, and the
database no longer holds them."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def hash_tokens(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("api", "ApiToken")
    now = timezone.now()
    days = getattr(settings, "MTXMONITOR_API_TOKEN_DAYS", 365)
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=t.user_id,
            key_digest=hashlib.sha256(t.key.encode()).hexdigest(),
            prefix=t.key[:8],
            created_at=t.created,
            expires_at=now + timedelta(days=days),
        )
        for t in Token.objects.all()
    )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_hashed_api_tokens"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(hash_tokens, migrations.RunPython.noop)]
