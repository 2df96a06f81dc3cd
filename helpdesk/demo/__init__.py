"""Demo data for the embedded quick start: one site, a bilingual KB, an admin who is an agent."""

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from helpdesk.models import Agent, Site
from kb.models import Entry, SensitiveWord, Tag

DEMO_SITE_KEY = "demo"
DEMO_ADMIN_USERNAME = "admin"
DEMO_SENSITIVE_WORDS = [
    ("idiot", SensitiveWord.Action.MASK),
    ("傻瓜", SensitiveWord.Action.MASK),
    ("lawsuit", SensitiveWord.Action.ESCALATE),
    ("投诉", SensitiveWord.Action.ESCALATE),
    ("credit card number", SensitiveWord.Action.BLOCK),
]


@dataclass(frozen=True)
class DemoData:
    site: Site
    admin_username: str
    admin_password: str
    entries_created: int


def demo_origins(*, ports: tuple[int, ...] = (8000, 8001)) -> str:
    return "\n".join(
        f"http://{host}:{port}" for port in ports for host in ("127.0.0.1", "localhost")
    )


@transaction.atomic
def demo_data_ensure(
    *, admin_password: str | None = None, extra_origins: list[str] | None = None
) -> DemoData:
    """Create the demo site, KB, sensitive words and admin agent; safe to run again.

    `extra_origins` are added to the demo site's allowed origins (the ports
    `serve` was asked to use), never removed.
    """
    password = admin_password or getattr(settings, "DEMO_ADMIN_PASSWORD", "helpdesk-demo")
    site, _ = Site.objects.get_or_create(
        public_key=DEMO_SITE_KEY,
        defaults={"name": "Demo Shop", "allowed_origins": demo_origins()},
    )
    missing = [origin for origin in extra_origins or [] if origin not in site.origin_list]
    if missing:
        site.allowed_origins = "\n".join([*site.origin_list, *missing])
        site.save(update_fields=["allowed_origins", "updated_at"])
    user_model = get_user_model()
    admin, created = user_model.objects.get_or_create(
        username=DEMO_ADMIN_USERNAME,
        defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True},
    )
    if created:
        admin.set_password(password)
        admin.save(update_fields=["password"])
    agent, _ = Agent.objects.get_or_create(
        user=admin, defaults={"display_name": "Alice Admin", "languages": "en,zh-hans"}
    )
    agent.sites.add(site)

    entries_created = 0
    for item in json.loads((Path(__file__).parent / "kb_entries.json").read_text("utf-8")):
        entry, was_created = Entry.objects.get_or_create(
            site=site,
            question=item["question"],
            defaults={
                "answer": item["answer"],
                "alternatives": "\n".join(item["alternatives"]),
                "created_by": admin,
                "updated_by": admin,
            },
        )
        if was_created:
            entries_created += 1
            entry.tags.set(Tag.objects.get_or_create(name=name)[0] for name in item["tags"])
    for word, action in DEMO_SENSITIVE_WORDS:
        SensitiveWord.objects.get_or_create(site=None, word=word, defaults={"action": action})
    return DemoData(
        site=site,
        admin_username=admin.get_username(),
        admin_password=password
        if admin.check_password(password)
        else "(the password you set; it was changed after the demo created it)",
        entries_created=entries_created,
    )
