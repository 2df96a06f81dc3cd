import pytest

from kb.csv_io import CSVRowsInvalid, csv_text_decode, entry_rows_parse, eval_queries_parse


def test_rows_split_alternatives_and_strip():
    rows = entry_rows_parse(
        "\ufeffquestion,answer,alternatives\n"
        '"How long does shipping take?","3-5 days, usually.", When will it arrive? | 配送时间 |\n'
    )
    assert [(r.line, r.question, r.answer, r.alternatives) for r in rows] == [
        (
            2,
            "How long does shipping take?",
            "3-5 days, usually.",
            ("When will it arrive?", "配送时间"),
        )
    ]


def test_every_bad_row_is_reported_with_its_line():
    text = (
        "question,answer,alternatives\n"
        "Good?,Yes,\n"
        ",no question,\n"
        "No answer?,,\n"
        "Good?,again,\n"
        '"multi\nline?",fine,\n'
        "a,b,c,d\n"
    )
    with pytest.raises(CSVRowsInvalid) as caught:
        entry_rows_parse(text)
    assert [(e.line, e.message) for e in caught.value.errors] == [
        (3, "the question is empty"),
        (4, "the answer is empty"),
        (5, "the question repeats line 2"),
        (8, "4 columns, the header has 3"),
    ]


def test_header_must_name_question_and_answer():
    with pytest.raises(CSVRowsInvalid, match="missing answer"):
        entry_rows_parse("question,reply\nq,a\n")


def test_non_utf8_is_refused_with_its_line():
    with pytest.raises(CSVRowsInvalid) as caught:
        csv_text_decode("question,answer\nq,caf\xe9\n".encode("latin-1"))
    assert caught.value.errors[0].line == 2


def test_eval_queries_keep_empty_expectations():
    queries = eval_queries_parse("query,expected_question\nhi there,\nwhere is it,Track?\n")
    assert [(q.query, q.expected) for q in queries] == [("hi there", ""), ("where is it", "Track?")]
