"""The matcher on in-memory indexes: the lexical tier alone, and with the semantic tier."""

from pathlib import Path

import pytest

from kb.csv_io import EntryRow, entry_rows_parse
from kb.evaluation import index_from_rows
from kb.matching.calibration import E5_SMALL
from kb.matching.core import IndexedEntry, MatcherIndex, Thresholds

DATA = Path(__file__).resolve().parents[2] / "data"

ENTRIES = [
    EntryRow(
        2,
        "How long does shipping take?",
        "Orders arrive in 3-5 business days.",
        ("When will my order arrive?",),
    ),
    EntryRow(
        3,
        "What is your return policy?",
        "Return unused items within 30 days.",
        ("Can I return an item?",),
    ),
    EntryRow(4, "How do I reset my password?", "Use 'Forgot password' on the sign-in page.", ()),
    EntryRow(5, "发货需要多长时间？", "订单会在1个工作日内发出。", ("多久能收到货",)),
    EntryRow(6, "How much does the UltraBook 14 weigh?", "It weighs 1.2 kg.", ()),
]
DEFAULT = Thresholds()


def lexical_index() -> MatcherIndex:
    return index_from_rows(rows=ENTRIES, embedder=None)


def test_lexical_answers_a_stored_phrasing_despite_case_punctuation_and_full_width():
    result = lexical_index().match(text="ＷＨＥＮ will my order arrive", thresholds=DEFAULT)
    assert result.decision == "answer"
    assert result.best.question == "How long does shipping take?"
    assert result.tiers == ("lexical",)


def test_lexical_handles_a_typo():
    result = lexical_index().match(text="how do i reset my pasword", thresholds=DEFAULT)
    assert result.decision == "answer" and result.best.question == "How do I reset my password?"


def test_lexical_scores_chinese_per_character():
    result = lexical_index().match(text="多久能收到货?", thresholds=DEFAULT)
    assert result.decision == "answer" and result.best.question == "发货需要多长时间？"


def test_lexical_grounds_or_gives_up():
    index = lexical_index()
    assert index.match(text="return", thresholds=DEFAULT).decision == "ground"
    assert index.match(text="zzzz qqqq", thresholds=DEFAULT).decision == "none"
    assert index.match(text=" ?! ", thresholds=DEFAULT).decision == "none"


def test_an_empty_index_matches_nothing():
    assert MatcherIndex.build(entries=[]).match(text="hello", thresholds=DEFAULT).decision == "none"


def test_thresholds_decide():
    index = lexical_index()
    text = "when will my order arrive"
    assert index.match(text=text, thresholds=Thresholds(answer=101, ground=0)).decision == "ground"


_EVAL_INDEX: dict[str, MatcherIndex] = {}


@pytest.fixture
def hybrid(semantic):
    # The semantic rule is calibrated on a KB of realistic size: the evaluation set's.
    # Embedding it takes seconds, so the index is built once for the module.
    if semantic.backend_id not in _EVAL_INDEX:
        rows = entry_rows_parse((DATA / "kb_eval_entries.csv").read_text("utf-8"))
        _EVAL_INDEX[semantic.backend_id] = index_from_rows(rows=rows, embedder=semantic)
    return _EVAL_INDEX[semantic.backend_id], semantic


def ask(hybrid, text):
    index, embedder = hybrid
    return index.match(text=text, thresholds=DEFAULT, query_vector=embedder.queries([text])[0])


def test_semantic_tier_answers_a_paraphrase_the_lexical_tier_cannot(hybrid):
    text = "you sent me the wrong thing"
    lexical = index_from_rows(
        rows=entry_rows_parse((DATA / "kb_eval_entries.csv").read_text("utf-8")), embedder=None
    )
    assert lexical.match(text=text, thresholds=DEFAULT).decision != "answer"
    result = ask(hybrid, text)
    assert result.tiers == ("lexical", "semantic")
    assert result.decision == "answer"
    assert result.best.question == "I received the wrong item"
    assert result.best.semantic is not None and result.best.relevance is not None


def test_near_miss_sharing_words_is_not_answered(hybrid):
    result = ask(hybrid, "what is the shipping weight of the laptop")
    assert result.decision != "answer"


def test_chinese_paraphrase_reaches_the_chinese_entry(hybrid):
    result = ask(hybrid, "今天下单什么时候能到")
    assert result.best.question == "发货需要多长时间？"
    assert result.decision in ("answer", "ground")


def test_grounding_candidates_are_at_most_three_and_clear_the_threshold(hybrid):
    result = ask(hybrid, "can i send back something i bought")
    assert result.decision in ("answer", "ground")
    assert 1 <= len(result.candidates) <= 3
    if result.decision == "ground":
        assert all(c.loose >= DEFAULT.ground for c in result.candidates)
    assert "What is your return policy?" in [c.question for c in result.candidates]


def test_entries_without_vectors_still_match_lexically(semantic):
    entries = [
        IndexedEntry(
            1,
            "How do I reset my password?",
            "Forgot password link.",
            ("How do I reset my password?",),
        )
    ]
    index = MatcherIndex.build(
        entries=entries,
        backend_id=semantic.backend_id,
        calibration=E5_SMALL,
        vectors={},
    )
    result = index.match(
        text="how do i reset my password",
        thresholds=DEFAULT,
        query_vector=semantic.queries(["how do i reset my password"])[0],
    )
    assert result.decision == "answer" and result.best.entry_id == 1
