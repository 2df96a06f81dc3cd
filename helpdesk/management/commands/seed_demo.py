from django.core.management.base import BaseCommand

from helpdesk.demo import demo_data_ensure


class Command(BaseCommand):
    help = "Create the demo site, bilingual knowledge base, sensitive words and an admin agent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", help="Password for a newly created admin user.")

    def handle(self, *args, password: str | None = None, **options) -> None:
        demo = demo_data_ensure(admin_password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo site '{demo.site.name}' (widget key: {demo.site.public_key}); "
                f"{demo.entries_created} new KB entries; "
                f"{demo.site.kb_entries.count()} in total."
            )
        )
        self.stdout.write(f"Admin / agent login: {demo.admin_username} / {demo.admin_password}")
