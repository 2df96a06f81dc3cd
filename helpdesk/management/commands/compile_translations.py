"""Compile the committed .po catalogues into the .mo files Django reads.

Django's own compilemessages needs GNU gettext's msgfmt, which neither a laptop
with only Python nor the slim Docker image has; polib writes the same files.
"""

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


def translations_compile(*, force: bool = False) -> list[Path]:
    """Write every catalogue's .mo when missing or older than its .po; returns those written."""
    written: list[Path] = []
    for root in settings.LOCALE_PATHS:
        for po_path in sorted(Path(root).glob("*/LC_MESSAGES/*.po")):
            mo_path = po_path.with_suffix(".mo")
            if (
                not force
                and mo_path.exists()
                and mo_path.stat().st_mtime >= po_path.stat().st_mtime
            ):
                continue
            polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
            written.append(mo_path)
    return written


class Command(BaseCommand):
    help = "Compile the translation catalogues (.po -> .mo) without GNU gettext."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="Rewrite up-to-date files too.")

    def handle(self, *args, force: bool, **options) -> None:
        written = translations_compile(force=force)
        for path in written:
            self.stdout.write(f"compiled {path}")
        if not written:
            self.stdout.write("translations up to date")
