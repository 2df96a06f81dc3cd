from urllib.parse import parse_qs, urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conversations.fake_llm import FakeLLMServer
from conversations.models import Message
from kb.models import Entry, KnowledgeGap
from kb.services import knowledge_gap_record
from tests.factories import (
    ConversationFactory,
    EntryFactory,
    MessageFactory,
    SensitiveWordFactory,
    SiteFactory,
    SuperUserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(SuperUserFactory())
    return client


def upload(content: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("kb.csv", content.encode("utf-8"), content_type="text/csv")


def test_changelist_links_the_tools_and_names_the_tiers(staff, lexical_only):
    page = staff.get(reverse("admin:kb_entry_changelist")).content.decode()
    for name in ("kb_entry_import", "kb_entry_export", "kb_entry_playground"):
        assert reverse(f"admin:{name}") in page
    assert "semantic off" in page


def test_upload_imports_every_row(staff, lexical_only):
    site = SiteFactory()
    response = staff.post(
        reverse("admin:kb_entry_import"),
        {"site": site.pk, "file": upload("question,answer,alternatives\nQ1?,A1,a | b\nQ2?,A2,\n")},
    )
    assert response.status_code == 302
    assert sorted(Entry.objects.filter(site=site).values_list("question", flat=True)) == [
        "Q1?",
        "Q2?",
    ]


def test_upload_with_a_bad_row_imports_nothing_and_says_which_line(staff, lexical_only):
    site = SiteFactory()
    response = staff.post(
        reverse("admin:kb_entry_import"),
        {"site": site.pk, "file": upload("question,answer\nQ1?,A1\nQ2?,\n")},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "line 3: the answer is empty" in page
    assert not Entry.objects.exists()


def test_export_downloads_csv(staff, lexical_only):
    entry = EntryFactory(alternatives="one\ntwo")
    response = staff.get(reverse("admin:kb_entry_export") + f"?site={entry.site_id}")
    assert response["Content-Type"].startswith("text/csv")
    assert f"{entry.question},{entry.answer},one | two" in response.content.decode()


def test_admin_tools_need_staff(client):
    for name in ("kb_entry_import", "kb_entry_playground", "kb_entry_playground_reply"):
        assert client.get(reverse(f"admin:{name}")).status_code == 302


def test_playground_shows_decision_and_scores_per_tier(staff, semantic):
    site = SiteFactory()
    EntryFactory(
        site=site,
        question="How long does shipping take?",
        alternatives="When will my order arrive?",
    )
    EntryFactory(site=site, question="What is your return policy?")
    response = staff.get(
        reverse("admin:kb_entry_playground"), {"site": site.pk, "q": "when will my order arrive"}
    )
    page = response.content.decode()
    assert 'data-testid="decision">answer<' in page
    assert "Semantic cosine" in page and "Lexical" in page
    assert "How long does shipping take?" in page
    assert 'data-testid="kb-answer"' in page


def test_playground_shows_blocked_questions(
    staff, lexical_only, django_capture_on_commit_callbacks
):
    site = SiteFactory()
    with django_capture_on_commit_callbacks(execute=True):
        SensitiveWordFactory(word="lawsuit", action="block")
    response = staff.get(reverse("admin:kb_entry_playground"), {"site": site.pk, "q": "a lawsuit"})
    assert 'data-testid="decision">blocked<' in response.content.decode()


def test_playground_reply_streams_the_grounded_llm_answer(staff, settings, lexical_only):
    site = SiteFactory()
    EntryFactory(site=site, question="How long does shipping take?", answer="3-5 days.")
    with FakeLLMServer() as server:
        settings.OPENAI_BASE_URL = server.base_url
        server.configure(reply="Shipping takes three to five days.")
        response = staff.get(
            reverse("admin:kb_entry_playground_reply"), {"site": site.pk, "q": "shipping?"}
        )
        assert response.streaming
        text = b"".join(
            part if isinstance(part, bytes) else part.encode() for part in _drain(response)
        ).decode()
        body = server.requests[-1]["body"]
    assert text == "Shipping takes three to five days."
    context = "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")
    assert "How long does shipping take?" in context and "3-5 days." in context


def _drain(response):
    import asyncio

    async def collect():
        return [chunk async for chunk in response.streaming_content]

    if response.is_async:
        return asyncio.run(collect())
    return list(response.streaming_content)


def test_playground_reply_without_llm_is_refused(staff, settings, lexical_only):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = None
    site = SiteFactory()
    response = staff.get(reverse("admin:kb_entry_playground_reply"), {"site": site.pk, "q": "x"})
    assert response.status_code == 409


def test_gaps_are_grouped_with_counts_and_become_an_entry_in_two_clicks(staff, lexical_only):
    conversation = ConversationFactory()
    site = conversation.site
    asked = MessageFactory(conversation=conversation, text="Do you sell pets?")
    MessageFactory(
        conversation=conversation,
        author_kind=Message.Author.AGENT,
        source=Message.Source.AGENT,
        text="No, we only sell electronics.",
    )
    knowledge_gap_record(
        site_id=site.pk, question="Do you sell pets?", message_id=asked.pk, reason="none"
    )
    knowledge_gap_record(
        site_id=site.pk, question="do you sell pets", message_id=None, reason="escalated"
    )
    knowledge_gap_record(
        site_id=site.pk, question="What is the meaning of life?", message_id=None, reason="none"
    )

    page = staff.get(reverse("admin:kb_knowledgegap_changelist")).content.decode()
    assert page.count('data-testid="gap-group"') == 2
    assert '<td data-testid="gap-count">2</td>' in page
    assert "No, we only sell electronics." in page

    # Click 1: "Create entry" opens a filled-in add form.
    groups = staff.get(reverse("admin:kb_knowledgegap_changelist")).context["groups"]
    pets = next(g for g in groups if g.count == 2)
    form = staff.get(pets.create_url)
    initial = form.context["adminform"].form.initial
    assert initial["answer"] == "No, we only sell electronics."
    assert initial["question"] == "do you sell pets"
    # Click 2: save it as it is.
    params = parse_qs(urlparse(pets.create_url).query)
    response = staff.post(
        pets.create_url,
        {
            "site": params["site"][0],
            "question": params["question"][0],
            "alternatives": params["alternatives"][0],
            "answer": params["answer"][0],
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    entry = Entry.objects.get(question="do you sell pets")
    assert entry.alternative_list == ["Do you sell pets?"]
    assert KnowledgeGap.objects.filter(resolved_entry=entry).count() == 2
    page = staff.get(reverse("admin:kb_knowledgegap_changelist")).content.decode()
    assert page.count('data-testid="gap-group"') == 1


def test_gaps_can_be_dismissed(staff, lexical_only):
    site = SiteFactory()
    knowledge_gap_record(site_id=site.pk, question="spam spam", message_id=None, reason="none")
    gap = KnowledgeGap.objects.get()
    staff.post(reverse("admin:kb_knowledgegap_changelist"), {"gap_ids": [gap.pk]})
    gap.refresh_from_db()
    assert gap.resolved_at is not None and gap.resolved_entry is None
