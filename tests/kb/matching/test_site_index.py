"""kb_match against a site's entries: vectors stored on save, the index refreshed on change."""

import numpy as np
import pytest

from helpdesk.config_versions import config_version_bump, kb_scope
from kb.matching import kb_match, kb_match_many
from kb.models import EntryVector
from tests.factories import EntryFactory, SiteFactory

pytestmark = pytest.mark.django_db


def test_lexical_only_match_keeps_the_public_contract(lexical_only):
    site = SiteFactory()
    entry = EntryFactory(site=site, question="How long does shipping take?")
    result = kb_match(site=site, text="how long does shipping take")
    assert result.decision == "answer"
    assert (result.best.entry_id, result.best.answer) == (entry.pk, entry.answer)
    assert result.score == result.best.strict >= site.kb_match_threshold
    assert result.tiers == ("lexical",)


def test_entry_save_stores_vectors_inline(semantic, django_capture_on_commit_callbacks):
    site = SiteFactory()
    with django_capture_on_commit_callbacks(execute=True):
        entry = EntryFactory(
            site=site, question="How do I reset my password?", alternatives="I forgot my password"
        )
    stored = EntryVector.objects.get(entry=entry)
    matrix = np.frombuffer(bytes(stored.vectors), dtype=np.float32).reshape(-1, stored.dimensions)
    assert stored.backend == semantic.backend_id
    assert matrix.shape == (4, 384)  # Q+A, answer, question, one alternative
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-3)


def test_edit_and_disable_reach_the_index_without_restart(
    lexical_only, django_capture_on_commit_callbacks
):
    site = SiteFactory()
    with django_capture_on_commit_callbacks(execute=True):
        entry = EntryFactory(site=site, question="Do you ship abroad?")
    assert kb_match(site=site, text="do you ship abroad").decision == "answer"
    with django_capture_on_commit_callbacks(execute=True):
        entry.question = "Do you sell gift cards?"
        entry.save()
    assert kb_match(site=site, text="do you sell gift cards").best.entry_id == entry.pk
    with django_capture_on_commit_callbacks(execute=True):
        entry.enabled = False
        entry.save()
    assert kb_match(site=site, text="do you sell gift cards").decision == "none"


def test_stale_vectors_are_not_used(semantic, django_capture_on_commit_callbacks):
    site = SiteFactory()
    with django_capture_on_commit_callbacks(execute=True):
        entry = EntryFactory(site=site, question="How do I reset my password?")
    # Another process wrote vectors for other text: the hash no longer matches.
    EntryVector.objects.filter(entry=entry).update(content_hash="0" * 64)
    config_version_bump(scope=kb_scope(site.pk))
    result = kb_match(site=site, text="how do i reset my password")
    assert result.decision == "answer" and result.best.entry_id == entry.pk


def test_match_many_batches_and_keeps_order(semantic):
    site = SiteFactory()
    EntryFactory(site=site, question="How long does shipping take?")
    EntryFactory(site=site, question="What is your return policy?")
    results = kb_match_many(site=site, texts=["", "What is your return policy?", "shipping time"])
    assert results[0].decision == "none"
    assert results[1].best.question == "What is your return policy?"
    assert results[2].best.question == "How long does shipping take?"
