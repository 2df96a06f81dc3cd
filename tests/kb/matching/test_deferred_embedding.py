"""kb_match told not to embed in its thread: it asks its caller for the question's vector."""

import numpy as np
import pytest

from conversations.fake_llm import FakeLLMServer
from kb.embeddings import embedder_get, embedder_reset, query_vectors
from kb.matching import QueryVectorDeferred, kb_match
from tests.factories import EntryFactory, SiteFactory

pytestmark = pytest.mark.django_db

PARAPHRASE = "if i order today when would it get here"


@pytest.fixture
def site(django_capture_on_commit_callbacks):
    site = SiteFactory()
    with django_capture_on_commit_callbacks(execute=True):
        EntryFactory(site=site, question="How long does shipping take?")
        EntryFactory(site=site, question="How do I reset my password?")
    return site


def test_a_question_that_needs_a_vector_is_deferred_to_the_caller(semantic, site):
    with pytest.raises(QueryVectorDeferred) as deferred:
        kb_match(site=site, text=PARAPHRASE, defer_embedding=True)
    assert deferred.value.text == PARAPHRASE


def test_the_callers_vector_gives_the_decision_an_inline_match_gives(semantic, site):
    vector = query_vectors(semantic, [PARAPHRASE])[0]
    given = kb_match(site=site, text=PARAPHRASE, query_vector=vector, defer_embedding=True)
    inline = kb_match(site=site, text=PARAPHRASE)
    assert given.tiers == inline.tiers == ("lexical", "semantic")
    assert given.decision == inline.decision
    assert [(c.entry_id, c.strict, c.loose) for c in given.candidates] == [
        (c.entry_id, c.strict, c.loose) for c in inline.candidates
    ]


def test_a_stored_question_typed_again_is_never_deferred(semantic, site):
    result = kb_match(site=site, text="how long does shipping take?", defer_embedding=True)
    assert result.decision == "answer" and result.tiers == ("lexical",)


def test_a_cached_vector_is_used_instead_of_deferring(semantic, site):
    kb_match(site=site, text=PARAPHRASE)  # embeds and caches it
    result = kb_match(site=site, text=PARAPHRASE, defer_embedding=True)
    assert result.tiers == ("lexical", "semantic")


def test_a_remote_embeddings_api_is_called_inline_even_when_asked_to_defer(
    settings, django_capture_on_commit_callbacks
):
    # A remote endpoint serves concurrent requests: no queue is needed in front of it.
    with FakeLLMServer() as server:
        settings.KB_EMBEDDINGS = "auto"
        settings.OPENAI_EMBEDDINGS_MODEL = "fake-embed"
        settings.OPENAI_EMBEDDINGS_BASE_URL = server.base_url
        embedder_reset()
        assert embedder_get().in_process is False
        site = SiteFactory()
        with django_capture_on_commit_callbacks(execute=True):
            EntryFactory(site=site, question="How long does shipping take?")
        before = len(server.requests)
        result = kb_match(site=site, text=PARAPHRASE, defer_embedding=True)
        assert result.tiers == ("lexical", "semantic")
        assert len(server.requests) == before + 1


def test_without_a_semantic_tier_nothing_is_deferred(lexical_only, site):
    result = kb_match(site=site, text=PARAPHRASE, defer_embedding=True)
    assert result.tiers == ("lexical",)
    assert isinstance(result.candidates, tuple)
    assert not np.isnan(result.score or 0.0)


def test_a_vector_of_another_backend_is_not_used(semantic, site):
    # The backend changed between the caller's two calls (a settings reload).
    other = np.ones(1536, dtype=np.float32) / np.sqrt(1536)
    result = kb_match(site=site, text=PARAPHRASE, query_vector=other)
    inline = kb_match(site=site, text=PARAPHRASE)
    assert result.tiers == ("lexical", "semantic")
    assert [(c.entry_id, c.strict) for c in result.candidates] == [
        (c.entry_id, c.strict) for c in inline.candidates
    ]
