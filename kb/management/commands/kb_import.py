from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kb.csv_io import CSVRowsInvalid, csv_text_decode, entry_rows_parse
from kb.embeddings import embedder_use_all_cores
from kb.management.commands._site import site_resolve
from kb.services import entries_import


class Command(BaseCommand):
    help = (
        "Import knowledge-base entries from a UTF-8 CSV with columns question,answer,alternatives "
        "(alternatives separated by ' | '), upserting by question. Nothing is written if any "
        "row is bad."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--site", help="Site public key or id (default: the first site).")

    def handle(self, *args, file: Path, site: str | None, **options) -> None:
        embedder_use_all_cores()
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            rows = entry_rows_parse(csv_text_decode(data))
        except CSVRowsInvalid as exc:
            for error in exc.errors:
                self.stderr.write(f"{file}:{error.line}: {error.message}")
            raise CommandError(f"{len(exc.errors)} bad rows; nothing imported") from exc
        target = site_resolve(site)
        summary = entries_import(site=target, rows=rows)
        self.stdout.write(
            f"{target.name} ({target.public_key}): {summary.created} created, "
            f"{summary.updated} updated, {summary.unchanged} unchanged"
        )
