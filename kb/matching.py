"""Knowledge-base matching: which entry answers a visitor's question.

Two scores per entry, each the best over its question and alternatives:
- `strict` (token-sort ratio) decides a canned `answer`: it only runs high when
  the visitor's words are the entry's words, so a wrong canned answer is rare;
- `loose` (rapidfuzz WRatio, which tolerates extra words) ranks entries to
  `ground` the LLM.
Chinese is scored per character (see kb.text.tokenize_for_matching).
"""

import logging
import threading
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz

from helpdesk.models import Site
from kb.config_versions import config_version_get, kb_scope
from kb.models import Entry
from kb.text import tokenize_for_matching

logger = logging.getLogger(__name__)

Decision = Literal["answer", "ground", "none"]
GROUNDING_LIMIT = 3


@dataclass(frozen=True)
class IndexedEntry:
    entry_id: int
    question: str
    answer: str
    phrasings: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    entry_id: int
    question: str
    answer: str
    strict: float
    loose: float


@dataclass(frozen=True)
class MatchResult:
    decision: Decision
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def score(self) -> float:
        return (
            self.best.strict
            if self.decision == "answer" and self.best
            else (self.best.loose if self.best else 0.0)
        )


class _SiteIndexCache:
    """Per-process copy of each site's enabled entries, refreshed when the KB changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[int, tuple[int, tuple[IndexedEntry, ...]]] = {}

    def entries(self, site_id: int) -> tuple[IndexedEntry, ...]:
        version = config_version_get(scope=kb_scope(site_id))
        cached = self._indexes.get(site_id)
        if cached is None or cached[0] != version:
            built = tuple(_build(site_id))
            with self._lock:
                self._indexes[site_id] = (version, built)
            return built
        return cached[1]


def _build(site_id: int):
    for entry in Entry.objects.filter(site_id=site_id, enabled=True).only(
        "id", "question", "answer", "alternatives"
    ):
        yield IndexedEntry(
            entry_id=entry.pk,
            question=entry.question,
            answer=entry.answer,
            phrasings=tuple(tokenize_for_matching(p) for p in entry.phrasings),
        )


_index = _SiteIndexCache()


def kb_match(*, site: Site, text: str) -> MatchResult:
    query = tokenize_for_matching(text)
    if not query:
        return MatchResult(decision="none", candidates=())
    scored: list[Candidate] = []
    for entry in _index.entries(site.pk):
        strict = max(fuzz.token_sort_ratio(query, p) for p in entry.phrasings)
        loose = max(fuzz.WRatio(query, p) for p in entry.phrasings)
        scored.append(
            Candidate(entry.entry_id, entry.question, entry.answer, float(strict), float(loose))
        )
    if not scored:
        return MatchResult(decision="none", candidates=())
    best_strict = max(scored, key=lambda c: c.strict)
    if best_strict.strict >= site.kb_match_threshold:
        others = sorted((c for c in scored if c is not best_strict), key=lambda c: -c.loose)
        return MatchResult(
            decision="answer", candidates=(best_strict, *others[: GROUNDING_LIMIT - 1])
        )
    ranked = tuple(sorted(scored, key=lambda c: -c.loose)[:GROUNDING_LIMIT])
    grounding = tuple(c for c in ranked if c.loose >= site.kb_ground_threshold)
    if grounding:
        return MatchResult(decision="ground", candidates=grounding)
    return MatchResult(decision="none", candidates=ranked)
