"""The matcher proper, free of the database: an index of entries and the combination rule.

Two tiers score every entry:
- lexical: rapidfuzz's token-sort ratio over the entry's question and
  alternatives, on normalised text with Chinese split per character;
- semantic (when an embedder is available): cosines between the visitor's
  query vector and the entry's phrasing, question+answer and answer vectors.

With both tiers, entries are ranked by semantic relevance and the best one is
answered directly only when a calibrated confidence clears the Site's
`kb_match_threshold` (or a stored phrasing was typed almost verbatim); the
top three that clear `kb_ground_threshold` are the LLM's grounding.
With the lexical tier alone the rule is the plain fuzzy one it always was.
"""

import hashlib
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.process import cdist

from kb.matching.calibration import LEXICAL_EXACT, Calibration
from kb.text import tokenize_for_matching

Decision = Literal["answer", "ground", "none"]
GROUNDING_LIMIT = 3


@dataclass(frozen=True)
class Candidate:
    entry_id: int
    question: str
    answer: str
    # strict: the score the `answer` decision uses; loose: the score grounding uses (both 0-100).
    strict: float
    loose: float
    lexical: float = 0.0
    semantic: float | None = None
    relevance: float | None = None


@dataclass(frozen=True)
class MatchResult:
    decision: Decision
    candidates: tuple[Candidate, ...]
    tiers: tuple[str, ...] = ("lexical",)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def score(self) -> float:
        if self.best is None:
            return 0.0
        return self.best.strict if self.decision == "answer" else self.best.loose


@dataclass(frozen=True)
class Thresholds:
    answer: float = 85.0
    ground: float = 45.0


@dataclass(frozen=True)
class IndexedEntry:
    entry_id: int
    question: str
    answer: str
    phrasings: tuple[str, ...]


def entry_vector_texts(*, question: str, answer: str, phrasings: list[str]) -> list[str]:
    """What is embedded for an entry, in stored row order: Q+A, answer, each phrasing."""
    return [f"{question}\n{answer}", answer, *phrasings]


def entry_content_hash(*, backend_id: str, texts: list[str]) -> str:
    digest = hashlib.sha256(backend_id.encode())
    for text in texts:
        digest.update(b"\x00" + text.encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class DecisionFeatures:
    """Arrays with one value per entry of the index."""

    cosine: np.ndarray  # best phrasing's cosine to the query
    relevance: np.ndarray  # ranks the entries; -inf for entries without vectors
    z: np.ndarray  # relevance's z-score among the site's entries
    cosine_z: np.ndarray  # cosine's z-score among the query's cosines to every entry
    lexical: np.ndarray  # token-sort ratio / 100
    has_vectors: np.ndarray


@dataclass
class SemanticIndex:
    backend_id: str
    calibration: Calibration
    # Row i of these belongs to entries[i]; rows of entries without vectors are zero.
    question_answer: np.ndarray
    answer: np.ndarray
    phrasings: np.ndarray
    phrasing_owner: np.ndarray
    has_vectors: np.ndarray


@dataclass
class MatcherIndex:
    entries: tuple[IndexedEntry, ...]
    semantic: SemanticIndex | None = None
    _lexical_choices: list[str] = field(default_factory=list)
    _lexical_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        owners: list[int] = []
        for position, entry in enumerate(self.entries):
            for phrasing in entry.phrasings:
                self._lexical_choices.append(tokenize_for_matching(phrasing))
                owners.append(position)
        self._lexical_owner = np.array(owners, dtype=np.int64)

    @property
    def tiers(self) -> tuple[str, ...]:
        return ("lexical", "semantic") if self.semantic is not None else ("lexical",)

    @classmethod
    def build(
        cls,
        *,
        entries: list[IndexedEntry],
        backend_id: str | None = None,
        calibration: Calibration | None = None,
        vectors: dict[int, np.ndarray] | None = None,
    ) -> "MatcherIndex":
        """`vectors` maps an entry id to its rows (see entry_vector_texts); missing ones are
        left to the lexical tier until their vectors are stored."""
        if backend_id is None or calibration is None or vectors is None:
            return cls(entries=tuple(entries))
        dimensions = next((v.shape[1] for v in vectors.values()), 0)
        count = len(entries)
        question_answer = np.zeros((count, dimensions), dtype=np.float32)
        answer = np.zeros((count, dimensions), dtype=np.float32)
        phrasing_rows: list[np.ndarray] = []
        owners: list[int] = []
        has_vectors = np.zeros(count, dtype=bool)
        for position, entry in enumerate(entries):
            rows = vectors.get(entry.entry_id)
            if rows is None or rows.shape != (len(entry.phrasings) + 2, dimensions):
                continue
            has_vectors[position] = True
            question_answer[position] = rows[0]
            answer[position] = rows[1]
            phrasing_rows.append(rows[2:])
            owners.extend([position] * (rows.shape[0] - 2))
        phrasings = (
            np.concatenate(phrasing_rows)
            if phrasing_rows
            else np.zeros((0, dimensions), dtype=np.float32)
        )
        semantic = SemanticIndex(
            backend_id=backend_id,
            calibration=calibration,
            question_answer=question_answer,
            answer=answer,
            phrasings=phrasings,
            phrasing_owner=np.array(owners, dtype=np.int64),
            has_vectors=has_vectors,
        )
        return cls(entries=tuple(entries), semantic=semantic)

    # --- scoring -------------------------------------------------------------

    def lexical_scores(self, query: str, scorer=fuzz.token_sort_ratio) -> np.ndarray:
        """Per entry, the best score of the query against its phrasings (0-100)."""
        best = np.zeros(len(self.entries), dtype=np.float32)
        if not self._lexical_choices or not query:
            return best
        scores = cdist([query], self._lexical_choices, scorer=scorer, dtype=np.float32)[0]
        np.maximum.at(best, self._lexical_owner, scores)
        return best

    def lexically_certain(self, *, text: str, thresholds: Thresholds) -> bool:
        """The text is one of the stored phrasings, near enough letter for letter.

        The hybrid rule answers such a text whatever its vector says (a lexical
        score >= LEXICAL_EXACT is its own confidence), so the query vector, the
        costly part of a match (~25 ms on a CPU), can be skipped: this is the
        repeated question answered at once.
        """
        query = tokenize_for_matching(text)
        if not query or not self.entries or thresholds.answer > LEXICAL_EXACT:
            return False
        return float(self.lexical_scores(query).max()) >= LEXICAL_EXACT

    def match(
        self, *, text: str, thresholds: Thresholds, query_vector: np.ndarray | None = None
    ) -> MatchResult:
        query = tokenize_for_matching(text)
        if not query or not self.entries:
            return MatchResult(decision="none", candidates=(), tiers=self.tiers)
        lexical = self.lexical_scores(query)
        if self.semantic is None or query_vector is None or not self.semantic.has_vectors.any():
            return self._match_lexical(query, lexical, thresholds)
        return self._match_hybrid(lexical, query_vector, thresholds)

    def _candidate(self, position: int, strict: float, loose: float, **extra) -> Candidate:
        entry = self.entries[position]
        return Candidate(
            entry.entry_id,
            entry.question,
            entry.answer,
            round(float(strict), 2),
            round(float(loose), 2),
            **extra,
        )

    def _match_lexical(self, query: str, strict: np.ndarray, thresholds: Thresholds):
        loose = self.lexical_scores(query, scorer=fuzz.WRatio)
        order = np.argsort(-loose, kind="stable")[:GROUNDING_LIMIT]
        best = int(np.argmax(strict))
        tiers = ("lexical",)
        if strict[best] >= thresholds.answer:
            others = [p for p in order if p != best][: GROUNDING_LIMIT - 1]
            candidates = tuple(
                self._candidate(int(p), strict[p], loose[p], lexical=float(strict[p]))
                for p in [best, *others]
            )
            return MatchResult(decision="answer", candidates=candidates, tiers=tiers)
        ranked = tuple(
            self._candidate(int(p), strict[p], loose[p], lexical=float(strict[p])) for p in order
        )
        grounding = tuple(c for c in ranked if c.loose >= thresholds.ground)
        if grounding:
            return MatchResult(decision="ground", candidates=grounding, tiers=tiers)
        return MatchResult(decision="none", candidates=ranked, tiers=tiers)

    def decision_features(self, lexical: np.ndarray, query_vector: np.ndarray) -> DecisionFeatures:
        """Per entry, what the confidence is computed from (and what calibration_fit fits)."""
        semantic = self.semantic
        assert semantic is not None
        calibration = semantic.calibration
        cosine = np.full(len(self.entries), -1.0, dtype=np.float32)
        if semantic.phrasings.shape[0]:
            np.maximum.at(cosine, semantic.phrasing_owner, semantic.phrasings @ query_vector)
        relevance = (
            cosine
            + calibration.weight_question_answer * (semantic.question_answer @ query_vector)
            + calibration.weight_answer * (semantic.answer @ query_vector)
        )
        relevance[~semantic.has_vectors] = -np.inf
        valid = semantic.has_vectors
        spread = max(float(relevance[valid].std()), calibration.z_min_std)
        z = (relevance - float(relevance[valid].mean())) / spread
        # How far the entry's best phrasing stands out among this query's cosines to every
        # entry. e5 cosines of one query sit in a narrow band whose level varies with the
        # query; next to the relevance z-score this is a small correction (its weight is
        # small and negative), kept because it raised cross-validated recall (docs/kb.md).
        cosine_spread = max(float(cosine[valid].std()), calibration.z_min_std / 4)
        cosine_z = (cosine - float(cosine[valid].mean())) / cosine_spread
        return DecisionFeatures(
            cosine=cosine,
            relevance=relevance,
            z=z,
            cosine_z=cosine_z,
            lexical=lexical / 100.0,
            has_vectors=semantic.has_vectors,
        )

    def semantic_features(self, lexical: np.ndarray, query_vector: np.ndarray):
        """Per entry: best phrasing cosine, relevance, confidence (0-100), grounding score."""
        calibration = self.semantic.calibration  # type: ignore[union-attr]
        features = self.decision_features(lexical, query_vector)
        confidence = calibration.confidence(
            cosine=features.cosine,
            z=features.z,
            cosine_z=features.cosine_z,
            lexical=features.lexical,
        )
        confidence[~features.has_vectors] = 0.0
        span = calibration.ground_high - calibration.ground_low
        ground = np.clip((features.cosine - calibration.ground_low) / span, 0.0, 1.0) * 100.0
        return features.cosine, features.relevance, confidence, ground

    def _match_hybrid(self, lexical: np.ndarray, query_vector: np.ndarray, thresholds):
        cosine, relevance, confidence, ground = self.semantic_features(lexical, query_vector)
        # Entries without vectors yet still count through the lexical tier.
        strict = np.where(lexical >= LEXICAL_EXACT, np.maximum(confidence, lexical), confidence)
        order = [int(p) for p in np.argsort(-relevance, kind="stable")[:GROUNDING_LIMIT]]
        lexical_best = int(np.argmax(lexical))
        if lexical[lexical_best] >= LEXICAL_EXACT and lexical_best not in order:
            order = [lexical_best, *order[: GROUNDING_LIMIT - 1]]

        def candidate(p: int) -> Candidate:
            return self._candidate(
                p,
                strict[p],
                max(ground[p], lexical[p] if lexical[p] >= LEXICAL_EXACT else 0.0),
                lexical=round(float(lexical[p]), 2),
                semantic=None if math.isinf(relevance[p]) else round(float(cosine[p]), 4),
                relevance=None if math.isinf(relevance[p]) else round(float(relevance[p]), 4),
            )

        ranked = [candidate(p) for p in order]
        tiers = ("lexical", "semantic")
        best = max(ranked, key=lambda c: c.strict)
        if best.strict >= thresholds.answer:
            others = [c for c in ranked if c is not best]
            return MatchResult(
                decision="answer", candidates=(best, *others)[:GROUNDING_LIMIT], tiers=tiers
            )
        grounding = tuple(c for c in ranked if c.loose >= thresholds.ground)
        if grounding:
            return MatchResult(decision="ground", candidates=grounding, tiers=tiers)
        return MatchResult(decision="none", candidates=tuple(ranked), tiers=tiers)
