from django.core.management.base import BaseCommand

from helpdesk.demo import demo_data_ensure


class Command(BaseCommand):
    help = "Create the demo site, bilingual knowledge base, sensitive words and an admin agent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", help="Password for a newly created admin user.")
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="Also allow this origin to embed the demo.",
        )

    def handle(self, *args, password: str | None = None, origin: list[str], **options) -> None:
        demo = demo_data_ensure(admin_password=password, extra_origins=origin)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo site '{demo.site.name}' (widget key: {demo.site.public_key}); "
                f"{demo.entries_created} new KB entries; "
                f"{demo.site.kb_entries.count()} in total."
            )
        )
        self.stdout.write(f"Admin / agent login: {demo.admin_username} / {demo.admin_password}")
