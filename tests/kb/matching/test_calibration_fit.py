"""Refitting the semantic tier's calibration: the fit, the threshold, and the shipped numbers."""

from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from kb.csv_io import entry_rows_parse, eval_queries_parse
from kb.matching.calibration import E5_SMALL
from kb.matching.calibration_fit import (
    calibration_fit,
    logistic_fit,
    lowest_precise_threshold,
)

DATA = Path(__file__).resolve().parents[2] / "data"
ENTRIES = DATA / "kb_eval_entries.csv"
QUERIES = DATA / "kb_eval_queries.csv"


def test_logistic_fit_finds_the_direction_that_separates_the_labels():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(400, 2))
    labels = (features[:, 0] - 0.5 * features[:, 1] + rng.normal(scale=0.3, size=400)) > 0
    coefficients = logistic_fit(features, labels.astype(float), l2=1.0)
    assert coefficients[1] > 0 > coefficients[2]
    assert coefficients[1] > 2 * abs(coefficients[2]) * 0.8


def test_a_stronger_penalty_shrinks_the_weights():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(200, 1))
    labels = (features[:, 0] + rng.normal(scale=0.5, size=200)) > 0
    loose = logistic_fit(features, labels.astype(float), l2=0.1)
    tight = logistic_fit(features, labels.astype(float), l2=100.0)
    assert abs(tight[1]) < abs(loose[1])


def test_the_threshold_is_the_lowest_that_keeps_the_precision_target():
    probability = np.array([0.99, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5])
    right = np.array([True, True, True, True, True, False, True, False])
    assert lowest_precise_threshold(probability, right, target=0.97) == 0.8
    assert lowest_precise_threshold(probability, right, target=0.85) == 0.6
    # Nothing reaches the target: answer nothing rather than something wrong.
    assert lowest_precise_threshold(probability, ~right, target=0.97) == 1.0


def test_refitting_on_the_evaluation_set_gives_the_shipped_calibration(semantic):
    rows = entry_rows_parse(ENTRIES.read_text("utf-8"))
    queries = eval_queries_parse(QUERIES.read_text("utf-8"))
    fit = calibration_fit(rows=rows, queries=queries, embedder=semantic, base=E5_SMALL)
    shipped, fitted = E5_SMALL, fit.calibration
    for name in ("bias", "weight_cosine", "weight_z", "weight_cosine_z", "weight_lexical"):
        assert getattr(fitted, name) == pytest.approx(getattr(shipped, name), abs=0.05), name
    assert fit.cv_precision >= 0.97
    assert fit.cv_false_answer_rate <= 0.03
    assert fit.cv_recall > 0.5


def test_unknown_features_are_refused(semantic):
    rows = entry_rows_parse(ENTRIES.read_text("utf-8"))[:5]
    queries = eval_queries_parse(QUERIES.read_text("utf-8"))[:5]
    with pytest.raises(ValueError, match="unknown features"):
        calibration_fit(
            rows=rows, queries=queries, embedder=semantic, base=E5_SMALL, features=("colour",)
        )


def test_kb_calibrate_prints_the_calibration_and_cross_validated_figures(semantic, capsys):
    call_command("kb_calibrate", str(ENTRIES), str(QUERIES), "--features", "cosine,z,lexical")
    out = capsys.readouterr().out
    assert "cross-validated at answer threshold 85: precision 0.9" in out
    assert "Calibration(" in out and "weight_cosine_z=0.0" in out


def test_kb_calibrate_needs_the_semantic_tier(lexical_only):
    with pytest.raises(CommandError, match="no embeddings backend"):
        call_command("kb_calibrate", str(ENTRIES), str(QUERIES))
