"""The workspace's calendar page (issue #17 item 6): a nurse makes her own feed's address, a
clinician the clinic's, a viewer none; the address is shown once and each new one stops the old.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from schedules.models import CalendarFeed

pytestmark = pytest.mark.django_db


def make_address(client: Client) -> str:
    answer = client.post("/staff/calendar/")
    assert answer.status_code == 200
    found = re.search(r'<code class="feed-url">([^<]+)</code>', answer.content.decode())
    assert found, "the new address is shown"
    return urlsplit(found.group(1)).path


def test_a_nurse_makes_her_own_feed_and_a_new_address_stops_the_old(client_as, clinic):
    nurse = client_as("nurse")
    first = make_address(nurse)
    assert first.startswith("/calendar/nurse/")
    feed = CalendarFeed.objects.get(nurse__user__username=f"nurse-{clinic.pk}")
    assert feed.clinic_id == clinic.pk
    assert Client().get(first).status_code == 200  # the feed itself needs no session
    # The address is not shown again: only its hash is kept.
    again = nurse.get("/staff/calendar/").content.decode()
    assert first not in again and "cannot be shown again" in again
    second = make_address(nurse)
    assert second != first
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200
    assert CalendarFeed.objects.filter(nurse__isnull=False).count() == 1


def test_a_clinician_makes_the_clinics_feed(client_as, clinic):
    path = make_address(client_as("clinician"))
    assert path.startswith("/calendar/clinic/")
    assert CalendarFeed.objects.get(nurse__isnull=True).clinic_id == clinic.pk


def test_a_viewer_reads_the_page_but_makes_no_address(client_as):
    viewer = client_as("viewer")
    assert viewer.get("/staff/calendar/").status_code == 200
    assert viewer.post("/staff/calendar/").status_code == 403
    assert not CalendarFeed.objects.exists()


def test_each_clinic_gets_its_own_feed(client_as, clinic, other_clinic):
    make_address(client_as("clinician"))
    make_address(client_as("clinician", where=other_clinic))
    assert set(CalendarFeed.objects.values_list("clinic_id", flat=True)) == {
        clinic.pk,
        other_clinic.pk,
    }
