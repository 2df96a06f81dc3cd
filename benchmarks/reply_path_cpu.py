"""CPU of one streamed LLM reply in the Celery worker, without the sockets.

The `stream` scenario (benchmarks/loadgen) measures the worker while the web
process, the load generator and the fake LLM share its two cores, and its
spread hides a change of a millisecond. This runs what the `stream_llm_reply`
task runs, from a thread through the process's replies loop as the task does,
with production settings against PostgreSQL, Redis and the fake LLM server: the
cancel subscription, the context read, the request, every delta's publishes,
the save and its events. Replies run `--concurrency` at a time; run it with two
reply lengths to split a reply's fixed cost from a token's:

    python -m benchmarks.reply_path_cpu [--replies 300] [--tokens 2] [--concurrency 1]

Prints the process's CPU per reply and its wall time. Needs DATABASE_URL (any
database on the server: a new one is created and dropped) and REDIS_URL.
"""

import argparse
import socket
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.fresh_database import CpuUsed, cpu_measured, run_in_fresh_database

ROOT = Path(__file__).resolve().parents[1]
ENTRIES_CSV = ROOT / "tests" / "data" / "kb_eval_entries.csv"
QUESTION = "does the 4k monitor {n} come with an hdmi cable in the box?"


def run(replies: int, concurrency: int) -> None:
    import django

    django.setup()
    from conversations import services
    from conversations.models import Conversation, Message, Visitor
    from conversations.replies import llm_reply_stream
    from conversations.replies.worker_loop import replies_loop_run
    from helpdesk.db_async import database_sync_to_async
    from helpdesk.models import Site
    from kb.csv_io import entry_rows_parse
    from kb.models import Entry
    from kb.services import entries_import

    site = Site.objects.create(name="Reply bench", bot_enabled=True)
    entries_import(site=site, rows=entry_rows_parse(ENTRIES_CSV.read_text(encoding="utf-8")))
    grounding = list(Entry.objects.filter(site=site).values_list("pk", flat=True)[:3])

    def prepared(number: int) -> tuple[int, str]:
        visitor = Visitor.objects.create(site=site, language="en")
        conversation = Conversation.objects.create(site=site, visitor=visitor)
        services.visitor_message_receive(
            visitor=visitor, client_id=uuid.uuid4().hex, text=QUESTION.format(n=number)
        )
        reply_id = services.reply_pending_begin(conversation_id=conversation.pk)
        assert reply_id is not None
        return conversation.pk, reply_id

    def stream(work: tuple[int, str]) -> float:
        # As the Celery task does: this thread waits while the replies loop streams.
        wall = time.perf_counter()
        outcome = replies_loop_run(
            llm_reply_stream(
                conversation_id=work[0], reply_id=work[1], grounding_entry_ids=grounding
            )
        )
        assert outcome == "saved", outcome
        return time.perf_counter() - wall

    def batch(count: int, offset: int) -> tuple[list[float], CpuUsed]:
        # Through the replies loop too, so that the question's broadcasts go where
        # the worker's go (a bare thread would start an event loop per broadcast).
        work = [
            replies_loop_run(database_sync_to_async(prepared)(offset + number))
            for number in range(count)
        ]
        with cpu_measured() as used, ThreadPoolExecutor(max_workers=concurrency) as pool:
            walls = list(pool.map(stream, work))
        return walls, used

    warm_up = min(50, replies)
    batch(warm_up, 0)  # connections, the index, the first requests
    walls, used = batch(replies, 10_000)
    saved = Message.objects.filter(
        conversation__site=site, source=Message.Source.LLM, interrupted=False
    ).count()
    assert saved == warm_up + replies, (saved, warm_up + replies)
    print(f"{replies} replies, {concurrency} at a time, every one saved")
    print(*used.lines(count=replies, unit="reply"), sep="\n")
    print(
        f"wall per reply   p50 {statistics.median(walls) * 1000:6.1f} ms"
        f"  max {max(walls) * 1000:6.1f} ms"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=2, help="pieces a reply streams")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.run:
        run(options.replies, options.concurrency)
        return

    port = _free_port()
    # No pacing: what is measured is the worker's CPU, not the model's speed.
    llm = subprocess.Popen(
        [sys.executable, "-m", "conversations.fake_llm", "--port", str(port), "--ttft", "0",
         "--chunk-count", str(options.tokens), "--quiet"],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        run_in_fresh_database(
            name="replycpu",
            module="benchmarks.reply_path_cpu",
            args=["--replies", str(options.replies), "--concurrency", str(options.concurrency)],
            KB_EMBEDDINGS="off",
            OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1",
        )
    finally:
        llm.terminate()
        llm.wait()


if __name__ == "__main__":
    main()
