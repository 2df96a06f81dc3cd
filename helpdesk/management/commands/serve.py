"""One command for the whole product on a laptop: migrate, demo data, web server, demo pages."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from helpdesk.demo.second_origin import second_origin_start


class Command(BaseCommand):
    help = (
        "Apply migrations, create the demo data (idempotent) and serve the helpdesk (HTTP + "
        "WebSockets through daphne) on 127.0.0.1:8000, with the demo shop on a second origin "
        "(127.0.0.1:8001) that embeds the widget cross-origin."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--demo-port", type=int, default=8001, help="Second-origin demo page (0: none)."
        )
        parser.add_argument(
            "--fake-llm",
            action="store_true",
            help="Start the bundled test LLM server and stream replies from it (no API key).",
        )
        parser.add_argument("--reload", action="store_true", help="Restart on code changes.")

    def handle(
        self, *args, host: str, port: int, demo_port: int, fake_llm: bool, reload: bool, **options
    ) -> None:
        base = f"http://{host}:{port}"
        origins = [base] + ([f"http://{host}:{demo_port}"] if demo_port else [])
        call_command("compile_translations")
        call_command("migrate", interactive=False, verbosity=1)
        call_command("seed_demo", origin=origins)
        if demo_port:
            second_origin_start(host=host, port=demo_port, widget_base=base)
            self.stdout.write(f"Demo shop on a second origin: http://{host}:{demo_port}/")
        if fake_llm:
            from conversations.fake_llm import FakeLLMServer

            server = FakeLLMServer(host="127.0.0.1", port=0).start()
            server.configure(ttft=0.4, tokens_per_second=25)
            settings.OPENAI_BASE_URL = server.base_url
            self.stdout.write(f"Test LLM server (streams canned replies): {server.base_url}")
        elif not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
            self.stdout.write(
                "No OPENAI_API_KEY / OPENAI_BASE_URL: the bot answers from the knowledge base and "
                "hands other questions to humans. Add --fake-llm to watch streamed replies."
            )
        self.stdout.write(self.style.SUCCESS(f"Helpdesk: {base}/  (admin: {base}/admin/)"))
        call_command("runserver", f"{host}:{port}", use_reloader=reload)
