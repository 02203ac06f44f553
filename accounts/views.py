"""The second factor: give a TOTP code (/account/otp/) and enrol an authenticator
(/account/otp/setup/). django-otp's TOTPDevice checks the code (RFC 6238, 30 s steps, one step
of drift) and slows down repeated wrong codes."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.log import record
from audit.models import AccessLog


class TokenForm(forms.Form):
    otp_token = forms.CharField(
        label="Code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("admin:index")


def _login_first(request):
    return redirect_to_login(request.get_full_path(), reverse("admin:login"))


@never_cache
def otp_verify(request):
    user = request.user
    if not user.is_authenticated:
        return _login_first(request)
    devices = list(devices_for_user(user, confirmed=True))
    if not devices:
        return redirect(f"{reverse('accounts:otp-setup')}?{urlencode({'next': _next(request)})}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["otp_token"].strip()
        for device in devices:
            if device.verify_token(token):
                otp_login(request, device)
                record(AccessLog.Action.OTP_VERIFIED, request=request)
                return redirect(_next(request))
        record(AccessLog.Action.OTP_FAILED, request=request)
        form.add_error("otp_token", "That code is not right (or came too late). Try the next one.")
    return render(
        request, "accounts/otp_verify.html", {"form": form, "next": _next(request), "title": "Code"}
    )


@never_cache
def otp_setup(request):
    user = request.user
    if not user.is_authenticated:
        return _login_first(request)
    if user_has_confirmed(user) and not user.is_verified():
        # A second authenticator only after the first one's code: a stolen password alone
        # must not be enough to enrol the thief's phone.
        return redirect(
            f"{reverse('accounts:otp-verify')}?{urlencode({'next': request.get_full_path()})}"
        )
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["otp_token"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            record(AccessLog.Action.OTP_ENROLLED, request=request, detail={"device": device.pk})
            messages.success(request, "Authenticator enrolled: sign-ins now ask for its code.")
            return redirect(_next(request))
        form.add_error("otp_token", "That code is not right: check the key and the phone's clock.")
    key = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "accounts/otp_setup.html",
        {
            "form": form,
            "next": _next(request),
            "key": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
            "config_url": device.config_url,
            "title": "Enrol an authenticator",
        },
    )


def user_has_confirmed(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()
