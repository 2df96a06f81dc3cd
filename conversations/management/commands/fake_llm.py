"""``manage.py fake_llm``: the fake OpenAI-compatible LLM server, for local development."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.fake_llm import ConfigError
from conversations.fake_llm.cli import add_arguments, config_from_options, log_requests, serve


class Command(BaseCommand):
    help = (
        "Serve a fake OpenAI-compatible LLM (chat completions, embeddings) with fault modes; "
        "same options as `python -m conversations.fake_llm`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = config_from_options(options)
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        log_requests(options["quiet"])

        def announce(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            serve(options["host"], options["port"], config, announce)
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
