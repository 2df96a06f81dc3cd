import pytest

from kb.csv_io import EntryRow
from kb.models import Entry, EntryVector, KnowledgeGap
from kb.services import (
    entries_import,
    entry_vectors_refresh,
    knowledge_gap_record,
    knowledge_gaps_resolve,
    site_default_get_or_create,
)
from tests.factories import EntryFactory, KnowledgeGapFactory, SiteFactory

pytestmark = pytest.mark.django_db


def test_import_upserts_by_question(lexical_only):
    site = SiteFactory()
    EntryFactory(site=site, question="Old?", answer="old answer")
    EntryFactory(site=site, question="Same?", answer="same", alternatives="")
    summary = entries_import(
        site=site,
        rows=[
            EntryRow(2, "Old?", "new answer", ("alt one", "alt two")),
            EntryRow(3, "Same?", "same", ()),
            EntryRow(4, "New?", "brand new", ()),
        ],
    )
    assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 1)
    old = Entry.objects.get(site=site, question="Old?")
    assert (old.answer, old.alternative_list) == ("new answer", ["alt one", "alt two"])
    assert Entry.objects.filter(site=site).count() == 3


def test_import_embeds_once_after_commit(semantic, django_capture_on_commit_callbacks):
    site = SiteFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        entries_import(site=site, rows=[EntryRow(2, "A?", "a", ()), EntryRow(3, "B?", "b", ())])
    # One vector job for the whole import, not one per row.
    assert len([c for c in callbacks if "entry_vectors_schedule" in repr(c)]) <= 1
    assert EntryVector.objects.filter(entry__site=site).count() == 2


def test_vectors_refresh_skips_deleted_and_current_entries(semantic):
    entry = EntryFactory()
    assert entry_vectors_refresh(entry_ids=[entry.pk, 999_999]) == 1
    assert entry_vectors_refresh(entry_ids=[entry.pk]) == 0  # already current
    entry.answer = "changed"
    entry.save()
    assert entry_vectors_refresh(entry_ids=[entry.pk]) == 1


def test_vectors_refresh_without_embeddings_does_nothing(lexical_only):
    entry = EntryFactory()
    assert entry_vectors_refresh(entry_ids=[entry.pk]) == 0
    assert not EntryVector.objects.exists()


def test_default_site_is_the_first_or_a_new_one():
    created = site_default_get_or_create()
    assert site_default_get_or_create() == created
    SiteFactory()
    assert site_default_get_or_create() == created


def test_knowledge_gap_record_is_idempotent_per_message_and_never_raises():
    site = SiteFactory()
    knowledge_gap_record(
        site_id=site.pk, question=" Do you sell pets? ", message_id=7, reason="none"
    )
    knowledge_gap_record(site_id=site.pk, question="Do you sell pets?", message_id=7, reason="none")
    knowledge_gap_record(
        site_id=site.pk, question="help", message_id=None, reason="escalated: visitor asked"
    )
    knowledge_gap_record(site_id=site.pk, question="   ", message_id=None, reason="none")
    knowledge_gap_record(site_id=999_999, question="no such site", message_id=None, reason="none")
    knowledge_gap_record(site_id=site.pk, question=None, message_id=None, reason="none")  # type: ignore[arg-type]
    gaps = list(KnowledgeGap.objects.order_by("id").values_list("question", "reason"))
    assert gaps == [("Do you sell pets?", "none"), ("help", "escalated")]


def test_resolving_gaps_links_them_to_the_entry():
    gap = KnowledgeGapFactory()
    other_site_gap = KnowledgeGapFactory()
    entry = EntryFactory(site=gap.site)
    assert knowledge_gaps_resolve(gap_ids=[gap.pk, other_site_gap.pk], entry=entry) == 1
    gap.refresh_from_db()
    assert gap.resolved_entry == entry and gap.resolved_at is not None
