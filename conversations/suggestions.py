"""AI assist for agents: a draft reply, grounded in the KB, streamed into the agent's composer.

It is never sent by itself: the agent edits and sends it (or not).
"""

import asyncio
import time
from collections.abc import AsyncIterator

from conversations.llm import GroundingEntry, llm_client, llm_configured, prompt_messages
from conversations.models import Conversation
from conversations.selectors import conversation_recent_turns
from helpdesk.db_async import database_sync_to_async
from kb.matching import kb_match

DRAFT_INSTRUCTION = (
    "You are drafting a reply for a human support agent, who will edit it before sending. "
    "Write only the reply to the customer, in the customer's language, using the "
    "knowledge-base context when it applies."
)


class SuggestionUnavailable(Exception):
    pass


def suggestion_prompt(*, conversation_id: int) -> tuple[list[dict[str, str]], str, float]:
    conversation = Conversation.objects.select_related("site").get(pk=conversation_id)
    site = conversation.site
    turns = conversation_recent_turns(conversation_id=conversation_id)
    question = next((t.content for t in reversed(turns) if t.role == "user"), "")
    match = kb_match(site=site, text=question)
    grounding = [GroundingEntry(c.entry_id, c.question, c.answer) for c in match.candidates]
    messages = prompt_messages(
        system_prompt=f"{site.system_prompt}\n\n{DRAFT_INSTRUCTION}",
        grounding=grounding,
        turns=turns,
    )
    return messages, site.effective_llm_model, float(site.llm_timeout_seconds)


async def suggestion_stream(*, conversation_id: int) -> AsyncIterator[str]:
    if not llm_configured():
        raise SuggestionUnavailable("No LLM is configured (OPENAI_API_KEY / OPENAI_BASE_URL).")
    messages, model, timeout = await database_sync_to_async(suggestion_prompt)(
        conversation_id=conversation_id
    )
    client = llm_client(timeout=timeout)
    deadline = time.monotonic() + timeout
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,  # type: ignore[arg-type]
        )
        chunks = aiter(stream)
        while True:
            try:
                chunk = await asyncio.wait_for(anext(chunks), timeout=deadline - time.monotonic())
            except StopAsyncIteration:
                return
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
    finally:
        await client.close()
