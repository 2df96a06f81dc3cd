"""The evaluation harness behind `manage.py kb_eval`: the matcher on a CSV KB and labelled queries.

Nothing touches the database: the entries are indexed in memory with the
process's embedder, exactly as a site's entries are, and every query is
matched with the given thresholds.

- answer precision: `answer` decisions whose entry is the expected one, over
  all `answer` decisions (an out-of-scope query answered counts as wrong);
- answer recall: right `answer` decisions over in-scope queries;
- top-3 recall: in-scope queries whose expected entry is among the candidates
  handed on (`answer` or `ground`; at most three);
- false-answer rate: out-of-scope queries that got `answer`.
"""

from dataclasses import dataclass, field

import numpy as np

from kb.csv_io import EntryRow, EvalQuery
from kb.embeddings import Embedder, query_vectors
from kb.matching.calibration import calibration_for
from kb.matching.core import IndexedEntry, MatcherIndex, MatchResult, Thresholds
from kb.matching.site_index import vectors_compute


@dataclass(frozen=True)
class QueryOutcome:
    query: str
    expected: str
    result: MatchResult

    @property
    def in_scope(self) -> bool:
        return bool(self.expected)

    @property
    def answered_right(self) -> bool:
        best = self.result.best
        return (
            self.result.decision == "answer"
            and best is not None
            and (best.question == self.expected)
        )

    @property
    def handed_on(self) -> bool:
        return self.result.decision != "none" and any(
            c.question == self.expected for c in self.result.candidates
        )


@dataclass
class EvalReport:
    tiers: tuple[str, ...]
    thresholds: Thresholds
    outcomes: list[QueryOutcome] = field(default_factory=list)

    @property
    def in_scope(self) -> list[QueryOutcome]:
        return [o for o in self.outcomes if o.in_scope]

    @property
    def out_of_scope(self) -> list[QueryOutcome]:
        return [o for o in self.outcomes if not o.in_scope]

    @property
    def answers(self) -> list[QueryOutcome]:
        return [o for o in self.outcomes if o.result.decision == "answer"]

    @property
    def answer_precision(self) -> float:
        answers = self.answers
        return sum(o.answered_right for o in answers) / len(answers) if answers else 1.0

    @property
    def answer_recall(self) -> float:
        in_scope = self.in_scope
        return sum(o.answered_right for o in in_scope) / len(in_scope) if in_scope else 0.0

    @property
    def top3_recall(self) -> float:
        in_scope = self.in_scope
        return sum(o.handed_on for o in in_scope) / len(in_scope) if in_scope else 0.0

    @property
    def false_answer_rate(self) -> float:
        oos = self.out_of_scope
        return sum(o.result.decision == "answer" for o in oos) / len(oos) if oos else 0.0

    def figures(self) -> dict[str, float | int | str]:
        return {
            "tiers": "+".join(self.tiers),
            "answer_threshold": self.thresholds.answer,
            "ground_threshold": self.thresholds.ground,
            "queries": len(self.outcomes),
            "in_scope": len(self.in_scope),
            "out_of_scope": len(self.out_of_scope),
            "answers": len(self.answers),
            "answer_precision": round(self.answer_precision, 4),
            "answer_recall": round(self.answer_recall, 4),
            "top3_recall": round(self.top3_recall, 4),
            "false_answer_rate": round(self.false_answer_rate, 4),
        }


def index_from_rows(*, rows: list[EntryRow], embedder: Embedder | None) -> MatcherIndex:
    entries = [
        IndexedEntry(
            entry_id=number,
            question=row.question,
            answer=row.answer,
            phrasings=(row.question, *row.alternatives),
        )
        for number, row in enumerate(rows, start=1)
    ]
    if embedder is None:
        return MatcherIndex.build(entries=entries)
    return MatcherIndex.build(
        entries=entries,
        backend_id=embedder.backend_id,
        calibration=calibration_for(embedder.backend_id),
        vectors=vectors_compute(embedder=embedder, entries=entries),
    )


def query_matrix(*, index: MatcherIndex, embedder: Embedder | None, texts: list[str]):
    if embedder is None or index.semantic is None:
        return None
    return query_vectors(embedder, texts)


def evaluation_run(
    *,
    rows: list[EntryRow],
    queries: list[EvalQuery],
    thresholds: Thresholds,
    embedder: Embedder | None,
) -> EvalReport:
    known = {row.question for row in rows}
    unknown = sorted({q.expected for q in queries if q.expected and q.expected not in known})
    if unknown:
        raise ValueError(f"expected questions not in the entries file: {unknown[:5]}")
    index = index_from_rows(rows=rows, embedder=embedder)
    vectors: np.ndarray | None = query_matrix(
        index=index, embedder=embedder, texts=[q.query for q in queries]
    )
    report = EvalReport(tiers=index.tiers, thresholds=thresholds)
    for position, query in enumerate(queries):
        result = index.match(
            text=query.query,
            thresholds=thresholds,
            query_vector=None if vectors is None else vectors[position],
        )
        report.outcomes.append(QueryOutcome(query.query, query.expected, result))
    return report
