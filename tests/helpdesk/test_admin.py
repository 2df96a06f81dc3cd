"""Every model's admin lists, searches, filters and opens its forms."""

import pytest
from django.urls import reverse

from tests.factories import (
    AgentFactory,
    ConversationFactory,
    EntryFactory,
    MessageFactory,
    SensitiveWordFactory,
)

pytestmark = pytest.mark.django_db

ADMINS = [
    ("helpdesk", "site", {"q": "Site", "bot_enabled__exact": "1"}),
    ("helpdesk", "agent", {"q": "Agent", "status__exact": "offline"}),
    ("kb", "entry", {"q": "Question", "enabled__exact": "1"}),
    ("kb", "tag", {"q": "x"}),
    ("kb", "sensitiveword", {"q": "badword", "action__exact": "mask"}),
    ("conversations", "visitor", {"q": "Visitor", "identity_verified__exact": "0"}),
    ("conversations", "conversation", {"q": "message", "state__exact": "bot"}),
    ("conversations", "message", {"q": "message", "author_kind__exact": "visitor"}),
]


@pytest.fixture
def data():
    AgentFactory()
    EntryFactory()
    SensitiveWordFactory()
    return MessageFactory(conversation=ConversationFactory())


@pytest.mark.parametrize(("app", "model", "query"), ADMINS)
def test_changelist_search_and_filter(admin_client, data, app, model, query):
    url = reverse(f"admin:{app}_{model}_changelist")
    assert admin_client.get(url).status_code == 200
    response = admin_client.get(url, query)
    assert response.status_code == 200
    assert "errornote" not in response.content.decode()


@pytest.mark.parametrize(("app", "model", "query"), ADMINS)
def test_add_and_change_forms_open(admin_client, data, app, model, query):
    assert admin_client.get(reverse(f"admin:{app}_{model}_add")).status_code in (200, 403)
    instance = {
        "site": data.conversation.site,
        "agent": AgentFactory(),
        "entry": EntryFactory(),
        "tag": None,
        "sensitiveword": SensitiveWordFactory(),
        "visitor": data.conversation.visitor,
        "conversation": data.conversation,
        "message": data,
    }[model]
    if instance is not None:
        url = reverse(f"admin:{app}_{model}_change", args=[instance.pk])
        assert admin_client.get(url).status_code == 200


def test_conversation_search_finds_message_text(admin_client):
    hit = MessageFactory(text="where is my parcel 包裹").conversation
    miss = MessageFactory(text="unrelated").conversation
    response = admin_client.get(
        reverse("admin:conversations_conversation_changelist"), {"q": "包裹"}
    )
    ids = [obj.pk for obj in response.context["cl"].result_list]
    assert ids == [hit.pk] and miss.pk not in ids


def test_entry_admin_records_who_created_and_updated(admin_client, admin_user):
    site = EntryFactory().site
    response = admin_client.post(
        reverse("admin:kb_entry_add"),
        {
            "site": site.pk,
            "question": "Do you sell socks?",
            "answer": "Yes.",
            "alternatives": "",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = site.kb_entries.get(question="Do you sell socks?")
    assert entry.created_by == admin_user == entry.updated_by


def test_admin_requires_staff_login(client):
    response = client.get(reverse("admin:kb_entry_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
