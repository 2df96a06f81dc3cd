"""Fill a benchmark database: one Site with the evaluation FAQ, visitors with an open
conversation each (so every socket resumes one, as a returning visitor's does),
and staff agents with a logged-in session.

Run inside the benchmark's environment (production settings, its own database):
    python -m benchmarks.loadgen.seed --visitors N --agents M --out seed.json
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "https://shop.example.com"
ENTRIES_CSV = ROOT / "tests" / "data" / "kb_eval_entries.csv"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", type=int, required=True)
    parser.add_argument("--agents", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings.production")
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from conversations.models import Conversation, Visitor
    from conversations.visitor_tokens import visitor_token_issue
    from helpdesk.models import Agent, Site
    from kb.csv_io import entry_rows_parse
    from kb.models import Entry
    from kb.services import entries_import, entry_vectors_refresh

    site = Site.objects.create(
        name="Benchmark shop",
        allowed_origins=ORIGIN,
        bot_enabled=True,
        llm_timeout_seconds=120,
        llm_first_token_timeout_seconds=60,
    )
    rows = entry_rows_parse(ENTRIES_CSV.read_text(encoding="utf-8"))
    entries_import(site=site, rows=rows)
    # Vectors now, not in a worker later: every web process starts with the full index.
    entry_vectors_refresh(
        entry_ids=list(Entry.objects.filter(site=site).values_list("pk", flat=True))
    )

    visitors = Visitor.objects.bulk_create(
        [Visitor(site=site, language="en") for _ in range(options.visitors)], batch_size=2000
    )
    conversations = Conversation.objects.bulk_create(
        [Conversation(site=site, visitor=visitor) for visitor in visitors], batch_size=2000
    )
    tokens = [
        visitor_token_issue(anonymous_id=visitor.anonymous_id, site_id=site.pk)
        for visitor in visitors
    ]

    cookies = []
    for number in range(options.agents):
        user = User.objects.create_user(
            username=f"bench-agent-{number}", password=None, is_staff=True
        )
        Agent.objects.create(user=user, display_name=f"Agent {number}")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies.append(session.session_key)

    questions = [row.question for row in rows if row.question.isascii()]
    options.out.write_text(
        json.dumps(
            {
                "site_key": site.public_key,
                "origin": ORIGIN,
                "tokens": tokens,
                # Aligned with tokens: the conversation each visitor resumes.
                "conversation_ids": [conversation.pk for conversation in conversations],
                "agent_sessions": cookies,
                "questions": questions,
            }
        )
    )


if __name__ == "__main__":
    main()
