"""Second factor and no-store (issue 14).

RequireOTPMiddleware: a signed-in user who has a confirmed TOTP device (or any staff user, when
MTXMONITOR_REQUIRE_STAFF_OTP is on) and has not given a code in this session is sent to the code
page (or to enrolment) before anything else. It sits on the session, not on one login form, so it
holds for every login page built on Django's auth (the admin's, the staff workspace's). API
tokens are machine credentials checked by DRF after the middleware: they are not affected.

NoStoreMiddleware: `Cache-Control: no-store` on every /api/ and /admin/ answer and on every answer
to a signed-in user, so patient data never stays in a browser's or a shared cache (ASVS 8.2.1).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import patch_cache_control
from django_otp import user_has_device

NO_STORE_PREFIXES = ("/api/", "/admin/", "/staff/", "/account/")


def otp_needed(user) -> str | None:
    """None, or "verify" (has a device, no code given yet) or "enrol" (must enrol first)."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_verified():
        return None
    if user_has_device(user, confirmed=True):
        return "verify"
    if settings.MTXMONITOR_REQUIRE_STAFF_OTP and user.is_staff:
        return "enrol"
    return None


def _exempt(request) -> bool:
    path = request.path_info
    if path.startswith(
        (
            "/account/",
            settings.STATIC_URL
            if settings.STATIC_URL.startswith("/")
            else "/" + settings.STATIC_URL,
        )
    ):
        return True
    try:
        name = resolve(path).url_name or ""
    except Resolver404:
        return False
    return name in ("logout", "login")


class RequireOTPMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        needed = otp_needed(getattr(request, "user", None))
        if needed and not _exempt(request):
            if request.path_info.startswith("/api/"):
                return JsonResponse(
                    {
                        "errors": [
                            {
                                "field": None,
                                "code": "otp_required",
                                "message": "Give your authenticator code at /account/otp/ first.",
                            }
                        ]
                    },
                    status=403,
                )
            target = reverse("accounts:otp-verify" if needed == "verify" else "accounts:otp-setup")
            return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path_info.startswith(NO_STORE_PREFIXES) or getattr(
            user, "is_authenticated", False
        ):
            patch_cache_control(response, no_store=True, private=True)
        return response
