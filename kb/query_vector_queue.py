"""Visitor questions' vectors for the event loop, computed on a thread of their own.

The in-process model embeds one call at a time (~10 ms of CPU a question). When
the reply pipeline embedded inline, a burst of new questions held every database
thread of the web process waiting for the model, and the messages behind them,
even those answered from the KB without a vector, waited for a free thread
(benchmarks/README.md, "eighth run"). Now the pipeline defers (kb.matching.
QueryVectorDeferred) and the consumer awaits `query_vector_embed` instead: the
questions line up here, and the database threads stay free.

Questions that arrive while the model is busy are embedded together, up to
BATCH_LIMIT at a time: a batch costs less per question than single calls, and
the limit keeps the first of a burst from waiting for the whole burst.
"""

import asyncio
import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from django.conf import settings

from kb.embeddings import embedder_get, query_vectors_if_available

BATCH_LIMIT = 8


class QueryVectorQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Future]] = []
        # One thread: the model takes one call at a time anyway.
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="kb-embed", initializer=_thread_priority_lower
        )

    def submit(self, text: str) -> Future:
        """A future of the text's vector (None when no embeddings backend can make one)."""
        future: Future = Future()
        with self._lock:
            self._pending.append((text, future))
        # One drain per question: a drain that finds the queue emptied by an
        # earlier one (which took this question into its batch) does nothing.
        self._executor.submit(self._drain)
        return future

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:BATCH_LIMIT], self._pending[BATCH_LIMIT:]
        # A consumer that went away cancelled its future: skip its question.
        batch = [(text, future) for text, future in batch if future.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            vectors = self._vectors([text for text, _ in batch])
        except BaseException as exc:  # the waiting consumers must hear of it
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), vector in zip(batch, vectors, strict=True):
            future.set_result(vector)

    @staticmethod
    def _vectors(texts: list[str]) -> list[np.ndarray | None]:
        embedder = embedder_get()
        rows = None if embedder is None else query_vectors_if_available(embedder, texts)
        return [None] * len(texts) if rows is None else list(rows)


def _thread_priority_lower() -> None:
    """Give the CPU to the sockets first: relaying replies that stream and answering
    from the KB, before embedding the next new question (KB_EMBEDDING_NICE)."""
    nice = settings.KB_EMBEDDING_NICE
    if nice and hasattr(os, "setpriority"):
        # On Linux a thread is a task of its own: this lowers this thread alone
        # (and the model's OpenMP threads, which it starts).
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


_queue = QueryVectorQueue()


async def query_vector_embed(text: str) -> np.ndarray | None:
    """The visitor text's query vector, computed off the database threads."""
    return await asyncio.wrap_future(_queue.submit(text))
