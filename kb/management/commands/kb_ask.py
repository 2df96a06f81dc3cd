import json
import sys

from django.core.management.base import BaseCommand

from kb.ask import ask_many
from kb.embeddings import embedder_status, embedder_use_all_cores
from kb.management.commands._site import site_resolve

STDIN_BATCH = 64


class Command(BaseCommand):
    help = (
        "Print the knowledge-base routing decision (answer / ground / none / blocked) for each "
        "query, without calling any LLM. With no QUERY, reads one query a line from stdin."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("query", nargs="*")
        parser.add_argument("--site", help="Site public key or id (default: the first site).")
        parser.add_argument("--json", action="store_true", help="One JSON object a line.")

    def handle(self, *args, query: list[str], site: str | None, json: bool, **options) -> None:
        embedder_use_all_cores()
        target = site_resolve(site)
        self.stderr.write(f"site {target.public_key}: {embedder_status()}")
        if query:
            self._print(ask_many(site=target, texts=query), as_json=json)
            return
        if sys.stdin.isatty():
            for line in sys.stdin:
                if line.strip():
                    self._print(ask_many(site=target, texts=[line.strip()]), as_json=json)
            return
        # Piped input: batches share one embedding call.
        batch: list[str] = []
        for line in sys.stdin:
            if line.strip():
                batch.append(line.strip())
            if len(batch) >= STDIN_BATCH:
                self._print(ask_many(site=target, texts=batch), as_json=json)
                batch = []
        if batch:
            self._print(ask_many(site=target, texts=batch), as_json=json)

    def _print(self, answers: list[dict], *, as_json: bool) -> None:
        for answer in answers:
            if as_json:
                self.stdout.write(json.dumps(answer, ensure_ascii=False))
                continue
            line = f"{answer['decision']:<7} {answer['score']:6.1f}  {answer['query']}"
            if answer["entry"]:
                line += f"  ->  {answer['entry']}"
            self.stdout.write(line)
        self.stdout.flush()
