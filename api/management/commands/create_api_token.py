"""`manage.py create_api_token USERNAME [--rotate]`: print the user's API token (creating it).

The user must have a role in a clinic (StaffMembership): the API acts only inside one clinic.
Only the key is printed on stdout, so scripts can do TOKEN=$(manage.py create_api_token lab-feed).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from patients.tenancy import membership_of


class Command(BaseCommand):
    help = "Create (or show, or with --rotate replace) the API token of a user with a clinic role."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace an existing token (the old key stops working at once).",
        )

    @transaction.atomic
    def handle(self, *args, username: str, rotate: bool = False, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user {username!r}.") from exc
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        membership = membership_of(user)
        if membership is None:
            raise CommandError(
                f"User {username!r} has no role in a clinic; give them a StaffMembership first "
                "(the API only acts inside one clinic)."
            )
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        self.stderr.write(
            f"{'Created' if created else 'Existing'} token for {username} "
            f"({membership.role} at {membership.clinic.name})."
        )
        self.stdout.write(token.key)
