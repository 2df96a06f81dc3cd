"""Property-based test of the visitor API against the live OpenAPI schema (schemathesis).

The schema is loaded from a running daphne (/api/schema/) and every generated request
goes to it over HTTP; each answer is checked for no 5xx, a documented status code, a
documented content type and a body that matches the schema. Once with a valid visitor
token, once without any. The event stream is left out (it never ends; its own tests
cover it). As in test_schema_agent.py, Hypothesis is driven per operation.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conversations.api.visitor_server import call, daphne_fixture  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def visitor_operations(daphne, site):
    schema = schemathesis.openapi.from_url(f"{daphne.base}/api/schema/?format=json")
    schema = schema.include(path_regex=r"^/api/v1/sites/").exclude(path_regex=r"/events$")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted(op.label for op in operations) == [
        "GET /api/v1/sites/{public_key}/conversation",
        "GET /api/v1/sites/{public_key}/conversation/messages",
        "POST /api/v1/sites/{public_key}/attachments",
        "POST /api/v1/sites/{public_key}/conversation/human",
        "POST /api/v1/sites/{public_key}/conversation/messages",
        "POST /api/v1/sites/{public_key}/visitors",
    ]
    return operations


def _run(operations, *, site, headers: dict[str, str]) -> None:
    for operation in operations:

        @EXAMPLES
        @given(case=operation.as_strategy())
        def check(case) -> None:
            # A random key names no site (404s are covered by a few); aim most at the real one.
            if len(case.path_parameters.get("public_key", "")) % 4:
                case.path_parameters["public_key"] = site.public_key
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()


def test_the_visitor_api_conforms_to_its_schema_with_a_token(daphne, site, visitor_operations):
    started = call(daphne.base, "POST", f"/api/v1/sites/{site.public_key}/visitors", {})
    token = started.body["visitor_token"]
    # One message first, so there is a conversation to read and to hand to a person.
    call(
        daphne.base,
        "POST",
        f"/api/v1/sites/{site.public_key}/conversation/messages",
        {"client_id": "first", "text": "How long does shipping take?"},
        token=token,
    )
    _run(visitor_operations, site=site, headers={"Authorization": f"Bearer {token}"})


def test_the_visitor_api_conforms_to_its_schema_without_a_token(site, visitor_operations):
    _run(visitor_operations, site=site, headers={})
