"""Writes to the knowledge base: import, entry vectors, knowledge gaps."""

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from helpdesk.config_versions import config_version_bump, kb_scope
from helpdesk.models import Site
from kb.csv_io import EntryRow
from kb.embeddings import embedder_get
from kb.matching.core import IndexedEntry, entry_content_hash, entry_vector_texts
from kb.matching.site_index import vectors_compute
from kb.models import Entry, EntryVector, KnowledgeGap

logger = logging.getLogger(__name__)

GAP_QUESTION_MAX = 2000
_bulk_import: contextvars.ContextVar[bool] = contextvars.ContextVar("kb_bulk", default=False)


@contextlib.contextmanager
def _vectors_deferred() -> Iterator[None]:
    """Inside a bulk write the per-entry save hook stays quiet; the caller embeds once."""
    token = _bulk_import.set(True)
    try:
        yield
    finally:
        _bulk_import.reset(token)


def vectors_deferred() -> bool:
    return _bulk_import.get()


@transaction.atomic
def site_default_get_or_create() -> Site:
    """The site commands use when none is named: the first, created if there is none."""
    site = Site.objects.order_by("id").first()
    return site or Site.objects.create(name="Default site")


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int


@transaction.atomic
def entries_import(*, site: Site, rows: list[EntryRow], user=None) -> ImportSummary:
    """Upsert entries by question. All rows or none: the caller validated them first."""
    existing = {e.question: e for e in Entry.objects.select_for_update().filter(site=site)}
    created = updated = unchanged = 0
    touched: list[int] = []
    actor = user if user is not None and getattr(user, "pk", None) else None
    with _vectors_deferred():
        for row in rows:
            alternatives = "\n".join(row.alternatives)
            entry = existing.get(row.question)
            if entry is None:
                entry = Entry.objects.create(
                    site=site,
                    question=row.question,
                    answer=row.answer,
                    alternatives=alternatives,
                    created_by=actor,
                    updated_by=actor,
                )
                existing[row.question] = entry
                created += 1
            elif entry.answer != row.answer or entry.alternatives != alternatives:
                entry.answer = row.answer
                entry.alternatives = alternatives
                entry.updated_by = actor or entry.updated_by
                entry.save(update_fields=["answer", "alternatives", "updated_by", "updated_at"])
                updated += 1
            else:
                unchanged += 1
                continue
            touched.append(entry.pk)
    if touched:
        transaction.on_commit(lambda: entry_vectors_schedule(entry_ids=touched))
    return ImportSummary(created=created, updated=updated, unchanged=unchanged)


def entry_vectors_schedule(*, entry_ids: list[int]) -> None:
    """Compute entry vectors after a save: in a Celery task with Redis, inline otherwise."""
    if not entry_ids or embedder_get() is None:
        return
    if getattr(settings, "HELPDESK_LLM_RUNNER", "inline") == "celery":
        from kb.tasks import entry_vectors_refresh_task

        try:
            entry_vectors_refresh_task.delay(list(entry_ids))
            return
        except Exception:
            logger.exception("kb: could not enqueue vector refresh; computing inline")
    try:
        entry_vectors_refresh(entry_ids=entry_ids)
    except Exception:
        # The matcher computes local vectors on its own and keeps the lexical
        # tier for the rest: an embeddings outage must not fail a save.
        logger.exception("kb: vector refresh of %s entries failed", len(entry_ids))


def entry_vectors_refresh(*, entry_ids: list[int]) -> int:
    """Store current vectors for these entries (the gone ones skipped). Returns how many."""
    embedder = embedder_get()
    if embedder is None:
        return 0
    entries = list(
        Entry.objects.filter(pk__in=entry_ids).only(
            "id", "site_id", "question", "answer", "alternatives"
        )
    )
    stale: list[Entry] = []
    stored = {
        v.entry_id: v.content_hash
        for v in EntryVector.objects.filter(
            entry_id__in=[e.pk for e in entries], backend=embedder.backend_id
        )
    }
    hashes: dict[int, str] = {}
    for entry in entries:
        texts = entry_vector_texts(
            question=entry.question, answer=entry.answer, phrasings=entry.phrasings
        )
        hashes[entry.pk] = entry_content_hash(backend_id=embedder.backend_id, texts=texts)
        if stored.get(entry.pk) != hashes[entry.pk]:
            stale.append(entry)
    if not stale:
        return 0
    vectors = vectors_compute(
        embedder=embedder,
        entries=[IndexedEntry(e.pk, e.question, e.answer, tuple(e.phrasings)) for e in stale],
    )
    _vectors_store(
        embedder_id=embedder.backend_id,
        items=[(e, hashes[e.pk], vectors[e.pk]) for e in stale],
    )
    return len(stale)


@transaction.atomic
def _vectors_store(*, embedder_id: str, items: list[tuple[Entry, str, np.ndarray]]) -> None:
    live = set(
        Entry.objects.filter(pk__in=[e.pk for e, _, _ in items]).values_list("pk", flat=True)
    )
    sites: set[int] = set()
    for entry, content_hash, matrix in items:
        if entry.pk not in live:
            continue  # deleted while we embedded
        EntryVector.objects.update_or_create(
            entry_id=entry.pk,
            defaults={
                "backend": embedder_id,
                "content_hash": content_hash,
                "dimensions": int(matrix.shape[1]),
                "vectors": np.ascontiguousarray(matrix, dtype=np.float32).tobytes(),
            },
        )
        sites.add(entry.site_id)
    for site_id in sites:
        transaction.on_commit(lambda s=site_id: config_version_bump(scope=kb_scope(s)))


def knowledge_gap_record(
    *, site_id: int, question: str, message_id: int | None, reason: str
) -> None:
    """Keep a visitor question the KB could not answer. Cheap; never raises."""
    try:
        text = (question or "").strip()[:GAP_QUESTION_MAX]
        if not text or not site_id:
            return
        if reason not in KnowledgeGap.Reason.values:
            reason = KnowledgeGap.Reason.ESCALATED if "escal" in str(reason) else "none"
        with transaction.atomic():
            # SQLite only checks foreign keys at commit: look before writing.
            if not Site.objects.filter(pk=site_id).exists():
                return
            if (
                message_id is not None
                and KnowledgeGap.objects.filter(site_id=site_id, message_id=message_id).exists()
            ):
                return
            KnowledgeGap.objects.create(
                site_id=site_id, question=text, message_id=message_id, reason=reason
            )
    except Exception:
        logger.exception("kb: could not record a knowledge gap for site %s", site_id)


@transaction.atomic
def knowledge_gaps_resolve(*, gap_ids: list[int], entry: Entry) -> int:
    return KnowledgeGap.objects.filter(
        pk__in=gap_ids, site_id=entry.site_id, resolved_at__isnull=True
    ).update(resolved_entry=entry, resolved_at=timezone.now())


@transaction.atomic
def knowledge_gaps_dismiss(*, gap_ids: list[int]) -> int:
    return KnowledgeGap.objects.filter(pk__in=gap_ids, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )
