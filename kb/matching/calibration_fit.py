"""Refit the semantic tier's calibration from labelled queries (`manage.py kb_calibrate`).

One sample per query: the features (kb.matching.core.DecisionFeatures) of the
entry ranked first, labelled by whether it is the expected one (an
out-of-scope query's first entry is always wrong). An L2-regularised logistic
regression maps them to the probability that answering is right.

The answer threshold is the part most easily overfitted: picked on the same
queries the weights were fitted on, it looks better than it is. So it is
chosen on out-of-fold probabilities of a k-fold cross-validation whose folds
are grouped by entry (all paraphrases of one entry, and the near-misses
ranked under it, fall in the same fold), repeated with several shuffles: the
lowest threshold whose out-of-fold answers keep the precision target. The
bias is then shifted so that this threshold reads as `operating_threshold`
(85, the Site's default `kb_match_threshold`), so existing sites keep their
setting.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from kb.csv_io import EntryRow, EvalQuery
from kb.embeddings import Embedder, query_vectors
from kb.evaluation import index_from_rows
from kb.matching.calibration import Calibration
from kb.text import tokenize_for_matching

FEATURES = ("cosine", "z", "cosine_z", "lexical")
_WEIGHT_FIELD = {
    "cosine": "weight_cosine",
    "z": "weight_z",
    "cosine_z": "weight_cosine_z",
    "lexical": "weight_lexical",
}


@dataclass(frozen=True)
class DecisionSamples:
    features: np.ndarray  # (queries, len(FEATURES))
    right: np.ndarray  # the first-ranked entry is the expected one
    in_scope: np.ndarray
    group: np.ndarray  # the expected entry, or the first-ranked one for out-of-scope queries


@dataclass(frozen=True)
class CalibrationFit:
    calibration: Calibration
    features: tuple[str, ...]
    # Out-of-fold figures at the chosen threshold: what to expect on unseen queries.
    cv_precision: float
    cv_recall: float
    cv_false_answer_rate: float
    threshold_probability: float
    # With several sets: per set, the figures of a fit on the other sets only
    # (weights and threshold), i.e. what a knowledge base of a new domain can expect.
    held_out: tuple["HeldOutFigures", ...] = ()


@dataclass(frozen=True)
class HeldOutFigures:
    name: str
    precision: float
    recall: float
    false_answer_rate: float


@dataclass(frozen=True)
class LabelledSet:
    """One knowledge base and its labelled queries (a kb_eval pair of files)."""

    name: str
    rows: list[EntryRow]
    queries: list[EvalQuery]


def decision_samples(
    *, rows: list[EntryRow], queries: list[EvalQuery], embedder: Embedder, base: Calibration
) -> DecisionSamples:
    index = index_from_rows(rows=rows, embedder=embedder)
    # index_from_rows picks the backend's calibration; rank with the one being refitted.
    assert index.semantic is not None
    index.semantic.calibration = base
    vectors = query_vectors(embedder, [q.query for q in queries])
    positions = {entry.question: p for p, entry in enumerate(index.entries)}
    features, right, in_scope, group = [], [], [], []
    for query, vector in zip(queries, vectors, strict=True):
        lexical = index.lexical_scores(tokenize_for_matching(query.query))
        found = index.decision_features(lexical, vector)
        first = int(np.argmax(found.relevance))
        features.append(
            [found.cosine[first], found.z[first], found.cosine_z[first], found.lexical[first]]
        )
        expected = positions.get(query.expected, -1) if query.expected else -1
        right.append(first == expected)
        in_scope.append(bool(query.expected))
        group.append(expected if expected >= 0 else first)
    return DecisionSamples(
        features=np.array(features, dtype=np.float64),
        right=np.array(right, dtype=bool),
        in_scope=np.array(in_scope, dtype=bool),
        group=np.array(group, dtype=np.int64),
    )


def samples_concatenate(parts: list[DecisionSamples]) -> DecisionSamples:
    """Pool several sets; groups stay apart (entry 3 of one set is not entry 3 of another)."""
    offset, groups = 0, []
    for part in parts:
        groups.append(part.group + offset)
        offset += int(part.group.max()) + 1 if len(part.group) else 0
    return DecisionSamples(
        features=np.concatenate([p.features for p in parts]),
        right=np.concatenate([p.right for p in parts]),
        in_scope=np.concatenate([p.in_scope for p in parts]),
        group=np.concatenate(groups),
    )


def _figures(answered: np.ndarray, samples: DecisionSamples) -> tuple[float, float, float]:
    precision = float(samples.right[answered].mean()) if answered.any() else 1.0
    recall = float((answered & samples.right & samples.in_scope).sum()) / max(
        int(samples.in_scope.sum()), 1
    )
    false_answers = float((answered & ~samples.in_scope).sum()) / max(
        int((~samples.in_scope).sum()), 1
    )
    return precision, recall, false_answers


def logistic_fit(features: np.ndarray, labels: np.ndarray, *, l2: float) -> np.ndarray:
    """[bias, weights...] by Newton's method; the penalty spares the bias."""
    design = np.hstack([np.ones((len(features), 1)), features])
    coefficients = np.zeros(design.shape[1])
    penalty = l2 * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(100):
        probability = 1.0 / (1.0 + np.exp(-np.clip(design @ coefficients, -30, 30)))
        gradient = design.T @ (probability - labels) + penalty @ coefficients
        hessian = design.T @ (design * (probability * (1 - probability))[:, None]) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(coefficients)), gradient)
        coefficients -= step
        if np.abs(step).max() < 1e-9:
            break
    return coefficients


def _standardised_fit(features: np.ndarray, labels: np.ndarray, *, l2: float):
    """Fit on standardised columns (so one penalty suits them all); return raw-space weights."""
    mean, scale = features.mean(0), features.std(0) + 1e-9
    coefficients = logistic_fit((features - mean) / scale, labels.astype(np.float64), l2=l2)
    weights = coefficients[1:] / scale
    return coefficients[0] - float(mean @ weights), weights


def out_of_fold_probabilities(
    samples: DecisionSamples, columns: list[int], *, l2: float, folds: int, repeats: int
) -> np.ndarray:
    features = samples.features[:, columns]
    total = np.zeros(len(features))
    for seed in range(repeats):
        groups = np.unique(samples.group)
        np.random.default_rng(seed).shuffle(groups)
        fold_of = {int(g): i % folds for i, g in enumerate(groups)}
        fold = np.array([fold_of[int(g)] for g in samples.group])
        for held in range(folds):
            train, test = fold != held, fold == held
            bias, weights = _standardised_fit(features[train], samples.right[train], l2=l2)
            total[test] += 1.0 / (1.0 + np.exp(-(bias + features[test] @ weights)))
    return total / repeats


def lowest_precise_threshold(
    probability: np.ndarray, right: np.ndarray, *, target: float, min_answers: int = 5
) -> float:
    """The lowest cut whose answers (probability >= cut) are right at least `target` of the time."""
    order = np.argsort(-probability, kind="stable")
    chosen = 1.0
    hits = 0
    for count, position in enumerate(order, start=1):
        hits += int(right[position])
        if count >= min_answers and hits / count >= target:
            chosen = float(probability[position])
    return chosen


def _probability(bias: float, weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(bias + features @ weights, -50, 50)))


def _threshold_and_weights(
    samples: DecisionSamples,
    columns: list[int],
    *,
    l2: float,
    folds: int,
    repeats: int,
    precision_target: float,
) -> tuple[float, np.ndarray, float, np.ndarray]:
    """Out-of-fold threshold, out-of-fold probabilities, and the weights fitted on everything."""
    out_of_fold = out_of_fold_probabilities(samples, columns, l2=l2, folds=folds, repeats=repeats)
    threshold = lowest_precise_threshold(out_of_fold, samples.right, target=precision_target)
    bias, weights = _standardised_fit(samples.features[:, columns], samples.right, l2=l2)
    return threshold, out_of_fold, bias, weights


def calibration_fit(
    *,
    sets: list[LabelledSet],
    embedder: Embedder,
    base: Calibration,
    features: tuple[str, ...] = FEATURES,
    l2: float = 1.0,
    folds: int = 8,
    repeats: int = 10,
    precision_target: float = 0.97,
    operating_threshold: float = 85.0,
) -> CalibrationFit:
    """Fit on every set pooled; with several sets, also report each set held out."""
    unknown = set(features) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown features: {sorted(unknown)}; known: {', '.join(FEATURES)}")
    parts = [
        decision_samples(rows=s.rows, queries=s.queries, embedder=embedder, base=base) for s in sets
    ]
    samples = samples_concatenate(parts)
    if samples.right.all() or not samples.right.any():
        raise ValueError("need queries whose first-ranked entry is right and some where it is not")
    columns = [FEATURES.index(name) for name in features]
    options = {"l2": l2, "folds": folds, "repeats": repeats, "precision_target": precision_target}
    threshold, out_of_fold, bias, weights = _threshold_and_weights(samples, columns, **options)
    cv_precision, cv_recall, cv_false = _figures(out_of_fold >= threshold, samples)

    held_out = []
    if len(sets) > 1:
        for position, labelled in enumerate(sets):
            rest = samples_concatenate([p for i, p in enumerate(parts) if i != position])
            cut, _, rest_bias, rest_weights = _threshold_and_weights(rest, columns, **options)
            part = parts[position]
            answered = _probability(rest_bias, rest_weights, part.features[:, columns]) >= cut
            held_out.append(HeldOutFigures(labelled.name, *_figures(answered, part)))

    def logit(probability: float) -> float:
        probability = min(max(probability, 1e-6), 1 - 1e-6)
        return math.log(probability / (1 - probability))

    shift = logit(operating_threshold / 100.0) - logit(threshold)
    fitted = {field: 0.0 for field in _WEIGHT_FIELD.values()}
    fitted.update(
        {_WEIGHT_FIELD[name]: round(float(w), 3) for name, w in zip(features, weights, strict=True)}
    )
    calibration = replace(base, bias=round(float(bias + shift), 3), **fitted)
    return CalibrationFit(
        calibration=calibration,
        features=features,
        cv_precision=cv_precision,
        cv_recall=cv_recall,
        cv_false_answer_rate=cv_false,
        threshold_probability=threshold,
        held_out=tuple(held_out),
    )
