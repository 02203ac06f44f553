"""Schema-driven fuzzing of the whole API (schemathesis 4), run by `make test`.

Every operation of /api/schema/ is called with generated valid and invalid input as a Northside
clinician, through the real WSGI application and database. It passes when no response is a 5xx
and every response matches the schema (status code documented, body valid, content type right),
and invalid input is refused. Path ids are drawn half the time from real records (own clinic and
another clinic) so the fuzzing reaches past 404.

Runtime is bounded by MTXMONITOR_FUZZ_EXAMPLES (examples per operation and phase; default 12):
about a minute on 2 cores.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

MAX_EXAMPLES = int(os.environ.get("MTXMONITOR_FUZZ_EXAMPLES", "12"))
KNOWN_IDS: dict[str, list[int]] = {}


@pytest.fixture
def keep_connections(db):
    """Keep the DB connection across WSGI requests, as Django's test client does: the test's
    transaction must survive each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_setup(keep_connections, records, api_as, settings):
    """Records in both clinics, a clinician's token, no throttling."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None}}
    own, other = records["own"], records["other"]
    KNOWN_IDS.clear()
    KNOWN_IDS.update(
        {
            "patients": [own["patient"].pk, other["patient"].pk],
            "prescriptions": [own["prescription"].pk, other["prescription"].pk],
            "labs": [own["lab"].pk, other["lab"].pk],
            "alerts": [own["alert"].pk, other["alert"].pk],
        }
    )
    return api_as("clinician")._credentials["HTTP_AUTHORIZATION"]


def _load_schema():
    # Loaded at collection, through the real WSGI app (serving the schema touches no database).
    from mtxmonitor.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = _load_schema()


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, point the path at a real record (ours or the other clinic's)."""
    path = context.operation.path
    collection = path.split("/")[3] if path.startswith("/api/v1/") else ""
    known = KNOWN_IDS.get(collection)
    if not known or not path_parameters:
        return st.just(path_parameters)
    name = "patient_id" if "patient_id" in path_parameters else "id"
    value = path_parameters.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return st.just(path_parameters)  # a deliberately invalid id (negative testing): keep it
    return st.one_of(
        st.just(path_parameters),
        st.sampled_from(known).map(lambda i: {**path_parameters, name: i}),
    )


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("MTXMONITOR_FUZZ_RANDOM") != "1",
    database=None,
)
def test_the_api_holds_to_its_schema(case, fuzz_setup):
    case.call_and_validate(
        headers={"Authorization": fuzz_setup},
        # Schema-valid input can still be refused for reasons a schema cannot state (an MRN
        # already used, a patient of another clinic, a dose above the cap): a 400 there is right.
        excluded_checks=[positive_data_acceptance],
    )
