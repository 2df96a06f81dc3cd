"""Writes to single knowledge-base entries and the idempotent sync a CMS calls.

Entry saves and deletes go through the model, so kb.signals recompute the
entry's vectors and bump the site's KB version after commit: every process
answers the next visitor message from the new entries. The sync upserts
through kb.services.entries_import (vectors computed once, in one batch).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from helpdesk.config_versions import config_version_bump, kb_scope
from helpdesk.models import Site
from kb.csv_io import EntryRow
from kb.models import Entry, Tag
from kb.services import entries_import


def _alternatives_text(alternatives: Iterable[str]) -> str:
    """One phrasing per line, as the admin stores them: blank and repeated ones dropped."""
    seen: list[str] = []
    for alternative in alternatives:
        for line in alternative.splitlines():
            line = line.strip()
            if line and line not in seen:
                seen.append(line)
    return "\n".join(seen)


def _tags_get_or_create(names: Iterable[str]) -> list[Tag]:
    tags = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        tag, _ = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    return tags


@transaction.atomic
def entry_create(
    *,
    site: Site,
    question: str,
    answer: str,
    alternatives: list[str],
    tags: list[str],
    enabled: bool = True,
    user=None,
) -> Entry:
    entry = Entry.objects.create(
        site=site,
        question=question,
        answer=answer,
        alternatives=_alternatives_text(alternatives),
        enabled=enabled,
        created_by=user,
        updated_by=user,
    )
    entry.tags.set(_tags_get_or_create(tags))
    return entry


@transaction.atomic
def entry_update(
    *,
    entry: Entry,
    user=None,
    question: str | None = None,
    answer: str | None = None,
    alternatives: list[str] | None = None,
    tags: list[str] | None = None,
    enabled: bool | None = None,
) -> Entry:
    """Change the fields given (None: keep)."""
    if question is not None:
        entry.question = question
    if answer is not None:
        entry.answer = answer
    if alternatives is not None:
        entry.alternatives = _alternatives_text(alternatives)
    if enabled is not None:
        entry.enabled = enabled
    entry.updated_by = user or entry.updated_by
    entry.save()
    if tags is not None:
        entry.tags.set(_tags_get_or_create(tags))
    return entry


@transaction.atomic
def entry_delete(*, entry: Entry) -> None:
    entry.delete()


@dataclass(frozen=True)
class EntrySpec:
    """One entry as the CMS has it; None for tags or enabled: keep what the entry has
    (a new entry: no tags, enabled)."""

    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class SyncedEntry:
    id: int
    question: str
    status: str  # created, updated, unchanged


@dataclass(frozen=True)
class SyncSummary:
    entries: list[SyncedEntry]
    deleted: list[str]

    def count(self, status: str) -> int:
        return sum(1 for e in self.entries if e.status == status)


@transaction.atomic
def entries_sync(
    *, site: Site, specs: list[EntrySpec], delete_missing: bool = False, user=None
) -> SyncSummary:
    """Make the site's entries match `specs`, matched by question; all or nothing.

    Questions must be unique within `specs` (the caller validated them). With
    delete_missing, the site's entries whose question is not in `specs` are deleted.
    """
    before = {
        e.question: e
        for e in Entry.objects.select_for_update().filter(site=site).prefetch_related("tags")
    }
    before_state = {
        question: (e.answer, e.alternatives, e.enabled, sorted(t.name for t in e.tags.all()))
        for question, e in before.items()
    }
    rows = [
        EntryRow(
            line=position + 1,
            question=spec.question,
            answer=spec.answer,
            alternatives=tuple(filter(None, _alternatives_text(spec.alternatives).split("\n"))),
        )
        for position, spec in enumerate(specs)
    ]
    entries_import(site=site, rows=rows, user=user)
    after = {
        e.question: e
        for e in Entry.objects.filter(
            site=site, question__in=[s.question for s in specs]
        ).prefetch_related("tags")
    }
    enabled_changed = False
    results: list[SyncedEntry] = []
    for spec in specs:
        entry = after[spec.question]
        if spec.enabled is not None and entry.enabled != spec.enabled:
            # An update, not save(): the text is unchanged, so its vectors stand.
            Entry.objects.filter(pk=entry.pk).update(enabled=spec.enabled)
            entry.enabled = spec.enabled
            enabled_changed = True
        if spec.tags is not None:
            wanted = _tags_get_or_create(spec.tags)
            if sorted(t.name for t in wanted) != sorted(t.name for t in entry.tags.all()):
                entry.tags.set(wanted)  # also drops the prefetched tags: re-read below
        state = (
            entry.answer,
            entry.alternatives,
            entry.enabled,
            sorted(t.name for t in entry.tags.all()),
        )
        previous = before_state.get(spec.question)
        status = "created" if previous is None else "unchanged" if previous == state else "updated"
        results.append(SyncedEntry(id=entry.pk, question=spec.question, status=status))
    deleted: list[str] = []
    if delete_missing:
        wanted_questions = {spec.question for spec in specs}
        gone = [e for question, e in before.items() if question not in wanted_questions]
        deleted = [e.question for e in gone]
        Entry.objects.filter(pk__in=[e.pk for e in gone]).delete()
    if enabled_changed:
        transaction.on_commit(lambda: config_version_bump(scope=kb_scope(site.pk)))
    return SyncSummary(entries=results, deleted=deleted)
