"""Calendar feed URLs (issue 17 item 6), included at /calendar/ by mtxmonitor/urls.py."""

from django.urls import re_path

from schedules.views import calendar_feed

app_name = "calendar"

urlpatterns = [
    re_path(
        r"^(?P<kind>nurse|clinic)/(?P<token>[A-Za-z0-9_-]+)\.ics$",
        calendar_feed,
        name="feed",
    ),
]
