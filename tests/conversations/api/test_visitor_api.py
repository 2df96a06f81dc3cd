"""The visitor API over a real daphne on PostgreSQL and Redis: identity, messages, errors."""

import pytest

from conversations.models import Conversation, Message
from conversations.services import conversation_close, identity_hash
from conversations.visitor_tokens import visitor_token_issue
from tests.conversations.api.visitor_server import call, daphne_fixture  # noqa: F401
from tests.factories import EntryFactory, SiteFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

SHOP = "http://shop.test"


@pytest.fixture
def site(transactional_db):
    site = SiteFactory(allowed_origins=SHOP, identity_secret="s3cret")
    EntryFactory(site=site, question="How long does shipping take?", answer="3-5 business days.")
    return site


def start(daphne, site, expect: int = 201, **body) -> tuple[str, dict]:
    answer = call(daphne.base, "POST", f"/api/v1/sites/{site.public_key}/visitors", body)
    assert answer.status == expect, answer.body
    return answer.body["visitor_token"], answer.body["visitor"]


def test_a_visitor_is_created_then_resumed_with_its_token(daphne, site):
    token, visitor = start(daphne, site, name="Ada", language="en", page_url="https://x.test/")
    assert visitor["name"] == "Ada"
    again = call(daphne.base, "POST", f"/api/v1/sites/{site.public_key}/visitors", {}, token=token)
    assert again.status == 200
    assert again.body["visitor"]["id"] == visitor["id"]


def test_a_verified_identity_continues_as_the_earlier_visitor(daphne, site):
    user_hash = identity_hash(secret="s3cret", user_id="u-42")
    _, first = start(daphne, site, user_id="u-42", user_hash=user_hash)
    assert first["identity_verified"] is True
    # The same person on another device: resumed (200), not created.
    _, second = start(daphne, site, expect=200, user_id="u-42", user_hash=user_hash)
    assert second["id"] == first["id"]
    _, unverified = start(daphne, site, user_id="u-42", user_hash="0" * 64)
    assert unverified["id"] != first["id"] and unverified["identity_verified"] is False


def test_the_same_client_id_twice_saves_one_message(daphne, site):
    token, _ = start(daphne, site)
    path = f"/api/v1/sites/{site.public_key}/conversation/messages"
    body = {"client_id": "c-1", "text": "How long does shipping take?"}
    first = call(daphne.base, "POST", path, body, token=token)
    second = call(daphne.base, "POST", path, body, token=token)
    assert (first.status, second.status) == (201, 200)
    assert first.body == second.body
    assert Message.objects.filter(client_id="c-1").count() == 1
    # The KB answer was saved once too: the retry did not run the pipeline again.
    listed = call(daphne.base, "GET", f"{path}?after=0", token=token)
    assert [m["author"] for m in listed.body["messages"]] == ["visitor", "bot"]
    assert listed.body["messages"][1]["source"] == "kb"
    assert listed.body["messages"][1]["text"] == "3-5 business days."


def test_messages_after_an_id_and_paging(daphne, site):
    token, _ = start(daphne, site)
    path = f"/api/v1/sites/{site.public_key}/conversation/messages"
    ids = [
        call(
            daphne.base, "POST", path, {"client_id": f"p-{n}", "text": f"hello {n}"}, token=token
        ).body["id"]
        for n in range(3)
    ]
    page = call(daphne.base, "GET", f"{path}?after={ids[0]}&limit=1", token=token).body
    assert [m["id"] for m in page["messages"]] == [ids[1]] and page["has_more"] is True
    assert call(daphne.base, "GET", f"{path}?after={ids[2]}", token=token).body["messages"] == []


def test_internal_notes_are_never_listed(daphne, site):
    token, _ = start(daphne, site)
    path = f"/api/v1/sites/{site.public_key}/conversation/messages"
    sent = call(daphne.base, "POST", path, {"client_id": "n-1", "text": "hello"}, token=token)
    Message.objects.create(
        conversation_id=sent.body["conversation_id"],
        author_kind=Message.Author.AGENT,
        source=Message.Source.AGENT,
        text="internal: refund abuser?",
        is_internal=True,
    )
    texts = [m["text"] for m in call(daphne.base, "GET", path, token=token).body["messages"]]
    assert "internal: refund abuser?" not in texts and "hello" in texts


def test_current_conversation_and_a_new_one_after_a_close(daphne, site):
    token, _ = start(daphne, site)
    base = f"/api/v1/sites/{site.public_key}/conversation"
    assert call(daphne.base, "GET", base, token=token).body["conversation"] is None
    first = call(
        daphne.base, "POST", f"{base}/messages", {"client_id": "a", "text": "hi"}, token=token
    ).body
    current = call(daphne.base, "GET", base, token=token).body
    assert current["conversation"]["id"] == first["conversation_id"]
    conversation_close(conversation_id=first["conversation_id"])
    assert call(daphne.base, "GET", base, token=token).body["conversation"] is None
    second = call(
        daphne.base, "POST", f"{base}/messages", {"client_id": "b", "text": "again"}, token=token
    ).body
    assert second["conversation_id"] != first["conversation_id"]
    previous = call(daphne.base, "GET", base, token=token).body["previous"]
    assert [p["id"] for p in previous] == [first["conversation_id"]]


def test_asking_for_a_person(daphne, site):
    token, _ = start(daphne, site)
    base = f"/api/v1/sites/{site.public_key}/conversation"
    early = call(daphne.base, "POST", f"{base}/human", token=token)
    assert early.status == 404 and early.body["error"] == "not_found"
    call(daphne.base, "POST", f"{base}/messages", {"client_id": "h", "text": "hi"}, token=token)
    asked = call(daphne.base, "POST", f"{base}/human", token=token)
    assert asked.status == 200 and asked.body["conversation"]["state"] == "waiting"
    assert Conversation.objects.get(pk=asked.body["conversation"]["id"]).state == "waiting"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "hi"}, "client_id"),
        ({"client_id": "", "text": "hi"}, "client_id"),
        ({"client_id": "x" * 65, "text": "hi"}, "client_id"),
        ({"client_id": "c"}, "text"),
        ({"client_id": "c", "text": "   "}, "text"),
        ({"client_id": "c", "text": "x" * 4001}, "text"),
        ({"client_id": "c", "text": 5}, "text"),
        ({"client_id": "c", "text": "nul \x00 byte"}, "text"),
    ],
)
def test_bad_messages_get_a_clear_400_and_save_nothing(daphne, site, body, field):
    token, _ = start(daphne, site)
    path = f"/api/v1/sites/{site.public_key}/conversation/messages"
    answer = call(daphne.base, "POST", path, body, token=token)
    assert answer.status == 400
    assert answer.body["error"] == "invalid" and field in answer.body["fields"]
    assert not Message.objects.exists()


def test_malformed_json_and_bad_queries_are_400(daphne, site):
    token, _ = start(daphne, site)
    path = f"/api/v1/sites/{site.public_key}/conversation/messages"
    broken = call(daphne.base, "POST", path, b"{not json", token=token)
    assert broken.status == 400 and broken.body["error"] == "parse_error"
    for query in ("after=-1", "after=abc", "limit=0", "limit=1000", "conversation=0"):
        answer = call(daphne.base, "GET", f"{path}?{query}", token=token)
        assert answer.status == 400, query
        assert answer.body["error"] == "invalid"


def test_credentials_are_checked(daphne, site):
    other_site = SiteFactory(allowed_origins=SHOP)
    token, _ = start(daphne, site)
    path = f"/api/v1/sites/{site.public_key}/conversation"
    missing = call(daphne.base, "GET", path)
    assert missing.status == 401 and missing.body["error"] == "not_authenticated"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    tampered = call(daphne.base, "GET", path, token=token[:-2] + "xx")
    assert tampered.status == 401 and tampered.body["error"] == "invalid_token"
    foreign = call(daphne.base, "GET", f"/api/v1/sites/{other_site.public_key}/conversation",
                   token=token)  # fmt: skip
    assert foreign.status == 401 and foreign.body["error"] == "invalid_token"
    unknown = call(daphne.base, "GET", "/api/v1/sites/nope/conversation", token=token)
    assert unknown.status == 404 and unknown.body["error"] == "site_not_found"
    # A valid signature for a visitor that does not exist (e.g. deleted).
    import uuid

    ghost = visitor_token_issue(anonymous_id=uuid.uuid4(), site_id=site.pk)
    assert call(daphne.base, "GET", path, token=ghost).status == 401
    resumed_badly = call(
        daphne.base, "POST", f"/api/v1/sites/{site.public_key}/visitors", {}, token="garbage"
    )
    assert resumed_badly.status == 401


def test_one_visitor_cannot_read_another_visitors_conversation(daphne, site):
    token_a, _ = start(daphne, site)
    token_b, _ = start(daphne, site)
    path = f"/api/v1/sites/{site.public_key}/conversation/messages"
    secret = call(daphne.base, "POST", path, {"client_id": "s", "text": "my secret"}, token=token_b)
    peek = call(
        daphne.base, "GET", f"{path}?conversation={secret.body['conversation_id']}", token=token_a
    )
    assert peek.status == 404
    mine = call(daphne.base, "GET", path, token=token_a).body
    assert mine["messages"] == [] and mine["conversation"] is None


def test_origins_and_cors(daphne, site):
    token, _ = start(daphne, site)
    path = f"/api/v1/sites/{site.public_key}/conversation"
    allowed = call(daphne.base, "GET", path, token=token, headers={"Origin": SHOP})
    assert allowed.status == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    refused = call(daphne.base, "GET", path, token=token, headers={"Origin": "https://evil.test"})
    assert refused.status == 403 and refused.body["error"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused.headers
    preflight = call(
        daphne.base,
        "OPTIONS",
        f"{path}/messages",
        headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    # Server-side clients send no Origin: the token is the credential.
    assert "Access-Control-Allow-Origin" not in call(daphne.base, "GET", path, token=token).headers
