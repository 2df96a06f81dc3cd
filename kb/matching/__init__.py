"""Knowledge-base matching: which entry answers a visitor's question, if any.

`kb_match` is what the reply pipeline calls. Its decision is `answer` (send
the best entry's answer as it is), `ground` (give `candidates` to the LLM) or
`none`. See kb.matching.core for the tiers and docs/kb.md for the rule.
"""

from collections.abc import Sequence

import numpy as np

from helpdesk.models import Site
from kb.embeddings import embedder_get, query_vector_cached, query_vectors_if_available
from kb.matching.core import (
    GROUNDING_LIMIT,
    Candidate,
    Decision,
    IndexedEntry,
    MatcherIndex,
    MatchResult,
    Thresholds,
)
from kb.matching.site_index import site_indexes
from kb.text import tokenize_for_matching

__all__ = [
    "GROUNDING_LIMIT",
    "Candidate",
    "Decision",
    "MatchResult",
    "MatcherIndex",
    "QueryVectorDeferred",
    "Thresholds",
    "kb_entries_indexed",
    "kb_match",
    "kb_match_many",
    "site_thresholds",
]


def site_thresholds(site: Site) -> Thresholds:
    return Thresholds(answer=float(site.kb_match_threshold), ground=float(site.kb_ground_threshold))


class QueryVectorDeferred(Exception):
    """kb_match was asked not to embed in this thread, and the text needs a vector.

    Embedding a question takes the in-process model ~10 ms of CPU, one call at a
    time: a web process's database thread that waits for it is one that no other
    visitor's message can use. The caller computes the vector elsewhere
    (kb.query_vector_queue) and matches again with it.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def kb_match_many(
    *,
    site: Site,
    texts: list[str],
    given: dict[int, np.ndarray] | None = None,
    defer_embedding: bool = False,
) -> list[MatchResult]:
    """Match several visitor texts at once: their vectors are computed in one batch.

    `given`: vectors the caller computed already, by position.
    `defer_embedding`: raise QueryVectorDeferred instead of running the
    in-process model here for a text whose vector is not cached.
    """
    index = site_indexes.get(site.pk)
    thresholds = site_thresholds(site)
    embedder = embedder_get() if index.semantic is not None else None
    # A vector made before the embeddings backend changed (a settings reload between
    # the caller's two calls) does not fit this index: such a text is embedded again.
    width = index.semantic.question_answer.shape[1] if index.semantic is not None else None
    vectors = {p: v for p, v in (given or {}).items() if v.shape[-1] == width}
    wanted = [
        p
        for p, text in enumerate(texts)
        if embedder is not None
        and p not in vectors
        and tokenize_for_matching(text)
        and not index.lexically_certain(text=text, thresholds=thresholds)
    ]
    if embedder is not None and wanted and defer_embedding and embedder.in_process:
        for position in wanted:
            cached = query_vector_cached(embedder, texts[position])
            if cached is None:
                raise QueryVectorDeferred(texts[position])
            vectors[position] = cached
        wanted = []
    if embedder is not None and wanted:
        rows = query_vectors_if_available(embedder, [texts[p] for p in wanted])
        if rows is not None:
            vectors.update(zip(wanted, rows, strict=True))
    return [
        index.match(text=text, thresholds=thresholds, query_vector=vectors.get(position))
        for position, text in enumerate(texts)
    ]


def kb_match(
    *,
    site: Site,
    text: str,
    query_vector: np.ndarray | None = None,
    defer_embedding: bool = False,
) -> MatchResult:
    """The decision for one visitor text. `query_vector`: computed by the caller
    (after a QueryVectorDeferred); see kb_match_many for `defer_embedding`."""
    given = {0: query_vector} if query_vector is not None else None
    return kb_match_many(site=site, texts=[text], given=given, defer_embedding=defer_embedding)[0]


def kb_entries_indexed(*, site_id: int, entry_ids: Sequence[int]) -> list[IndexedEntry]:
    """These entries as the site's index holds them now, in the order asked.

    The reply pipeline matched the question already; the LLM reply grounds on
    the entries it chose without embedding the question a second time. An entry
    deleted or disabled since is left out.
    """
    by_id = {entry.entry_id: entry for entry in site_indexes.get(site_id).entries}
    return [by_id[entry_id] for entry_id in entry_ids if entry_id in by_id]
