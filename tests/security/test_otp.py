"""Issue 14, item 6: optional TOTP for staff (django-otp). The codes are computed here from the
device's key by RFC 6238 itself (HMAC-SHA1, 30-second steps, 6 digits), not by django-otp."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "pw-for-tests-only"

pytestmark = pytest.mark.django_db


def totp(key: bytes, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(code).zfill(digits)


def signed_in(user) -> Client:
    client = Client()
    r = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD})
    assert r.status_code == 302, r.content[:500]
    return client


def test_a_user_with_a_device_must_give_its_code_after_the_password(alice):
    device = TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    client = signed_in(alice)
    r = client.get("/admin/patients/patient/")
    assert r.status_code == 302 and r["Location"].startswith("/account/otp/")
    assert client.get("/api/v1/patients/").status_code == 403  # the session API too
    wrong = str((int(totp(device.bin_key)) + 1) % 10**6).zfill(6)
    r = client.post("/account/otp/", {"otp_token": wrong, "next": "/admin/patients/patient/"})
    assert r.status_code == 200 and b"not right" in r.content
    assert client.get("/admin/").status_code == 302
    device.refresh_from_db()
    device.throttling_failure_count = 0  # django-otp slows down after a wrong code
    device.throttling_failure_timestamp = None
    device.save()
    r = client.post(
        "/account/otp/", {"otp_token": totp(device.bin_key), "next": "/admin/patients/patient/"}
    )
    assert r.status_code == 302 and r["Location"] == "/admin/patients/patient/"
    assert client.get("/admin/patients/patient/").status_code == 200


def test_the_code_is_asked_whatever_page_signed_the_user_in(alice):
    """The staff workspace signs in with Django's own login view: the second factor is held
    by the session, not by the admin's login form."""
    TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    client = Client()
    client.force_login(alice)
    r = client.get("/staff/")
    assert r.status_code in (302, 404)
    r = client.get("/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/account/otp/")


def test_without_a_device_nothing_changes_unless_required(alice, settings):
    client = signed_in(alice)
    assert client.get("/admin/").status_code == 200
    settings.MTXMONITOR_REQUIRE_STAFF_OTP = True
    r = client.get("/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/account/otp/setup/")


def test_staff_enrol_an_authenticator_with_a_real_code(alice, settings):
    settings.MTXMONITOR_REQUIRE_STAFF_OTP = True
    client = signed_in(alice)
    page = client.get("/account/otp/setup/")
    assert page.status_code == 200
    shown = re.search(rb"Key: <code>([A-Z2-7 ]+)</code>", page.content).group(1)
    key = base64.b32decode(shown.replace(b" ", b"") + b"=" * (-len(shown.replace(b" ", b"")) % 8))
    assert b"otpauth://totp/" in page.content
    r = client.post("/account/otp/setup/", {"otp_token": totp(key), "next": "/admin/"})
    assert r.status_code == 302 and r["Location"] == "/admin/"
    assert TOTPDevice.objects.get(user=alice).confirmed
    assert client.get("/admin/").status_code == 200
    # The next sign-in asks for the code.
    fresh = signed_in(alice)
    assert fresh.get("/admin/").status_code == 302


def test_a_password_alone_cannot_enrol_a_second_device(alice):
    TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    client = signed_in(alice)
    r = client.get("/account/otp/setup/")
    assert r.status_code == 302 and r["Location"].startswith("/account/otp/?")
    assert TOTPDevice.objects.filter(user=alice).count() == 1
