"""Make or rotate a calendar feed's secret token and print its URL once (issue 17 item 6).

    manage.py calendar_token --nurse nurse.nina          # a nurse's own patients
    manage.py calendar_token --clinic "Northside Dermatology"   # or the clinic's id

Rotating replaces the token at once: the old URL is a 404 from then on. Only the token's
SHA-256 is stored, so the URL printed here cannot be shown again (rotate to get a new one).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from patients.models import Clinic, StaffMembership
from schedules.calendar import feed_rotate, feed_url


class Command(BaseCommand):
    help = "Create or rotate a nurse's or a clinic's calendar feed token; print the URL once."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--nurse", metavar="USERNAME", help="The nurse's username.")
        who.add_argument("--clinic", metavar="NAME_OR_ID", help="The clinic's name or id.")

    def handle(self, *args, nurse=None, clinic=None, **opts):
        if nurse:
            membership = (
                StaffMembership.objects.select_related("clinic", "user")
                .filter(user__username=nurse)
                .first()
            )
            if membership is None:
                raise CommandError(f"--nurse: no staff member with username {nurse!r}.")
            if membership.role != StaffMembership.Role.NURSE:
                raise CommandError(
                    f"--nurse: {nurse!r} is a {membership.get_role_display().lower()}, not a "
                    "nurse (a clinic's feed: --clinic)."
                )
            feed, token = feed_rotate(nurse=membership)
        else:
            found = Clinic.objects.filter(name=clinic).first()
            if found is None and clinic.isdigit():
                found = Clinic.objects.filter(pk=int(clinic)).first()
            if found is None:
                raise CommandError(f"--clinic: no clinic named (or with id) {clinic!r}.")
            feed, token = feed_rotate(clinic=found)
        rotated = feed.rotated_at is not None
        self.stdout.write(
            f"{feed}: {'token rotated, the old URL no longer works' if rotated else 'created'}.\n"
            f"{feed_url(feed, token)}\n"
            "Keep it secret: anyone with this URL sees the calendar. It is not stored and is "
            "shown only now."
        )
