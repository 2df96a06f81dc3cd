"""What one streamed reply needs (its prompt, its Site's settings) and where its events go."""

from dataclasses import dataclass, field

from conversations.bot_messages import bot_text
from conversations.broadcast import Audience, ConsolesWatching, conversation_event_publish
from conversations.leak_guard import LeakGuard
from conversations.llm import GroundingEntry, prompt_messages
from conversations.models import Conversation
from conversations.selectors import Turn, conversation_recent_turns
from helpdesk.models import Site
from kb.filtering import Screener
from kb.matching import kb_entries_indexed, kb_match


@dataclass
class ReplyContext:
    conversation_id: int
    site_id: int
    reply_id: str
    language: str
    model: str
    temperature: float
    max_tokens: int
    timeout: float
    first_token_timeout: float
    messages: list[dict[str, str]]
    screener: Screener
    leak_guard: LeakGuard
    # What the visitor is told when this reply fails, in their language and
    # the Site's wording, keyed like bot_messages.TEXTS ("fallback", "no_llm").
    failure_texts: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamState:
    raw: str = ""
    emitted: int = 0
    seq: int = 0
    first_token_at: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    shown: list[str] = field(default_factory=list)
    consoles: ConsolesWatching = field(default_factory=ConsolesWatching)

    @property
    def shown_text(self) -> str:
        return "".join(self.shown)


class OutputBlocked(Exception):
    """The LLM wrote something the sensitive-word filter refuses to show."""


def reply_context_load(
    *, conversation_id: int, reply_id: str, grounding_entry_ids: list[int] | None = None
) -> ReplyContext | None:
    """`grounding_entry_ids`: the entries the pipeline chose (None: match the question here)."""
    conversation = (
        Conversation.objects.select_related("site", "visitor").filter(pk=conversation_id).first()
    )
    if conversation is None or not _is_pending(conversation, reply_id):
        return None
    site = conversation.site
    turns = conversation_recent_turns(conversation_id=conversation_id)
    grounding = (
        _grounding_matched(site, turns)
        if grounding_entry_ids is None
        else [
            GroundingEntry(entry.entry_id, entry.question, entry.answer)
            for entry in kb_entries_indexed(site_id=site.pk, entry_ids=grounding_entry_ids)
        ]
    )
    return ReplyContext(
        conversation_id=conversation_id,
        site_id=site.pk,
        reply_id=reply_id,
        language=conversation.visitor.language,
        model=site.effective_llm_model,
        temperature=site.llm_temperature,
        max_tokens=site.llm_max_tokens,
        timeout=float(site.llm_timeout_seconds),
        first_token_timeout=float(site.llm_first_token_timeout_seconds),
        messages=prompt_messages(
            system_prompt=site.system_prompt, grounding=grounding, turns=turns
        ),
        screener=Screener.for_site(site_id=site.pk),
        leak_guard=LeakGuard.for_prompt(site.system_prompt),
        failure_texts={
            key: bot_text(key, language=conversation.visitor.language, site=site)
            for key in ("fallback", "no_llm")
        },
    )


def _grounding_matched(site: Site, turns: list[Turn]) -> list[GroundingEntry]:
    question = next((t.content for t in reversed(turns) if t.role == "user"), "")
    match = kb_match(site=site, text=question)
    return [
        GroundingEntry(c.entry_id, c.question, c.answer)
        for c in match.candidates
        if c.loose >= site.kb_ground_threshold
    ]


def _is_pending(conversation: Conversation, reply_id: str) -> bool:
    return (
        conversation.state == Conversation.State.BOT
        and str(conversation.pending_reply_id) == reply_id
    )


async def reply_event_publish(
    context: ReplyContext, event: dict, *, audience: Audience = "all"
) -> None:
    await conversation_event_publish(
        conversation_id=context.conversation_id,
        site_id=context.site_id,
        event=event,
        audience=audience,
    )
