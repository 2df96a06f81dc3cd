"""CPU of one KB-answered visitor message on the web process's database thread.

The socket benchmarks (benchmarks/loadgen) measure the whole process, where the
message path shares the CPU with the event loop, the WebSocket frames and the
channel layer, and run-to-run spread hides a change of a millisecond. This runs
the same calls as the visitor consumer's database thread, one message after
another, each step from an event loop through the project's
`database_sync_to_async` as the consumer calls it, with production settings
against PostgreSQL and Redis: the receive (duplicate check, lock, insert, update,
commit, the after-commit publishes built) with its ack, the publishes sent from the
loop, then the reply pipeline (KB match, the answer's insert, commit, publishes).

    python -m benchmarks.message_path_cpu [--messages 2000] [--visitors 100]

Prints the database thread's CPU (`time.thread_time`) and the wall time of each
step, and the whole process's CPU per message. Needs DATABASE_URL (any database
on the server: a new one is created and dropped) and REDIS_URL.
"""

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path

from benchmarks.fresh_database import CpuUsed, cpu_measured, run_in_fresh_database

ROOT = Path(__file__).resolve().parents[1]
ENTRIES_CSV = ROOT / "tests" / "data" / "kb_eval_entries.csv"


def _summary(label: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(len(ordered) * 0.9)]
    return (
        f"{label:<22} mean {statistics.fmean(values):6.2f} ms  p50 {statistics.median(values):6.2f}"
        f" ms  p90 {p90:6.2f} ms"
    )


def run(messages: int, visitors: int) -> None:
    import django

    django.setup()
    from conversations import pipeline, selectors, services
    from conversations.broadcast import GroupSend, held_publishes_send, publishes_held
    from conversations.events import ack_event
    from conversations.models import Conversation, Visitor
    from helpdesk.db_async import database_sync_to_async
    from helpdesk.models import Site
    from kb.csv_io import entry_rows_parse
    from kb.models import Entry
    from kb.services import entries_import, entry_vectors_refresh

    site = Site.objects.create(name="CPU bench", bot_enabled=True)
    rows = entry_rows_parse(ENTRIES_CSV.read_text(encoding="utf-8"))
    entries_import(site=site, rows=rows)
    entry_vectors_refresh(
        entry_ids=list(Entry.objects.filter(site=site).values_list("pk", flat=True))
    )
    people = Visitor.objects.bulk_create(
        [Visitor(site=site, language="en") for _ in range(visitors)]
    )
    Conversation.objects.bulk_create([Conversation(site=site, visitor=v) for v in people])
    questions = [row.question for row in rows]

    def receive(
        visitor: Visitor, text: str
    ) -> tuple[services.ReceivedMessage, list[GroupSend], float]:
        cpu = time.thread_time()
        with publishes_held() as publishes:
            received = services.visitor_message_receive(
                visitor=visitor, client_id=uuid.uuid4().hex, text=text
            )
        ack_event(received.message)
        return received, publishes, time.thread_time() - cpu

    def route(visitor: Visitor, received: services.ReceivedMessage) -> float:
        cpu = time.thread_time()
        outcome = pipeline.reply_pipeline_run(
            message=received.message,
            site=selectors.site_get_for_widget(public_key=site.public_key),
            language=visitor.language,
        )
        assert outcome.tier == "kb", outcome
        return time.thread_time() - cpu

    async def one(number: int) -> tuple[float, float, float, float]:
        # As the visitor consumer does: each step one trip to a database thread,
        # whose after-commit publishes run on this event loop.
        visitor = people[number % len(people)]
        wall = time.perf_counter()
        received, publishes, cpu_receive = await database_sync_to_async(receive)(
            visitor, questions[number % len(questions)]
        )
        publishing = held_publishes_send(publishes)
        wall_receive = time.perf_counter() - wall  # the ack goes out here
        await publishing
        wall = time.perf_counter()
        cpu_route = await database_sync_to_async(route)(visitor, received)
        return cpu_receive, wall_receive, cpu_route, time.perf_counter() - wall

    async def measure() -> tuple[list[tuple[float, float, float, float]], CpuUsed]:
        for number in range(min(200, messages)):  # warm-up: index, caches, first replies
            await one(number)
        with cpu_measured() as used:
            samples = [await one(number) for number in range(messages)]
        return samples, used

    samples, used = asyncio.run(measure())
    ms = [[value * 1000 for value in column] for column in zip(*samples, strict=True)]
    print(f"{messages} KB-answered messages, {visitors} visitors, one after another")
    print(_summary("receive + ack, CPU", ms[0]))
    print(_summary("receive + ack, wall", ms[1]))
    print(_summary("pipeline, CPU", ms[2]))
    print(_summary("pipeline, wall", ms[3]))
    process_line, *postgres_line = used.lines(count=messages, unit="message")
    print(f"{process_line} (the database thread and the event loop's publishes)")
    for line in postgres_line:
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.run:
        run(options.messages, options.visitors)
        return

    run_in_fresh_database(
        name="cpu",
        module="benchmarks.message_path_cpu",
        args=["--messages", str(options.messages), "--visitors", str(options.visitors)],
        KB_EMBEDDINGS="auto",
    )


if __name__ == "__main__":
    main()
