"""The KB API: entry CRUD and the CMS sync, and that the matcher answers from the result."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.authtoken.models import Token

from kb.matching import kb_match
from kb.models import Entry
from tests.factories import AgentFactory, EntryFactory, SiteFactory, SuperUserFactory

# Transactional: the matcher's index is refreshed by a version bump after commit.
pytestmark = pytest.mark.django_db(transaction=True)

ENTRIES = "/api/v1/kb/entries"
SYNC = "/api/v1/kb/entries/sync"


def token_client(user) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def kb_editor(site, *actions: str):
    agent = AgentFactory()
    agent.sites.add(site)
    agent.user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="kb", codename__in=[f"{a}_entry" for a in actions]
        )
    )
    return agent.user


@pytest.fixture
def site():
    return SiteFactory()


@pytest.fixture
def editor(site):
    return token_client(kb_editor(site, "add", "change", "delete", "view"))


def answer_to(site, text: str) -> str | None:
    result = kb_match(site=site, text=text)
    return result.best.answer if result.decision == "answer" else None


def test_crud_changes_what_the_bot_answers_next(site, editor, lexical_only):
    assert answer_to(site, "do you ship to Canada") is None
    created = editor.post(
        ENTRIES,
        {
            "site": site.pk,
            "question": "Do you ship to Canada?",
            "answer": "Yes, in 5-8 days.",
            "alternatives": ["Can I order from Canada?", "  ", "Can I order from Canada?"],
            "tags": ["shipping", "international"],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    entry = created.json()
    assert entry["alternatives"] == ["Can I order from Canada?"]
    assert sorted(entry["tags"]) == ["international", "shipping"] and entry["enabled"] is True
    assert answer_to(site, "do you ship to Canada") == "Yes, in 5-8 days."
    assert answer_to(site, "can I order from canada") == "Yes, in 5-8 days."

    url = f"{ENTRIES}/{entry['id']}"
    patched = editor.patch(url, {"answer": "Yes, in 3 days."}, content_type="application/json")
    assert patched.status_code == 200 and patched.json()["tags"] == entry["tags"]
    assert answer_to(site, "do you ship to Canada") == "Yes, in 3 days."

    off = editor.patch(url, {"enabled": False}, content_type="application/json")
    assert off.status_code == 200
    assert answer_to(site, "do you ship to Canada") is None

    replaced = editor.put(
        url,
        {"site": site.pk, "question": "Do you ship to Mexico?", "answer": "Not yet."},
        content_type="application/json",
    )
    assert replaced.status_code == 200
    body = replaced.json()
    assert body["alternatives"] == [] and body["tags"] == [] and body["enabled"] is True
    assert answer_to(site, "do you ship to Mexico") == "Not yet."
    assert editor.get(url).json()["question"] == "Do you ship to Mexico?"

    assert editor.delete(url).status_code == 204
    assert editor.get(url).status_code == 404
    assert answer_to(site, "do you ship to Mexico") is None


def test_list_filters_by_site_and_text_within_the_callers_sites(site, editor):
    other = SiteFactory()
    mine = EntryFactory(site=site, question="Where is my refund?", answer="Within 10 days.")
    EntryFactory(site=site, question="Opening hours?", answer="9-5.")
    EntryFactory(site=other, question="Where is my refund, elsewhere?")
    all_mine = editor.get(ENTRIES).json()
    assert all_mine["count"] == 2
    found = editor.get(f"{ENTRIES}?q=refund").json()["results"]
    assert [e["id"] for e in found] == [mine.pk]
    assert editor.get(f"{ENTRIES}?site={other.pk}").json()["results"] == []


def test_other_sites_entries_are_invisible_and_cannot_be_created(site, editor):
    other = SiteFactory()
    theirs = EntryFactory(site=other)
    assert editor.get(f"{ENTRIES}/{theirs.pk}").status_code == 404
    assert editor.delete(f"{ENTRIES}/{theirs.pk}").status_code == 404
    refused = editor.post(
        ENTRIES,
        {"site": other.pk, "question": "Q?", "answer": "A."},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "site" in refused.json()["fields"]
    assert Entry.objects.filter(pk=theirs.pk).exists()


def test_a_duplicate_question_or_missing_answer_is_a_field_error(site, editor):
    EntryFactory(site=site, question="Taken?")
    for body, field in [
        ({"site": site.pk, "question": "Taken?", "answer": "A."}, "question"),
        ({"site": site.pk, "question": "New?"}, "answer"),
        ({"site": site.pk, "question": "New?", "answer": "A.", "tags": "x"}, "tags"),
    ]:
        response = editor.post(ENTRIES, body, content_type="application/json")
        assert response.status_code == 400
        assert field in response.json()["fields"], response.json()
    assert Entry.objects.filter(site=site).count() == 1


def test_changes_need_the_admins_entry_permissions(site):
    reader = token_client(kb_editor(site))
    entry = EntryFactory(site=site)
    assert reader.get(ENTRIES).status_code == 200
    response = reader.post(
        ENTRIES,
        {"site": site.pk, "question": "Q?", "answer": "A."},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert reader.delete(f"{ENTRIES}/{entry.pk}").status_code == 403
    sync = reader.post(SYNC, {"site": site.pk, "entries": []}, content_type="application/json")
    assert sync.status_code == 403
    changer = token_client(kb_editor(site, "add", "change"))
    response = changer.post(
        SYNC,
        {"site": site.pk, "entries": [], "delete_missing": True},
        content_type="application/json",
    )
    assert response.status_code == 403 and Entry.objects.filter(pk=entry.pk).exists()
    assert Client().get(ENTRIES).status_code == 401


def test_sync_upserts_by_question_idempotently_and_deletes_missing(site, lexical_only):
    client = token_client(SuperUserFactory())
    EntryFactory(site=site, question="Old question?", answer="Old answer.")
    payload = {
        "site": site.pk,
        "entries": [
            {"question": "Do you ship abroad?", "answer": "Yes.", "tags": ["shipping"]},
            {"question": "Old question?", "answer": "Old answer."},
        ],
    }
    first = client.post(SYNC, payload, content_type="application/json")
    assert first.status_code == 200, first.content
    result = first.json()
    assert (result["created"], result["updated"], result["unchanged"], result["deleted"]) == (
        1, 0, 1, 0,
    )  # fmt: skip
    assert [e["status"] for e in result["entries"]] == ["created", "unchanged"]
    assert answer_to(site, "do you ship abroad") == "Yes."

    again = client.post(SYNC, payload, content_type="application/json").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert [e["id"] for e in again["entries"]] == [e["id"] for e in result["entries"]]

    payload = {
        "site": site.pk,
        "delete_missing": True,
        "entries": [
            {"question": "Do you ship abroad?", "answer": "Yes, to 40 countries.",
             "alternatives": ["International shipping?"]},
        ],
    }  # fmt: skip
    third = client.post(SYNC, payload, content_type="application/json").json()
    assert (third["updated"], third["deleted"]) == (1, 1)
    assert third["deleted_questions"] == ["Old question?"]
    assert list(Entry.objects.filter(site=site).values_list("question", flat=True)) == [
        "Do you ship abroad?"
    ]
    shipped = Entry.objects.get(site=site)
    assert list(shipped.tags.values_list("name", flat=True)) == ["shipping"], "tags kept"
    assert answer_to(site, "international shipping") == "Yes, to 40 countries."
    assert answer_to(site, "old question") is None

    disabled = client.post(
        SYNC,
        {"site": site.pk, "entries": [{**payload["entries"][0], "enabled": False}]},
        content_type="application/json",
    ).json()
    assert disabled["updated"] == 1
    assert answer_to(site, "do you ship abroad") is None


def test_sync_reports_every_bad_row_and_changes_nothing(site):
    client = token_client(SuperUserFactory())
    EntryFactory(site=site, question="Keep me?", answer="Kept.")
    response = client.post(
        SYNC,
        {
            "site": site.pk,
            "delete_missing": True,
            "entries": [
                {"question": "Fine?", "answer": "Fine."},
                {"question": "No answer?"},
                {"question": "Fine?", "answer": "Again."},
                {"question": "", "answer": "No question."},
            ],
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    rows = response.json()["fields"]["entries"]
    assert sorted(rows) == ["1", "3"], "rows by index, the good ones left out"
    assert "answer" in rows["1"] and "question" in rows["3"]
    assert list(Entry.objects.filter(site=site).values_list("question", flat=True)) == ["Keep me?"]

    duplicate = client.post(
        SYNC,
        {"site": site.pk, "entries": [{"question": "A?", "answer": "1"}] * 2},
        content_type="application/json",
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["fields"]["entries"] == {"1": {"question": ["Repeats entry 0."]}}
    assert not Entry.objects.filter(question="A?").exists()
