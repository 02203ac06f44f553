"""Every URL the admin registers × every clinic role × another clinic's objects (issue #13).

The walk enumerates `admin.site` itself (each registered ModelAdmin's URL patterns, the site's own
patterns, every admin action and every autocomplete field), so a model or a view registered later
is walked without touching this file. It fails on:
- any 200 answer that shows the other clinic's data (every row of that clinic carries "ZZF");
- any change at all to the other clinic's rows or their history (a GET or a POST that wrote);
- a URL pattern it does not know how to fill (so nobody adds one that escapes the walk).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.forms.models import _get_foreign_key, model_to_dict
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone

from tests.conftest import make_member

pytestmark = pytest.mark.django_db

MARK = "zzf"  # in every foreign row's names; never in the own clinic's


@pytest.fixture
def foreign(db):
    """One row of every clinical model at the ZZF clinic, each with a history of two versions."""
    from patients.models import (
        AdverseEvent,
        Clinic,
        DiseaseAssessment,
        Measurement,
        Patient,
        Prescription,
    )
    from patients.services import lab_result_record
    from schedules.models import Alert, MonitoringEvent, Notification

    clinic = Clinic.objects.create(
        name="ZZF Clinic", time_zone="Europe/Berlin", contact_email="zzf-clinic@example.org"
    )
    nurse = make_member(clinic, "zzfnurse", "nurse")
    p = Patient.objects.create(
        clinic=clinic,
        mrn="ZZF-0001",
        given_name="Quintessa",
        family_name="Zzfalk",
        birth_date=date(1975, 2, 14),
        sex="female",
        diagnosis="rheumatoid_arthritis",
        responsible_nurse=nurse.membership,
    )
    p.given_name = "Quintessa"
    p.save()  # a second history version
    m = Measurement.objects.create(
        patient=p, measured_on=date(2025, 1, 6), weight_kg=Decimal("61.3"), height_cm=163
    )
    rx = Prescription.objects.create(
        patient=p,
        drug="methotrexate",
        dose_mg=Decimal("15"),
        frequency="once_weekly",
        weekday="friday",
        start_date=date(2025, 1, 10),
        reason="ZZF start",
    )
    lab = lab_result_record(
        patient=p,
        analyte="WBC",
        value="6.4",
        unit="10^9/L",
        collected_at=timezone.now() - timedelta(days=1),
        accession="ZZF-ACC-1",
    ).result
    alert = Alert.objects.create(
        patient=p,
        lab_result=lab,
        result_version=lab.version,
        rule="zzf_rule",
        severity="critical",
        message="ZZF finding",
        action="ZZF action",
        source="ZZF source",
    )
    event = MonitoringEvent.objects.create(
        patient=p,
        prescription=rx,
        drug="methotrexate",
        key="zzf-event",
        kind="lab",
        tests=["fbc"],
        earliest=date(2025, 2, 1),
        target=date(2025, 2, 7),
        latest=date(2025, 2, 14),
        explanation="ZZF plan",
    )
    da = DiseaseAssessment.objects.create(
        patient=p, assessed_on=date(2025, 1, 6), iga=2, notes="ZZF notes"
    )
    ae = AdverseEvent.objects.create(
        patient=p,
        prescription=rx,
        kind="nausea",
        onset_date=date(2025, 1, 20),
        severity="mild",
        description="ZZF nausea",
    )
    note = Notification.objects.create(
        clinic=clinic,
        key="zzf-notification",
        kind="critical",
        recipient=nurse.membership,
        to_email="zzf-nurse@example.org",
        patient=p,
        alert=alert,
        subject="ZZF subject",
    )
    from audit.models import AccessLog
    from schedules.calendar import feed_rotate

    feed, _token = feed_rotate(nurse=nurse.membership)  # the ZZF nurse's calendar feed
    log = AccessLog.objects.create(
        action="read", user=nurse, username="zzfnurse", clinic=clinic, patient=p, view="zzf-view"
    )
    rows = [clinic, nurse.membership, p, m, rx, lab, alert, event, da, ae, note, feed, log]
    for row in rows:
        if hasattr(type(row), "history") and not isinstance(row, Measurement):
            row.save()  # a second version of every row with history (the walk opens each)
    # A measurement is never edited: its second version is a correction that supersedes it.
    Measurement.objects.create(
        patient=p,
        measured_on=date(2025, 1, 6),
        weight_kg=Decimal("61.8"),
        height_cm=163,
        supersedes=m,
        correction_reason="ZZF typo",
    )
    return {type(r): r for r in rows}


@pytest.fixture
def own(clinic, patient):
    return {"clinic": clinic, "patient": patient}


def fingerprint() -> dict[str, dict]:
    """Every row of the project's apps and of their history tables, in full, by primary key."""
    out = {}
    for config in ("patients", "schedules", "api"):
        for model in apps.get_app_config(config).get_models():
            out[model._meta.label] = {
                row[0]: row
                for row in model.objects.order_by("pk").values_list(
                    "pk", *[f.attname for f in model._meta.concrete_fields]
                )
            }
    return out


def writes(before, after, foreign) -> list[str]:
    """Rows changed or deleted (any clinic's), and new rows of the foreign clinic."""
    out = []
    foreign_ids = {type(o)._meta.label: o.pk for o in foreign.values()}
    foreign_clinic = next(o for o in foreign.values() if type(o).__name__ == "Clinic")
    for label, rows in before.items():
        for pk, row in rows.items():
            if after[label].get(pk) != row:
                out.append(f"{label} {pk} changed or deleted")
        new = set(after[label]) - set(rows)
        if not new:
            continue
        model = apps.get_model(label)
        base = getattr(model, "instance_type", None)  # a simple-history model's base model
        if base is not None:
            if model.objects.filter(pk__in=new, id=foreign_ids.get(base._meta.label)).exists():
                out.append(f"{label}: a new version of another clinic's {base.__name__}")
        elif model in admin.site._registry:
            path = getattr(admin.site._registry[model], "clinic_path", None)
            if path and model.objects.filter(pk__in=new, **{path: foreign_clinic.pk}).exists():
                out.append(f"{label}: a new row in another clinic")
    return out


def walk_patterns(resolver_patterns, prefix=""):
    for p in resolver_patterns:
        if isinstance(p, URLResolver):
            yield from walk_patterns(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield p


def fill(pattern: URLPattern, obj, history_id, ma) -> list[str]:
    """Concrete URLs for one pattern and one foreign object (and one of its history ids)."""
    regex = pattern.pattern.regex
    names = list(regex.groupindex)
    unnamed = regex.groups - len(names)
    if not pattern.name:
        # Django's own unnamed "<object_id>/" redirect to the change page.
        route = str(pattern.pattern)
        assert route == "<path:object_id>/", f"unnamed admin URL {route}: name it to be walked"
        opts = ma.model._meta
        return [f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/"]
    if not names and not unnamed:
        return [reverse(f"admin:{pattern.name}")]
    if unnamed:
        assert unnamed == 2 and "history" in str(pattern.pattern), pattern.pattern
        return [reverse(f"admin:{pattern.name}", args=[obj.pk, history_id])]
    urls = []
    actions = getattr(ma, "ACTIONS", None) or ("x",)
    for action in actions if "action" in names else (None,):
        kwargs = {}
        for name in names:
            if name in ("object_id", "pk", "id"):
                kwargs[name] = obj.pk
            elif name == "action":
                kwargs[name] = action
            else:
                pytest.fail(f"admin URL {pattern.pattern}: teach the walk what {name} is")
        urls.append(reverse(f"admin:{pattern.name}", kwargs=kwargs))
    return urls


def post_payload(ma, obj, own) -> dict:
    """A plausible form: the object's own values, moved to the user's clinic and patient."""
    data = {}
    for k, v in model_to_dict(obj).items():
        if v is None:
            continue
        if isinstance(v, list):
            data[k] = [getattr(x, "pk", x) for x in v]
        elif isinstance(v, str):
            # No marker in what is posted: a form that echoes its input is no leak.
            data[k] = re.sub(MARK, "own", v, flags=re.IGNORECASE)
        else:
            data[k] = getattr(v, "pk", v)
    for k in ("clinic", "patient"):
        if k in data:
            data[k] = own[k].pk
    data.update(
        {
            "_save": "Save",
            "effective_date": date.today().isoformat(),
            "reason": "walk",
            "note": "walk",
            "acknowledge_note": "walk",
            "resolve_note": "walk",
            "dose_mg": "7.5",
            "end_reason": "other",
            "completed_on": date.today().isoformat(),
            "value": "0.5",
            "reported_value": "0.5",
        }
    )
    for inline in getattr(ma, "inlines", []):
        fk = _get_foreign_key(ma.model, inline.model, fk_name=inline.fk_name)
        prefix = fk.remote_field.get_accessor_name(model=inline.model).replace("+", "")
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return data


CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def page_text(response) -> str:
    """The page without its CSRF token (a random token may spell the marker)."""
    return CSRF_TOKEN.sub("", response.content.decode())


def shows_foreign(response) -> bool:
    return response.status_code == 200 and MARK in page_text(response).lower()


ROLES = ("clinician", "nurse", "viewer", "integration")


@pytest.mark.parametrize("role", ROLES)
def test_no_admin_url_shows_or_changes_another_clinics_records(client, role, foreign, own):
    user = make_member(own["clinic"], f"walker-{role}", role)
    client.force_login(user)
    before = fingerprint()
    leaks: list[str] = []
    visited = 0
    kinds: set[str] = set()

    def probe(url: str, data: dict | None = None) -> None:
        nonlocal visited
        visited += 1
        r = client.get(url) if data is None else client.post(url, data)
        if shows_foreign(r):
            text = page_text(r)
            at = text.lower().index(MARK)
            method = "POST" if data is not None else "GET"
            leaks.append(f"{method} {url} -> 200 with {MARK}: ...{text[at - 150 : at + 50]}...")

    for model, ma in admin.site._registry.items():
        obj = foreign.get(model)
        if obj is None:
            # A model the fixture lacks: its rows are not clinical (auth users, groups...) or
            # the fixture must grow. Clinic data is everything in these apps.
            assert model._meta.app_label not in ("patients", "schedules", "audit"), (
                f"{model._meta.label} is registered in the admin: add a row of it to `foreign`"
            )
            continue
        history_ids = (
            list(model.history.filter(id=obj.pk).values_list("history_id", flat=True))
            if hasattr(model, "history")
            else [0]
        )
        for pattern in walk_patterns(ma.get_urls()):
            kinds.add((pattern.name or "_redirect").rsplit("_", 1)[-1])
            for hid in history_ids:
                for url in fill(pattern, obj, hid, ma):
                    probe(url)
                    probe(url, post_payload(ma, obj, own))
                    # The changelist: searched for the foreign row, in a raw-id popup too.
                    if (pattern.name or "").endswith("_changelist"):
                        probe(f"{url}?q=Quintessa")
                        probe(f"{url}?_to_field=id&_popup=1&q=Quintessa")
                        probe(f"{url}?{ma.model._meta.pk.attname}={obj.pk}")
                        for action in ma.get_actions(_request_for(user)) or ("delete_selected",):
                            for extra in ({}, {"post": "yes"}):
                                probe(
                                    url,
                                    {
                                        "action": action,
                                        "_selected_action": [obj.pk],
                                        "index": 0,
                                        **extra,
                                        **post_payload(ma, obj, own),
                                    },
                                )
                    if model.__name__ == "Patient" and pattern.pattern.regex.groups == 2:
                        # Another clinic's version under one's own patient's id.
                        u = reverse(f"admin:{pattern.name}", args=[own["patient"].pk, hid])
                        probe(u)
                        probe(u, post_payload(ma, obj, own))
        # Autocomplete from every field that offers it, searched for the foreign row.
        for field in ma.get_autocomplete_fields(_request_for(user)):
            q = {
                "app_label": model._meta.app_label,
                "model_name": model._meta.model_name,
                "field_name": field,
            }
            for term in ("", "Quintessa", "ZZF"):
                r = client.get(reverse("admin:autocomplete"), {**q, "term": term})
                visited += 1
                if r.status_code == 200 and "zzf" in r.content.decode().lower():
                    leaks.append(f"autocomplete {q} term={term!r} shows {MARK}")
        # The site's view-on-site shortcut for the foreign object.
        ct = ContentType.objects.get_for_model(model)
        probe(reverse("admin:view_on_site", args=[ct.pk, obj.pk]))

    # The site's own pages (index, app lists, password change...).
    for pattern in walk_patterns(admin.site.get_urls()):
        if pattern.name in (None, "view_on_site", "autocomplete", "logout"):
            continue
        names = list(pattern.pattern.regex.groupindex)
        if names == ["app_label"]:
            for label in ("patients", "schedules"):
                probe(reverse(f"admin:{pattern.name}", kwargs={"app_label": label}))
        elif not names and not pattern.pattern.regex.groups:
            probe(reverse(f"admin:{pattern.name}"))

    assert not leaks, "\n".join(leaks)
    changed = writes(before, fingerprint(), foreign)
    assert not changed, f"a {role} wrote through the admin: {changed}"
    # The walk really walked: change, history list and history version of every model.
    assert {"change", "history", "delete", "changelist"} <= kinds
    assert "history" in kinds and any(
        (p.name or "").endswith("_simple_history")
        for ma in admin.site._registry.values()
        for p in ma.get_urls()
    )
    assert visited > 200


def _request_for(user):
    from django.test import RequestFactory

    r = RequestFactory().get("/admin/")
    r.user = user
    return r


def test_the_walk_would_see_a_leak(client, foreign, own):
    """The detector itself: a superuser (who sees every clinic) is shown the marker."""
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(root)
    p = foreign[type(own["patient"])]
    assert shows_foreign(client.get(f"/admin/patients/patient/{p.pk}/history/"))
    hid = p.history.values_list("history_id", flat=True).first()
    assert shows_foreign(client.get(f"/admin/patients/patient/{p.pk}/history/{hid}/"))


def test_own_clinic_pages_still_open(client, own, foreign):
    user = make_member(own["clinic"], "walker", "clinician")
    client.force_login(user)
    p = own["patient"]
    for url in (
        f"/admin/patients/patient/{p.pk}/change/",
        f"/admin/patients/patient/{p.pk}/history/",
        "/admin/patients/patient/",
    ):
        r = client.get(url)
        assert r.status_code == 200, url
        assert p.mrn in r.content.decode(), url


def test_history_is_read_only_even_for_ones_own_records(client, own, foreign):
    """No Revert: the version page has no submit button and a POST changes nothing."""
    from patients.models import Patient

    user = make_member(own["clinic"], "walker", "clinician")
    client.force_login(user)
    p = own["patient"]
    p.family_name = "Renamed"
    p.save()
    first = p.history.order_by("history_id").first()
    url = f"/admin/patients/patient/{p.pk}/history/{first.history_id}/"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert "Revert" not in page.content.decode()
    data = post_payload(admin.site._registry[Patient], first.instance, own)
    r = client.post(url, data)
    assert r.status_code == 403
    p.refresh_from_db()
    assert p.family_name == "Renamed"


def test_list_filters_offer_only_ones_own_clinic_and_nurses(client, own, foreign):
    user = make_member(own["clinic"], "walker", "clinician")
    client.force_login(user)
    page = client.get("/admin/patients/patient/").content.decode()
    assert "ZZF Clinic" not in page
    assert "Zzfnurse" not in page and "zzfnurse" not in page
    assert re.search(r"Northside Dermatology", page)


def test_notification_history_opens(client, own, foreign):
    from schedules.models import Notification

    user = make_member(own["clinic"], "walker", "clinician")
    client.force_login(user)
    n = Notification.objects.create(
        clinic=own["clinic"], key="own-1", kind="critical", to_email="own@example.org"
    )
    r = client.get(f"/admin/schedules/notification/{n.pk}/history/")
    assert r.status_code == 200
    other = foreign[Notification]
    assert client.get(f"/admin/schedules/notification/{other.pk}/history/").status_code in (
        302,
        404,
    )
