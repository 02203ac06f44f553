from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("otp/", views.otp_verify, name="otp-verify"),
    path("otp/setup/", views.otp_setup, name="otp-setup"),
]
