"""The OpenAPI schema: valid OpenAPI 3 with no generator warnings, served, documented errors."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_the_schema_validates_with_no_warnings(tmp_path):
    # drf-spectacular validates against the OpenAPI 3 JSON schema; any warning fails.
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_the_schema_and_docs_are_served():
    client = APIClient()
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_every_operation_documents_its_errors_in_the_one_shape():
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    for path, item in schema["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            for code in ("400", "401", "403", "429"):
                ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, code)
            if method in ("post", "put", "patch"):
                assert "413" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
