"""Reads for the knowledge base: sites by key, export rows, knowledge-gap groups."""

from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

from helpdesk.models import Site
from kb.embeddings import EmbeddingsUnavailable, embedder_get, query_vectors
from kb.models import Entry, KnowledgeGap
from kb.text import tokenize_for_matching

GAP_GROUP_LEXICAL = 85.0
GAP_GROUP_COSINE = 0.92
GAP_WINDOW = 500


def site_by_key(*, key: str) -> Site | None:
    """A site by its public key, or by its id."""
    site = Site.objects.filter(public_key=key).first()
    if site is None and key.isdigit():
        site = Site.objects.filter(pk=int(key)).first()
    return site


def entries_export_rows(*, site: Site) -> list[tuple[str, str, list[str]]]:
    return [
        (e.question, e.answer, e.alternative_list)
        for e in Entry.objects.filter(site=site).order_by("id")
    ]


@dataclass
class GapGroup:
    key: int  # id of the group's first (most recent) gap
    question: str
    site: Site
    gaps: list[KnowledgeGap] = field(default_factory=list)
    agent_reply: str = ""

    @property
    def count(self) -> int:
        return len(self.gaps)

    @property
    def gap_ids(self) -> list[int]:
        return [g.pk for g in self.gaps]

    @property
    def other_questions(self) -> list[str]:
        seen = {self.question}
        out: list[str] = []
        for gap in self.gaps:
            if gap.question not in seen:
                seen.add(gap.question)
                out.append(gap.question)
        return out

    @property
    def last_seen(self):
        return max(g.created_at for g in self.gaps)


def _gap_vectors(questions: list[str]) -> np.ndarray | None:
    embedder = embedder_get()
    if embedder is None or not questions:
        return None
    try:
        return query_vectors(embedder, questions)
    except EmbeddingsUnavailable:
        return None


def knowledge_gap_groups(*, site_id: int | None = None) -> list[GapGroup]:
    """Open gaps grouped by similar wording or meaning, the most asked first."""
    gaps = list(
        KnowledgeGap.objects.filter(resolved_at__isnull=True)
        .filter(**({"site_id": site_id} if site_id else {}))
        .select_related("site")
        .order_by("-created_at")[:GAP_WINDOW]
    )
    tokens = [tokenize_for_matching(g.question) for g in gaps]
    vectors = _gap_vectors([g.question for g in gaps])
    groups: list[GapGroup] = []
    heads: list[int] = []
    for position, gap in enumerate(gaps):
        home = None
        for group, head in zip(groups, heads, strict=True):
            if group.site.pk != gap.site_id:
                continue
            close = fuzz.token_set_ratio(tokens[position], tokens[head]) >= GAP_GROUP_LEXICAL
            if not close and vectors is not None:
                close = float(vectors[position] @ vectors[head]) >= GAP_GROUP_COSINE
            if close:
                home = group
                break
        if home is None:
            groups.append(GapGroup(key=gap.pk, question=gap.question, site=gap.site))
            heads.append(position)
            home = groups[-1]
        home.gaps.append(gap)
    groups.sort(key=lambda g: (-g.count, -g.key))
    for group in groups:
        group.agent_reply = gap_agent_reply(gaps=group.gaps)
    return groups


def gap_agent_reply(*, gaps: list[KnowledgeGap]) -> str:
    """The first agent reply that followed one of these questions in its conversation."""
    from conversations.models import Message

    for gap in gaps:
        if gap.message_id is None:
            continue
        asked = Message.objects.filter(pk=gap.message_id).only("conversation_id").first()
        if asked is None:
            continue
        reply = (
            Message.objects.filter(
                conversation_id=asked.conversation_id,
                pk__gt=asked.pk,
                author_kind=Message.Author.AGENT,
            )
            .order_by("pk")
            .only("text")
            .first()
        )
        if reply is not None:
            return reply.text
    return ""


def knowledge_gap_group_get(*, gap_id: int) -> GapGroup | None:
    for group in knowledge_gap_groups():
        if gap_id in group.gap_ids:
            return group
    return None
