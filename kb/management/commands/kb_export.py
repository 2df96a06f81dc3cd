import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from kb.csv_io import entry_rows_write
from kb.management.commands._site import site_resolve
from kb.selectors import entries_export_rows


class Command(BaseCommand):
    help = "Export a site's knowledge base as CSV (question,answer,alternatives) for kb_import."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", nargs="?", type=Path, help="Output file (default: stdout).")
        parser.add_argument("--site", help="Site public key or id (default: the first site).")

    def handle(self, *args, file: Path | None, site: str | None, **options) -> None:
        rows = entries_export_rows(site=site_resolve(site))
        if file is None:
            entry_rows_write(rows, sys.stdout)
            return
        with file.open("w", encoding="utf-8", newline="") as out:
            count = entry_rows_write(rows, out)
        self.stderr.write(f"{count} entries written to {file}")
