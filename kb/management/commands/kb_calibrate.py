from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kb.csv_io import CSVRowsInvalid, csv_text_decode, entry_rows_parse, eval_queries_parse
from kb.embeddings import embedder_get, embedder_use_all_cores
from kb.matching.calibration import calibration_for
from kb.matching.calibration_fit import FEATURES, LabelledSet, calibration_fit


class Command(BaseCommand):
    help = (
        "Refit the semantic tier's confidence (a logistic regression) on one or more pairs "
        "ENTRIES.csv QUERIES.csv (the kb_eval files; several pairs are pooled), choosing the "
        "answer threshold by cross-validation grouped by entry. Prints the Calibration to put "
        "in kb/matching/calibration.py, the cross-validated figures to expect and, with "
        "several pairs, each pair's figures when the fit never saw it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "files",
            type=Path,
            nargs="+",
            metavar="ENTRIES.csv QUERIES.csv",
            help="One or more pairs: a knowledge base and its labelled queries.",
        )
        parser.add_argument(
            "--features",
            default=",".join(FEATURES),
            help=f"Comma-separated, from {', '.join(FEATURES)} (default: all).",
        )
        parser.add_argument("--l2", type=float, default=1.0, help="Ridge penalty (default 1).")
        parser.add_argument("--folds", type=int, default=8)
        parser.add_argument("--precision", type=float, default=0.97, help="Precision target.")

    def handle(self, *args, **options) -> None:
        embedder_use_all_cores()
        embedder = embedder_get()
        if embedder is None:
            raise CommandError("no embeddings backend: the lexical tier has nothing to calibrate")
        files: list[Path] = options["files"]
        if len(files) % 2:
            raise CommandError("give files in pairs: ENTRIES.csv QUERIES.csv [ENTRIES.csv ...]")
        sets = []
        for entries, queries in zip(files[::2], files[1::2], strict=True):
            try:
                sets.append(
                    LabelledSet(
                        name=entries.name,
                        rows=entry_rows_parse(csv_text_decode(entries.read_bytes())),
                        queries=eval_queries_parse(csv_text_decode(queries.read_bytes())),
                    )
                )
            except (OSError, CSVRowsInvalid) as exc:
                raise CommandError(f"{entries} / {queries}: {exc}") from exc
        features = tuple(name.strip() for name in options["features"].split(",") if name.strip())
        try:
            fit = calibration_fit(
                sets=sets,
                embedder=embedder,
                base=calibration_for(embedder.backend_id),
                features=features,
                l2=options["l2"],
                folds=options["folds"],
                precision_target=options["precision"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{embedder.backend_id}: features {', '.join(fit.features)}")
        self.stdout.write(
            f"cross-validated at answer threshold 85: precision {fit.cv_precision:.3f}, "
            f"recall {fit.cv_recall:.3f}, false-answer rate {fit.cv_false_answer_rate:.3f}"
        )
        for held in fit.held_out:
            self.stdout.write(
                f"fitted without {held.name}, on it: precision {held.precision:.3f}, "
                f"recall {held.recall:.3f}, false-answer rate {held.false_answer_rate:.3f}"
            )
        self.stdout.write(repr(fit.calibration))
