"""A page past the end of a list is a 404, however far past: never a database error."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["3", "24166794541178555356676096"])
def test_a_page_past_the_end_is_a_404_however_far(api_as, patient, page):
    """Found by schemathesis: a page number whose OFFSET no bigint can hold was a 500 (the lean
    read paths read the page before the count)."""
    client = api_as("viewer")
    plan = f"/api/v1/patients/{patient.pk}/plan/"
    for url in (
        f"{plan}?",
        f"{plan}?open=true&",
        f"{plan}?kind=baseline&status=planned&",
        "/api/v1/alerts/?",
        "/api/v1/alerts/?status=open&",
        "/api/v1/alerts/?severity=critical&",
        "/api/v1/patients/?",
    ):
        r = client.get(f"{url}page={page}&page_size=50")
        assert r.status_code == 404, (url, r.content[:200])
        assert r.json()["errors"][0]["code"] == "not_found"
