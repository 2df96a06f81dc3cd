"""Knowledge-base matching: which entry answers a visitor's question, if any.

`kb_match` is what the reply pipeline calls. Its decision is `answer` (send
the best entry's answer as it is), `ground` (give `candidates` to the LLM) or
`none`. See kb.matching.core for the tiers and docs/kb.md for the rule.
"""

import logging
from collections.abc import Sequence

import numpy as np

from helpdesk.models import Site
from kb.embeddings import EmbeddingsUnavailable, embedder_get, query_vectors
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

logger = logging.getLogger(__name__)

__all__ = [
    "GROUNDING_LIMIT",
    "Candidate",
    "Decision",
    "MatchResult",
    "MatcherIndex",
    "Thresholds",
    "kb_entries_indexed",
    "kb_match",
    "kb_match_many",
    "site_thresholds",
]


def site_thresholds(site: Site) -> Thresholds:
    return Thresholds(answer=float(site.kb_match_threshold), ground=float(site.kb_ground_threshold))


def kb_match_many(*, site: Site, texts: list[str]) -> list[MatchResult]:
    """Match several visitor texts at once: their vectors are computed in one batch."""
    index = site_indexes.get(site.pk)
    thresholds = site_thresholds(site)
    embedder = embedder_get() if index.semantic is not None else None
    vectors: dict[int, np.ndarray] = {}
    wanted = [
        p
        for p, text in enumerate(texts)
        if embedder is not None
        and tokenize_for_matching(text)
        and not index.lexically_certain(text=text, thresholds=thresholds)
    ]
    if embedder is not None and wanted:
        try:
            rows = query_vectors(embedder, [texts[p] for p in wanted])
            vectors = dict(zip(wanted, rows, strict=True))
        except EmbeddingsUnavailable as exc:
            # A remote embeddings API being down must not stop the bot: lexical only.
            logger.warning("kb matcher: query embeddings failed (%s); lexical tier only", exc)
    return [
        index.match(text=text, thresholds=thresholds, query_vector=vectors.get(position))
        for position, text in enumerate(texts)
    ]


def kb_match(*, site: Site, text: str) -> MatchResult:
    return kb_match_many(site=site, texts=[text])[0]


def kb_entries_indexed(*, site_id: int, entry_ids: Sequence[int]) -> list[IndexedEntry]:
    """These entries as the site's index holds them now, in the order asked.

    The reply pipeline matched the question already; the LLM reply grounds on
    the entries it chose without embedding the question a second time. An entry
    deleted or disabled since is left out.
    """
    by_id = {entry.entry_id: entry for entry in site_indexes.get(site_id).entries}
    return [by_id[entry_id] for entry_id in entry_ids if entry_id in by_id]
