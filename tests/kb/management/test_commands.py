import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from helpdesk.models import Site
from kb.models import Entry
from tests.factories import EntryFactory, SensitiveWordFactory, SiteFactory

pytestmark = pytest.mark.django_db
DATA = Path(__file__).resolve().parents[2] / "data"


def run(*args, stdin: str | None = None, monkeypatch=None) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_import_creates_the_first_site_when_there_is_none(lexical_only, tmp_path):
    path = tmp_path / "kb.csv"
    path.write_text("question,answer,alternatives\nQ1?,A1,x | y\n", encoding="utf-8")
    output = run("kb_import", str(path))
    site = Site.objects.get()
    assert "1 created" in output
    assert Entry.objects.get(site=site).alternative_list == ["x", "y"]


def test_import_into_a_named_site_and_export_round_trips(lexical_only, tmp_path):
    SiteFactory()
    site = SiteFactory(public_key="shop")
    run("kb_import", str(DATA / "kb_eval_entries.csv"), "--site", "shop")
    assert Entry.objects.filter(site=site).count() == 48
    exported = tmp_path / "out.csv"
    call_command("kb_export", str(exported), "--site", "shop", stderr=io.StringIO())
    original = (DATA / "kb_eval_entries.csv").read_text("utf-8").splitlines()
    assert sorted(exported.read_text("utf-8").splitlines()) == sorted(original)


def test_bad_rows_abort_the_whole_import(lexical_only, tmp_path):
    site = SiteFactory()
    path = tmp_path / "bad.csv"
    path.write_text("question,answer\nFine?,yes\n,no question\nAlso fine?,yes\n", "utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 bad rows; nothing imported"):
        call_command("kb_import", str(path), "--site", site.public_key, stderr=err)
    assert ":3: the question is empty" in err.getvalue()
    assert not Entry.objects.exists()


def test_unknown_site_is_an_error(lexical_only, tmp_path):
    with pytest.raises(CommandError, match="no site"):
        call_command("kb_export", "--site", "nope", stdout=io.StringIO())


def test_ask_json_from_stdin(lexical_only, monkeypatch, django_capture_on_commit_callbacks):
    site = SiteFactory(public_key="shop")
    with django_capture_on_commit_callbacks(execute=True):
        EntryFactory(site=site, question="How long does shipping take?")
        SensitiveWordFactory(word="lawsuit", action="escalate")
    output = run(
        "kb_ask",
        "--site",
        "shop",
        "--json",
        stdin="how long does shipping take\n\nI will file a lawsuit\nqwerty zzz\n",
        monkeypatch=monkeypatch,
    )
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["decision"] for line in lines] == ["answer", "blocked", "none"]
    first = lines[0]
    assert set(first) == {"query", "decision", "entry", "score", "candidates"}
    assert first["entry"] == "How long does shipping take?"
    assert first["candidates"][0] == {"entry": first["entry"], "score": first["score"]}
    assert lines[1]["entry"] is None and lines[2]["entry"] is None


def test_ask_plain_text_arguments(lexical_only):
    site = SiteFactory()
    EntryFactory(site=site, question="What is your return policy?")
    output = run("kb_ask", "what is your return policy")
    assert output.startswith("answer") and "What is your return policy?" in output


def test_eval_reports_the_four_figures(lexical_only):
    output = run(
        "kb_eval", str(DATA / "kb_eval_entries.csv"), str(DATA / "kb_eval_queries.csv"), "--json"
    )
    figures = json.loads(output)
    assert figures["tiers"] == "lexical"
    assert figures["in_scope"] == 144 and figures["out_of_scope"] == 58
    for name in ("answer_precision", "answer_recall", "top3_recall", "false_answer_rate"):
        assert 0.0 <= figures[name] <= 1.0


def test_eval_refuses_unknown_expected_questions(tmp_path):
    entries = tmp_path / "e.csv"
    entries.write_text("question,answer\nQ?,A\n", "utf-8")
    queries = tmp_path / "q.csv"
    queries.write_text("query,expected_question\nhello,Other?\n", "utf-8")
    with pytest.raises(CommandError, match="not in the entries file"):
        call_command("kb_eval", str(entries), str(queries), stdout=io.StringIO())
