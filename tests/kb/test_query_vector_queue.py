"""Visitor questions' vectors computed on the embedding thread, in batches when they pile up."""

import asyncio
import os
import threading

import numpy as np
import pytest

from kb.embeddings import query_vectors
from kb.query_vector_queue import BATCH_LIMIT, QueryVectorQueue, query_vector_embed


def _blocked(queue: QueryVectorQueue) -> threading.Event:
    """Keep the queue's one thread busy until the returned event is set."""
    release = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    queue._executor.submit(hold)
    assert started.wait(5)
    return release


@pytest.fixture
def embedded_batches(monkeypatch) -> list[list[str]]:
    """The texts of every call the queue makes to the model, call by call."""
    batches: list[list[str]] = []
    embed = QueryVectorQueue._vectors
    monkeypatch.setattr(
        QueryVectorQueue,
        "_vectors",
        staticmethod(lambda texts: batches.append(list(texts)) or embed(texts)),
    )
    return batches


def test_questions_that_pile_up_are_embedded_in_batches(semantic, embedded_batches):
    queue = QueryVectorQueue()
    release = _blocked(queue)
    texts = [f"question number {n} about my parcel" for n in range(BATCH_LIMIT + 3)]
    futures = [queue.submit(text) for text in texts]
    release.set()
    vectors = [future.result(timeout=30) for future in futures]
    assert [len(batch) for batch in embedded_batches] == [BATCH_LIMIT, 3]
    expected = query_vectors(semantic, texts)
    for vector, row in zip(vectors, expected, strict=True):
        assert np.allclose(vector, row, atol=1e-5)


def test_a_question_whose_caller_left_is_not_embedded(semantic, embedded_batches):
    queue = QueryVectorQueue()
    release = _blocked(queue)
    gone = queue.submit("the visitor closed the tab")
    kept = queue.submit("where is my order")
    assert gone.cancel()
    release.set()
    assert kept.result(timeout=30) is not None
    assert embedded_batches == [["where is my order"]]


def test_an_embedding_error_reaches_every_waiting_caller(semantic, monkeypatch):
    queue = QueryVectorQueue()

    def broken(texts):
        raise RuntimeError("model crashed")

    monkeypatch.setattr(QueryVectorQueue, "_vectors", staticmethod(broken))
    release = _blocked(queue)
    futures = [queue.submit("a"), queue.submit("b")]
    release.set()
    for future in futures:
        with pytest.raises(RuntimeError, match="model crashed"):
            future.result(timeout=10)
    # The thread survives for the next question.
    monkeypatch.undo()
    assert queue.submit("c").result(timeout=30).shape == (384,)


def test_without_an_embeddings_backend_the_vector_is_none(lexical_only):
    assert QueryVectorQueue().submit("where is my order").result(timeout=10) is None


def test_query_vector_embed_awaits_the_vector_from_the_event_loop(semantic):
    vector = asyncio.run(query_vector_embed("when would my parcel get here"))
    assert np.allclose(vector, query_vectors(semantic, ["when would my parcel get here"])[0])


def test_the_embedding_thread_yields_the_cpu_by_its_nice_value(settings):
    settings.KB_EMBEDDING_NICE = 7
    base = os.getpriority(os.PRIO_PROCESS, 0)
    queue = QueryVectorQueue()
    inside = queue._executor.submit(
        lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    ).result(timeout=10)
    assert inside == min(base + 7, 19)
    # The process's other threads keep theirs.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
