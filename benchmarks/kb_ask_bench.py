"""kb_ask on 200 queries against 1,000 entries: milliseconds per query after start-up.

    .venv/bin/python benchmarks/kb_ask_bench.py

Builds a throw-away SQLite database with 1,000 entries (the 48 of the
evaluation set plus 952 generated ones, each with two alternatives), imports
them with `kb_import` (which stores their vectors), then times `kb_ask --json`
as a user runs it, in a fresh process reading the queries from stdin:
once with 1 query and once with 200. Start-up (Python, Django, loading the
model and the index) is the same in both, so (t200 - t1) / 199 is the cost
of one more query. Also times kb_match one query at a time in one process,
as the reply pipeline calls it (no batching, the query-vector cache off).
"""

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SUBJECTS = [
    "order",
    "parcel",
    "invoice",
    "account",
    "subscription",
    "voucher",
    "warranty",
    "laptop",
    "phone",
    "tablet",
    "headphones",
    "monitor",
    "printer",
    "camera",
    "router",
    "watch",
    "speaker",
    "keyboard",
    "charger",
    "cable",
    "bag",
    "lamp",
]
ACTIONS = [
    "cancel",
    "return",
    "repair",
    "exchange",
    "register",
    "update",
    "track",
    "insure",
    "upgrade",
    "reset",
    "transfer",
    "recycle",
    "clean",
    "ship",
    "gift",
    "resell",
    "activate",
    "pause",
    "reorder",
    "rate",
    "insure",
    "sell",
    "finance",
    "unlock",
]
# Cover every (action, subject) pair a few times over without repeating a question.
FORMS = ["How do I {a} my {s}?", "Can I {a} a {s} online?", "What does it cost to {a} a {s}?"]


def entries_file(folder: Path) -> Path:
    path = folder / "entries.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["question", "answer", "alternatives"])
        count = 0
        seen: set[str] = set()
        with (DATA / "kb_eval_entries.csv").open(encoding="utf-8") as source:
            for row in list(csv.reader(source))[1:]:
                writer.writerow(row)
                seen.add(row[0])
                count += 1
        for form in FORMS:
            for action in ACTIONS:
                for subject in SUBJECTS:
                    question = form.format(a=action, s=subject)
                    if count >= 1000 or question in seen:
                        continue
                    seen.add(question)
                    writer.writerow(
                        [
                            question,
                            f"To {action} your {subject}, open My account and choose '{action}'.",
                            f"{action} {subject} | help with {action} of my {subject}",
                        ]
                    )
                    count += 1
    assert count == 1000, count
    return path


def queries() -> list[str]:
    with (DATA / "kb_eval_queries.csv").open(encoding="utf-8") as source:
        texts = [row[0] for row in list(csv.reader(source))[1:]]
    return (texts * 2)[:200]


def run(env: dict, *args: str, stdin: str = "") -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stdout


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.local",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    run(env, "migrate", "-v0")
    took, out = run(env, "kb_import", str(entries_file(folder)))
    print(f"kb_import of 1,000 entries (vectors included): {took:.1f} s  [{out.strip()}]")
    texts = queries()
    run(env, "kb_ask", "--json", stdin=texts[0] + "\n")  # warm the OS file cache
    one, _ = run(env, "kb_ask", "--json", stdin=texts[0] + "\n")
    many, out = run(env, "kb_ask", "--json", stdin="\n".join(texts) + "\n")
    assert len(out.splitlines()) == 200
    print(f"kb_ask --json, 1 query:    {one:.2f} s (start-up included)")
    print(f"kb_ask --json, 200 queries: {many:.2f} s")
    print(f"=> {(many - one) / 199 * 1000:.2f} ms per query after start-up")
    took, out = run(env, "shell", "-c", PIPELINE_TIMING.replace("TEXTS", repr(texts)))
    print(out.strip())


PIPELINE_TIMING = """
import time
from helpdesk.models import Site
from kb.embeddings import _query_cache
from kb.matching import kb_match
site = Site.objects.get()
texts = TEXTS
kb_match(site=site, text="warm-up")
started = time.perf_counter()
for text in texts:
    _query_cache.clear()
    kb_match(site=site, text=text)
took = time.perf_counter() - started
per_query = took / len(texts) * 1000
print(f"kb_match one at a time (pipeline path, no cache): {per_query:.2f} ms per query")
"""

if __name__ == "__main__":
    main()
