"""One command for the whole product on a laptop: migrate, demo data, web server."""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Apply migrations, create the demo data (idempotent) and serve the helpdesk "
        "(HTTP + WebSockets through daphne) on 127.0.0.1:8000."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--noreload", action="store_true", help="Disable the auto-reloader.")

    def handle(self, *args, addrport: str, noreload: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=1)
        call_command("seed_demo")
        self.stdout.write(self.style.SUCCESS(f"Helpdesk: http://{addrport}/  (admin: /admin/)"))
        call_command("runserver", addrport, use_reloader=not noreload)
