"""Refitting the semantic tier's calibration: the fit, the threshold, and the shipped numbers."""

from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from kb.csv_io import entry_rows_parse, eval_queries_parse
from kb.matching.calibration import E5_SMALL
from kb.matching.calibration_fit import (
    LabelledSet,
    calibration_fit,
    logistic_fit,
    lowest_precise_threshold,
)

DATA = Path(__file__).resolve().parents[2] / "data"
ENTRIES = DATA / "kb_eval_entries.csv"
QUERIES = DATA / "kb_eval_queries.csv"


def labelled(name: str, *, limit: int | None = None) -> LabelledSet:
    return LabelledSet(
        name=name,
        rows=entry_rows_parse((DATA / f"{name}_entries.csv").read_text("utf-8"))[:limit],
        queries=eval_queries_parse((DATA / f"{name}_queries.csv").read_text("utf-8"))[:limit],
    )


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


SIX_SETS = ("kb_eval", "kb_holdout", "kb_travel", "kb_food", "kb_telecom", "kb_courses")


def test_refitting_on_the_six_sets_gives_the_shipped_calibration(semantic):
    fit = calibration_fit(
        sets=[labelled(name) for name in SIX_SETS], embedder=semantic, base=E5_SMALL
    )
    shipped, fitted = E5_SMALL, fit.calibration
    # The embedding engine's float arithmetic differs a little between CPUs: the
    # refit moves by a fraction of a percent, not more.
    for name in ("bias", "weight_cosine"):
        assert getattr(fitted, name) == pytest.approx(getattr(shipped, name), rel=0.01), name
    for name in ("weight_z", "weight_cosine_z", "weight_lexical"):
        assert getattr(fitted, name) == pytest.approx(getattr(shipped, name), abs=0.1), name
    assert fit.cv_precision >= 0.97
    assert fit.cv_false_answer_rate <= 0.03
    # Each set judged by a fit on the other five: what a new domain can expect. Few
    # answers, and rarely a wrong one (kb_telecom 1 of 3, kb_courses 2 of 3).
    assert [held.name for held in fit.held_out] == list(SIX_SETS)
    assert sum(held.precision >= 0.97 for held in fit.held_out) >= 4
    for held in fit.held_out:
        assert held.false_answer_rate <= 0.05, held


def test_unknown_features_are_refused(semantic):
    with pytest.raises(ValueError, match="unknown features"):
        calibration_fit(
            sets=[labelled("kb_eval", limit=5)],
            embedder=semantic,
            base=E5_SMALL,
            features=("colour",),
        )


def test_several_sets_are_pooled_and_each_is_judged_by_a_fit_without_it(semantic, capsys):
    call_command(
        "kb_calibrate",
        str(ENTRIES),
        str(QUERIES),
        str(DATA / "kb_holdout_entries.csv"),
        str(DATA / "kb_holdout_queries.csv"),
        "--folds",
        "4",
    )
    out = capsys.readouterr().out
    assert "fitted without kb_eval_entries.csv, on it: precision" in out
    assert "fitted without kb_holdout_entries.csv, on it: precision" in out


def test_files_must_come_in_pairs(semantic):
    with pytest.raises(CommandError, match="in pairs"):
        call_command("kb_calibrate", str(ENTRIES))


def test_kb_calibrate_prints_the_calibration_and_cross_validated_figures(semantic, capsys):
    call_command("kb_calibrate", str(ENTRIES), str(QUERIES), "--features", "cosine,z,lexical")
    out = capsys.readouterr().out
    assert "cross-validated at answer threshold 85: precision 0.9" in out
    assert "Calibration(" in out and "weight_cosine_z=0.0" in out


def test_kb_calibrate_needs_the_semantic_tier(lexical_only):
    with pytest.raises(CommandError, match="no embeddings backend"):
        call_command("kb_calibrate", str(ENTRIES), str(QUERIES))
