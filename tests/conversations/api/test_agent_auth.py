"""Who may call the agent API: tokens, the console session, sites; the api_token command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.conversations.api.test_agent_api import API, token_client
from tests.factories import (
    AgentFactory,
    ConversationFactory,
    EntryFactory,
    MessageFactory,
    SiteFactory,
    StaffUserFactory,
    SuperUserFactory,
    UserFactory,
    VisitorFactory,
)


@pytest.fixture
def site(db):
    return SiteFactory()


@pytest.fixture
def other_site(db):
    return SiteFactory()


@pytest.fixture
def conversation(site):
    conversation = ConversationFactory(visitor=VisitorFactory(site=site))
    MessageFactory(conversation=conversation, text="where is my parcel?")
    return conversation


# --- authentication and authorization -------------------------------------------------


def test_no_credentials_get_401_with_the_token_challenge(conversation):
    response = Client().get(API)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"] == "not_authenticated"


def test_an_unknown_token_gets_401(conversation):
    response = Client(headers={"Authorization": "Token nope"}).get(API)
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_a_non_staff_users_token_gets_403_and_no_agent_is_created(conversation):
    user = UserFactory()
    client = token_client(user)
    assert client.get(API).status_code == 403
    response = client.post(f"{API}/{conversation.pk}/take-over")
    assert response.status_code == 403 and response.json()["error"] == "permission_denied"
    conversation.refresh_from_db()
    assert conversation.state == "bot" and not hasattr(user, "agent")


def test_a_deactivated_staff_users_token_stops_working(alice, conversation):
    client = token_client(alice.user)
    assert client.get(API).status_code == 200
    alice.user.is_active = False
    alice.user.save()
    assert client.get(API).status_code == 401


def test_staff_of_another_site_gets_404_and_changes_nothing(other_site, conversation):
    outsider = AgentFactory(display_name="Olga Outsider")
    outsider.sites.add(other_site)
    client = token_client(outsider.user)
    assert client.get(API).json()["results"] == []
    for path in ("", "/messages"):
        response = client.get(f"{API}/{conversation.pk}{path}")
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    for action in ("take-over", "hand-back", "close"):
        assert client.post(f"{API}/{conversation.pk}/{action}").status_code == 404
    response = client.post(
        f"{API}/{conversation.pk}/messages", {"text": "hi"}, content_type="application/json"
    )
    assert response.status_code == 404
    conversation.refresh_from_db()
    assert conversation.state == "bot" and conversation.messages.count() == 1


def test_a_superuser_sees_every_site_even_with_sites_chosen(other_site, conversation):
    admin = AgentFactory(user=SuperUserFactory())
    admin.sites.add(other_site)
    ids = [row["id"] for row in token_client(admin.user).get(API).json()["results"]]
    assert ids == [conversation.pk]


def test_the_console_session_works_and_writes_need_the_csrf_token(alice, conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    assert client.get(f"{API}/{conversation.pk}").status_code == 200
    refused = client.post(f"{API}/{conversation.pk}/take-over", content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    conversation.refresh_from_db()
    assert conversation.state == "bot"

    client.get("/agent/")  # the console page sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    accepted = client.post(
        f"{API}/{conversation.pk}/take-over",
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert accepted.status_code == 200 and accepted.json()["state"] == "human"


def test_a_signed_in_non_staff_session_gets_403(conversation):
    client = Client()
    client.force_login(UserFactory())
    assert client.get(API).status_code == 403


# --- the api_token command --------------------------------------------------------------


def test_api_token_prints_a_working_key_and_rotate_replaces_it(alice, conversation):
    out = StringIO()
    call_command("api_token", alice.user.username, stdout=out)
    key = out.getvalue().strip()
    again = StringIO()
    call_command("api_token", alice.user.username, stdout=again)
    assert again.getvalue().strip() == key
    client = Client(headers={"Authorization": f"Token {key}"})
    assert client.get(API).status_code == 200

    rotated = StringIO()
    call_command("api_token", alice.user.username, "--rotate", stdout=rotated)
    new_key = rotated.getvalue().strip()
    assert new_key and new_key != key
    assert client.get(API).status_code == 401
    assert Client(headers={"Authorization": f"Token {new_key}"}).get(API).status_code == 200


def test_api_token_refuses_unknown_and_non_staff_users(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("api_token", "nobody")
    UserFactory(username="plain")
    with pytest.raises(CommandError, match="not an active staff member"):
        call_command("api_token", "plain")
    assert not Token.objects.exists()


def test_a_staff_user_without_an_agent_profile_gets_one(conversation):
    user = StaffUserFactory(username="newcomer")
    assert token_client(user).get(API).status_code == 200
    assert user.agent.display_name == "newcomer"


def test_the_browsable_pages_render_for_a_signed_in_agent(alice, conversation):
    entry = EntryFactory(site=conversation.site)
    client = Client()
    client.force_login(alice.user)
    for path in (
        API,
        f"{API}/{conversation.pk}",
        f"{API}/{conversation.pk}/messages",
        "/api/v1/kb/entries",
        f"/api/v1/kb/entries/{entry.pk}",
    ):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith("text/html")
