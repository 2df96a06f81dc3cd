"""The reply pipeline: what happens after a visitor's message is saved and acked.

One entry point, `reply_pipeline_run`, tries the tiers in order and logs each
decision with its score:
1. the sensitive-word filter's verdict (taken when the message was saved);
2. a human owns the conversation, or is awaited: the bot stays silent;
3. the knowledge base: a confident match is answered at once;
4. the LLM: a reply is reserved and streamed after commit (Celery or inline).
"""

import logging
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from django.db import transaction
from django.utils import timezone

from conversations import services
from conversations.bot_messages import bot_text, language_of
from conversations.dispatch import llm_reply_dispatch
from conversations.models import Conversation, Message
from conversations.selectors import site_has_online_agent, site_llm_tokens_today
from helpdesk import metrics
from helpdesk.business_hours import business_hours_text, site_is_open
from helpdesk.models import Site
from kb.matching import kb_match
from kb.models import Entry
from kb.services import knowledge_gap_record

logger = logging.getLogger(__name__)

Tier = Literal["filter", "human", "kb", "llm", "none"]


@dataclass(frozen=True)
class PipelineOutcome:
    tier: Tier
    decision: str
    score: float | None = None
    reply_id: str | None = None
    message_id: int | None = None


def _log(outcome: PipelineOutcome, message: Message) -> PipelineOutcome:
    score = None if outcome.score is None else round(outcome.score, 1)
    logger.info(
        "tier=%s decision=%s score=%s conversation=%s message=%s reply=%s",
        outcome.tier,
        outcome.decision,
        score,
        message.conversation_id,
        message.pk,
        outcome.reply_id or "",
        # The same fields as keys of the JSON log line, with the time since the message was saved.
        extra={
            "tier": outcome.tier,
            "decision": outcome.decision,
            "score": score,
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "reply_id": outcome.reply_id,
            "latency_ms": int((timezone.now() - message.created_at).total_seconds() * 1000),
        },
    )
    return outcome


def reply_pipeline_run(
    *,
    message: Message,
    site: Site,
    language: str,
    query_vector: np.ndarray | None = None,
    defer_embedding: bool = False,
) -> PipelineOutcome:
    """Route a visitor message this process has just saved, as the receive returned it.

    The message is not read back by id: that was one query with three joins on the
    busiest path there is. Its conversation's state is as the receive read it under
    the row lock, and every tier below that writes re-checks it under the lock.

    With `defer_embedding`, a question that needs a vector raises
    kb.matching.QueryVectorDeferred before anything is written; the caller
    computes the vector off this thread and runs the pipeline again with it as
    `query_vector` (the visitor consumer does, see kb.query_vector_queue).
    """
    started = time.monotonic()
    conversation = message.conversation

    # 1. The filter's verdict.
    if message.filter_action == "block":
        services.bot_message_create(
            conversation=conversation, text=bot_text("blocked", language=language), source="filter"
        )
        metrics.reply_counted("filter")
        return _log(PipelineOutcome(tier="filter", decision="block"), message)
    if message.filter_action == "escalate":
        knowledge_gap_record(
            site_id=site.pk, question=message.text, message_id=message.pk, reason="escalated"
        )
        if services.conversation_escalate(
            conversation_id=conversation.pk,
            reason="sensitive word",
            notice=bot_text("escalated", language=language),
        ):
            metrics.reply_counted("filter")
        return _log(PipelineOutcome(tier="filter", decision="escalate"), message)

    # 2. A human owns it (or is awaited): agents see the message; the bot is silent.
    # (`state` was read with the message just now; each tier below re-checks it under
    # the conversation's row lock before it writes.)
    if conversation.state != Conversation.State.BOT:
        return _log(PipelineOutcome(tier="human", decision=conversation.state), message)
    if not site.bot_enabled:
        services.conversation_escalate(
            conversation_id=conversation.pk,
            reason="bot disabled",
            notice=bot_text("human_requested", language=language),
        )
        return _log(PipelineOutcome(tier="human", decision="bot disabled"), message)

    # 3. The knowledge base.
    match = kb_match(
        site=site, text=message.text, query_vector=query_vector, defer_embedding=defer_embedding
    )
    if match.decision == "answer" and match.best is not None:
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
            if conversation.state != Conversation.State.BOT:
                return _log(PipelineOutcome(tier="human", decision=conversation.state), message)
            answer = services.bot_message_create(
                conversation=conversation,
                text=match.best.answer,
                source=Message.Source.KB,
                # The entry as the index holds it: the consoles' event shows its id and
                # question, and reading the row back would be one more query per answer.
                kb_entry=Entry(
                    pk=match.best.entry_id, site_id=site.pk, question=match.best.question
                ),
                kb_score=match.best.strict,
                latency_ms=int((time.monotonic() - started) * 1000),
            )
            metrics.reply_counted("kb")
        return _log(
            PipelineOutcome(tier="kb", decision="answer", score=match.score, message_id=answer.pk),
            message,
        )
    if match.decision == "none":
        knowledge_gap_record(
            site_id=site.pk, question=message.text, message_id=message.pk, reason="none"
        )
    logger.info(
        "tier=kb decision=%s score=%.1f conversation=%s candidates=%s",
        match.decision,
        match.score,
        conversation.pk,
        [(c.entry_id, round(c.strict), round(c.loose)) for c in match.candidates],
        extra={
            "tier": "kb",
            "decision": match.decision,
            "score": round(match.score, 1),
            "conversation_id": conversation.pk,
            "message_id": message.pk,
        },
    )

    # 4. The LLM, after commit, unless the site spent its daily token budget.
    if site.llm_daily_token_budget and (
        site_llm_tokens_today(site_id=site.pk) >= site.llm_daily_token_budget
    ):
        if services.conversation_escalate(
            conversation_id=conversation.pk,
            reason="daily LLM budget reached",
            notice=bot_text("no_llm", language=language),
        ):
            metrics.reply_counted("fallback")
        return _log(PipelineOutcome(tier="llm", decision="budget exhausted"), message)
    with transaction.atomic():
        reply_id = services.reply_pending_begin(conversation_id=conversation.pk)
        if reply_id is None:
            return _log(PipelineOutcome(tier="human", decision="owner changed"), message)
        conversation_id = conversation.pk
        grounding = [c.entry_id for c in match.candidates if c.loose >= site.kb_ground_threshold]
        transaction.on_commit(
            lambda: llm_reply_dispatch(
                conversation_id=conversation_id, reply_id=reply_id, grounding_entry_ids=grounding
            )
        )
    return _log(
        PipelineOutcome(tier="llm", decision="stream", score=match.score, reply_id=reply_id),
        message,
    )


def human_request(*, conversation_id: int, language: str) -> Conversation | None:
    """The visitor pressed "Talk to a person". Outside business hours, or with nobody
    online, they are told when to expect a reply and asked for an email."""
    conversation = Conversation.objects.select_related("site").get(pk=conversation_id)
    site = conversation.site
    staffed = site_is_open(site=site) and site_has_online_agent(site_id=site.pk)
    if staffed:
        notice = bot_text("human_requested", language=language)
    else:
        hours = business_hours_text(site=site, language=language_of(language))
        if hours:
            hours = bot_text("offline_hours", language=language, hours=hours)
        notice = bot_text("offline", language=language, site=site, hours=hours)
    return services.conversation_escalate(
        conversation_id=conversation_id,
        reason="visitor asked for a person" + ("" if staffed else " (team offline)"),
        notice=notice,
    )
