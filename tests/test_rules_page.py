import pytest

pytestmark = pytest.mark.django_db


def test_the_clinical_rules_page_shows_every_protocol_and_cap_with_sources(client, alice):
    client.force_login(alice)
    page = client.get("/admin/clinical-rules/").content.decode()
    for text in (
        "EULAR/3E 2009",
        "BSR/BHPR 2017",
        "CellCept",
        "MTX_CAP_JDM",
        "SHARE",
        "2.5 mg tablet",
        "MTX_NOT_WEEKLY",
        "UNVERIFIED",
        "25.8",
    ):
        assert text in page, text


def test_the_rules_page_needs_a_login(client):
    assert client.get("/admin/clinical-rules/").status_code == 302
