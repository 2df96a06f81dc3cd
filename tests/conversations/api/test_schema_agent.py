"""Property-based test of the agent and KB API against its own OpenAPI schema (schemathesis).

The schema is loaded live from /api/schema/ and every request goes through Django's
WSGI application in this process (schemathesis's WSGI loader): no port, no server
thread, and each response is checked for no 5xx, a documented status code, and a
body that matches the schema. The test is transactional (real commits on the test
PostgreSQL database, after-commit broadcasts to the real Redis): Django's WSGI
handler runs close_old_connections when a request ends, which under pytest-django's
plain `db` fixture closes the connection holding the test's wrapping transaction
("the connection is closed" on the next query). schemathesis's pytest plugin
(`from_fixture(...).parametrize()`) fails on this pytest version, so Hypothesis is
driven per operation with `operation.as_strategy()`.
"""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from conversations.models import Conversation
from kb.embeddings import embedder_reset
from tests.factories import (
    AgentFactory,
    ConversationFactory,
    EntryFactory,
    MessageFactory,
    SiteFactory,
    SuperUserFactory,
    VisitorFactory,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
STATES = ("bot", "waiting", "human", "closed")


@pytest.fixture
def api_data(transactional_db, settings):
    # The HTTP contract is under test, not the embeddings: skip computing entry vectors.
    settings.KB_EMBEDDINGS = "off"
    embedder_reset()
    site, other_site = SiteFactory(), SiteFactory()
    owner = AgentFactory(display_name="Owner Agent")
    conversations = []
    for state in STATES:
        conversation = ConversationFactory(
            visitor=VisitorFactory(site=site, name="Vera", email="vera@example.com"),
            state=state,
            assigned_agent=owner if state == "human" else None,
        )
        MessageFactory(conversation=conversation, text="where is my parcel?")
        conversations.append(conversation.pk)
    entries = [EntryFactory(site=site).pk for _ in range(3)]
    EntryFactory(site=other_site)
    admin = AgentFactory(user=SuperUserFactory(), display_name="Schema Admin")
    yield {
        "owner": owner,
        "token": Token.objects.create(user=admin.user).key,
        "site_ids": [site.pk, other_site.pk],
        "ids": {"conversation_id": conversations, "entry_id": entries},
    }
    embedder_reset()


@pytest.fixture
def agent_api_schema(api_data):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    return schema.include(path_regex=r"^/api/v1/(agent|kb)/")


def _conversations_reset(api_data) -> None:
    """Every example starts from one conversation in each state, whatever the last did."""
    for conversation_id, state in zip(api_data["ids"]["conversation_id"], STATES, strict=True):
        Conversation.objects.filter(pk=conversation_id).update(
            state=state, assigned_agent=api_data["owner"] if state == "human" else None
        )


def _aim_at_real_rows(case, api_data) -> None:
    """Random ids almost never exist; map most of them onto rows that do, keeping a
    quarter as generated (so 404s are exercised too)."""
    for name, real in api_data["ids"].items():
        generated = (case.path_parameters or {}).get(name)
        if isinstance(generated, int) and generated % 4:
            case.path_parameters[name] = real[generated % len(real)]
    site = case.body.get("site") if isinstance(case.body, dict) else None
    if isinstance(site, int) and site % 4:
        case.body["site"] = api_data["site_ids"][site % 2]


EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_agent_api_conforms_to_its_schema(agent_api_schema, api_data):
    headers = {"Authorization": f"Token {api_data['token']}"}
    operations = [result.ok() for result in agent_api_schema.get_all_operations()]
    assert len(operations) >= 14, [op.label for op in operations]
    for operation in operations:

        @EXAMPLES
        @given(case=operation.as_strategy())
        def call(case) -> None:
            _conversations_reset(api_data)
            _aim_at_real_rows(case, api_data)
            case.call_and_validate(headers=headers, checks=CHECKS)

        call()
