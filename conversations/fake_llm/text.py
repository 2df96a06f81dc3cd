"""Deterministic text helpers for the fake LLM: reply pieces, token counts, embeddings."""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from collections.abc import Mapping
from typing import Any

from .config import message_text

# Trailing whitespace stays with its word so joining the pieces gives the reply back.
_WORD_PIECE_RE = re.compile(r"\s*\S+\s*")

EMBEDDING_DIMENSIONS = 64


def split_reply(reply: str, chunk_count: int | None = None) -> list[str]:
    """Split ``reply`` into pieces whose concatenation is exactly ``reply``."""
    if not reply:
        return []
    if chunk_count is None:
        return _WORD_PIECE_RE.findall(reply) or [reply]
    count = max(1, min(chunk_count, len(reply)))
    bounds = [len(reply) * i // count for i in range(count + 1)]
    return [reply[bounds[i] : bounds[i + 1]] for i in range(count)]


def echo_transcript(messages: list[Any]) -> str:
    """Everything the model was shown, one ``role: content`` line per message."""
    lines = []
    for message in messages:
        role = message.get("role", "") if isinstance(message, Mapping) else ""
        lines.append(f"{role}: {message_text(message)}\n")
    return "".join(lines)


def count_words(text: str) -> int:
    return len(text.split())


def count_prompt_tokens(messages: list[Any]) -> int:
    return sum(count_words(message_text(message)) for message in messages)


def embed(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """Hash character trigrams into a signed bag-of-features vector, L2-normalised.

    Similar strings share trigrams and so get a high cosine similarity, which is enough
    for retrieval tests; blake2b rather than hash() keeps results stable across runs.
    """
    vector = [0.0] * dimensions
    padded = f"  {text.lower()} "
    for i in range(len(padded) - 2):
        digest = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector


def encode_base64(vector: list[float]) -> str:
    """The packed little-endian float32 form the OpenAI SDK asks for by default."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embedding_inputs(raw: Any) -> list[str]:
    """Normalise ``input``: a string, a list of strings, or token-id lists."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        if raw and all(isinstance(item, int) for item in raw):
            return [" ".join(str(item) for item in raw)]
        return [_input_text(item) for item in raw]
    raise ValueError("'input' must be a string or a list of strings")


def _input_text(item: Any) -> str:
    if isinstance(item, list):
        return " ".join(str(token) for token in item)
    return item if isinstance(item, str) else str(item)
