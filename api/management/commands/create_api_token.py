"""`manage.py create_api_token USERNAME [--rotate] [--days N] [--grace-minutes M] [--list]`.

Issues an API token for a user with a clinic role (StaffMembership: the API acts only inside one
clinic) and prints its key on stdout, so scripts can do
TOKEN=$(manage.py create_api_token lab-feed). The key is shown this once: the database keeps only
its SHA-256 digest (api/models.py), so an existing key cannot be shown again.

- without --rotate: a new token beside the user's others (e.g. a second lab-system host);
- --rotate: a new token, and every other token of the user stops working at once, or after
  --grace-minutes so the integration can switch over;
- --days: the new token's lifetime (default MTXMONITOR_API_TOKEN_DAYS, 365);
- --list: the user's tokens (prefix, created, expires), no new one.
Each issue and rotation is in the access log (audit/).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken
from audit.log import record
from audit.models import AccessLog
from patients.tenancy import membership_of


class Command(BaseCommand):
    help = "Issue (or with --rotate replace) an API token for a user with a clinic role."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace the user's other tokens (they stop working at once, or after "
            "--grace-minutes).",
        )
        parser.add_argument(
            "--grace-minutes",
            type=int,
            default=0,
            help="With --rotate: how long the old keys keep working (default 0).",
        )
        parser.add_argument(
            "--days", type=int, default=None, help="Lifetime of the new token in days."
        )
        parser.add_argument("--list", action="store_true", help="List the user's tokens only.")

    @transaction.atomic
    def handle(
        self,
        *args,
        username: str,
        rotate: bool = False,
        grace_minutes: int = 0,
        days: int | None = None,
        list: bool = False,
        **options,
    ):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user {username!r}.") from exc
        if list:
            for t in ApiToken.objects.filter(user=user):
                state = "expired" if t.expired else "valid"
                self.stdout.write(
                    f"{t.prefix}…  created {t.created_at:%Y-%m-%d %H:%M}  "
                    f"expires {t.expires_at:%Y-%m-%d %H:%M}  {state}"
                )
            return
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        membership = membership_of(user)
        if membership is None:
            raise CommandError(
                f"User {username!r} has no role in a clinic; give them a StaffMembership first "
                "(the API only acts inside one clinic)."
            )
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        if grace_minutes < 0:
            raise CommandError("--grace-minutes cannot be negative.")
        now = timezone.now()
        retired = []
        if rotate:
            until = now + timedelta(minutes=grace_minutes)
            for old in ApiToken.objects.select_for_update().filter(user=user, expires_at__gt=until):
                old.expires_at = until
                old.save(update_fields=["expires_at"])
                retired.append(old.prefix)
        token, key = ApiToken.issue(user, days=days)
        record(
            AccessLog.Action.TOKEN_ROTATED if rotate else AccessLog.Action.TOKEN_ISSUED,
            user=user,
            clinic_id=membership.clinic_id,
            view="manage.py create_api_token",
            detail={
                "prefix": token.prefix,
                "expires_at": token.expires_at.isoformat(),
                "retired": retired,
                "grace_minutes": grace_minutes if rotate else None,
            },
        )
        self.stderr.write(
            f"{'Rotated' if rotate else 'Created'} token {token.prefix}… for {username} "
            f"({membership.role} at {membership.clinic.name}), expires "
            f"{token.expires_at:%Y-%m-%d}."
            + (f" {len(retired)} older token(s) retired." if retired else "")
        )
        self.stdout.write(key)
