import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kb.csv_io import CSVRowsInvalid, csv_text_decode, entry_rows_parse, eval_queries_parse
from kb.embeddings import embedder_get, embedder_status, embedder_use_all_cores
from kb.evaluation import evaluation_run
from kb.matching import Thresholds
from kb.selectors import site_by_key


class Command(BaseCommand):
    help = (
        "Evaluate the matcher: ENTRIES.csv (question,answer,alternatives) and QUERIES.csv "
        "(query,expected_question; empty = should not match). Prints answer precision and "
        "recall, top-3 recall for grounding and the out-of-scope false-answer rate."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("entries", type=Path)
        parser.add_argument("queries", type=Path)
        parser.add_argument("--site", help="Take the thresholds from this site (key or id).")
        parser.add_argument("--answer-threshold", type=float)
        parser.add_argument("--ground-threshold", type=float)
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
        parser.add_argument(
            "--misses", action="store_true", help="List wrong answers and missed queries."
        )

    def handle(self, *args, **options) -> None:
        embedder_use_all_cores()
        try:
            rows = entry_rows_parse(csv_text_decode(options["entries"].read_bytes()))
            queries = eval_queries_parse(csv_text_decode(options["queries"].read_bytes()))
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        except CSVRowsInvalid as exc:
            raise CommandError(str(exc)) from exc
        thresholds = Thresholds()
        if options["site"]:
            site = site_by_key(key=options["site"])
            if site is None:
                raise CommandError(f"no site {options['site']!r}")
            thresholds = Thresholds(site.kb_match_threshold, site.kb_ground_threshold)
        thresholds = Thresholds(
            options["answer_threshold"]
            if options["answer_threshold"] is not None
            else thresholds.answer,
            options["ground_threshold"]
            if options["ground_threshold"] is not None
            else thresholds.ground,
        )
        try:
            report = evaluation_run(
                rows=rows, queries=queries, thresholds=thresholds, embedder=embedder_get()
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        figures = report.figures()
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            self.stdout.write(
                f"{embedder_status()}; thresholds answer={thresholds.answer} "
                f"ground={thresholds.ground}"
            )
            self.stdout.write(
                f"{figures['queries']} queries: {figures['in_scope']} in scope, "
                f"{figures['out_of_scope']} out of scope; {figures['answers']} answered"
            )
            self.stdout.write(f"answer precision     {report.answer_precision:.3f}")
            self.stdout.write(f"answer recall        {report.answer_recall:.3f}")
            self.stdout.write(f"top-3 recall         {report.top3_recall:.3f}")
            self.stdout.write(f"false-answer rate    {report.false_answer_rate:.3f}")
        if options["misses"]:
            for outcome in report.outcomes:
                best = outcome.result.best
                wrong = outcome.result.decision == "answer" and not outcome.answered_right
                missed = outcome.in_scope and not outcome.handed_on
                if wrong or missed:
                    label = "WRONG " if wrong else "MISSED"
                    self.stdout.write(
                        f"{label} {outcome.query!r} -> {best.question if best else None!r} "
                        f"(expected {outcome.expected or 'no match'!r})"
                    )
