"""The visitor socket's routing of a saved message to the reply pipeline."""

from collections.abc import Callable

import numpy as np

from conversations import pipeline
from conversations.models import Message, Visitor
from helpdesk.db_async import database_sync_to_async
from helpdesk.models import Site
from kb.matching import QueryVectorDeferred
from kb.query_vector_queue import query_vector_embed


class ReplyRouting:
    """Mixed into VisitorConsumer, whose state and helpers these methods use."""

    visitor: Visitor
    _site: Callable[[], Site]

    def _reply_route(
        self,
        message: Message,
        *,
        query_vector: np.ndarray | None = None,
        defer_embedding: bool = False,
    ) -> pipeline.PipelineOutcome:
        return pipeline.reply_pipeline_run(
            message=message,
            site=self._site(),
            language=self.visitor.language,
            query_vector=query_vector,
            defer_embedding=defer_embedding,
        )

    async def _reply(self, message: Message) -> None:
        # The question's vector, when it needs one, is computed on the embedding
        # thread, not on the database thread that routes it (kb.query_vector_queue).
        try:
            await database_sync_to_async(self._reply_route)(message, defer_embedding=True)
        except QueryVectorDeferred:
            vector = await query_vector_embed(message.text)
            await database_sync_to_async(self._reply_route)(message, query_vector=vector)
