"""Configuration of the fake LLM server: fields, validation and per-request markers.

A request can override the server-wide configuration by putting markers such as
``[[mode:http_500]]`` or ``[[ttft:0.5]]`` in its last user message, so browser tests
and manual demos can trigger faults just by typing.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_REPLY = (
    "This is a streamed answer from the test LLM server. "
    "It arrives in several pieces so you can watch it grow."
)

MODES: tuple[str, ...] = (
    "normal",
    "echo",
    "http_500",
    "http_429",
    "stall_before_first_token",
    "stall_mid_stream",
    "malformed",
    "disconnect",
    "stamp",
)

MARKER_RE = re.compile(r"\[\[(\w+):([^\]]+)\]\]")

# Short names are what people type in a chat box; full field names work too.
MARKER_ALIASES: dict[str, str] = {
    "tps": "tokens_per_second",
    "stall": "stall_seconds",
    "chunks": "chunk_count",
    "tpsmax": "tokens_per_second_max",
}


class ConfigError(ValueError):
    """An unknown config field or a value that cannot be used."""


@dataclass
class FakeLLMConfig:
    """Behaviour of the fake LLM; every field can be changed while the server runs."""

    mode: str = "normal"
    reply: str = DEFAULT_REPLY
    chunk_count: int | None = None  # None: one piece per word
    ttft: float = 0.0  # seconds before the first token
    tokens_per_second: float = 0.0  # 0: no delay between pieces
    # Above tokens_per_second: each reply draws its pace between the two, as replies of a
    # real model vary (a load test's replies then do not all tick in step).
    tokens_per_second_max: float = 0.0
    stall_seconds: float = 3600.0
    model: str = "fake-gpt"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FakeLLMConfig))


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if number < 0 or number != number:  # also rejects NaN
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
    return number


def _coerce(name: str, value: Any) -> Any:
    if name == "mode":
        mode = str(value).strip()
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}; got {value!r}")
        return mode
    if name in ("reply", "model"):
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    if name == "chunk_count":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        count = _non_negative(name, value)
        if count < 1 or count != int(count):
            raise ConfigError(f"chunk_count must be a positive integer or null, got {value!r}")
        return int(count)
    return _non_negative(name, value)


def updated_config(config: FakeLLMConfig, updates: Mapping[str, Any]) -> FakeLLMConfig:
    """Return a copy of ``config`` with ``updates`` applied; raise ConfigError if invalid."""
    unknown = sorted(set(updates) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(
            f"Unknown config field(s): {', '.join(unknown)}. Known fields: {', '.join(FIELD_NAMES)}"
        )
    return dataclasses.replace(
        config, **{name: _coerce(name, value) for name, value in updates.items()}
    )


def message_text(message: Any) -> str:
    """Text of one chat message; content may be a string or a list of content parts."""
    if not isinstance(message, Mapping):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message)
    return ""


def reply_paced(config: FakeLLMConfig, rng: random.Random) -> FakeLLMConfig:
    """The config one reply streams with: its own pace drawn from the configured range."""
    if config.tokens_per_second_max <= config.tokens_per_second:
        return config
    pace = rng.uniform(config.tokens_per_second, config.tokens_per_second_max)
    return dataclasses.replace(config, tokens_per_second=pace)


def apply_markers(config: FakeLLMConfig, text: str) -> FakeLLMConfig:
    """Apply ``[[field:value]]`` markers found in ``text``; bad markers are ignored.

    Ignoring (rather than rejecting) keeps a typo in a demo chat from turning into an
    HTTP error that looks like a fault mode.
    """
    for key, raw in MARKER_RE.findall(text):
        name = MARKER_ALIASES.get(key.lower(), key.lower())
        try:
            config = updated_config(config, {name: raw.strip()})
        except ConfigError as exc:
            logger.warning("Ignoring marker [[%s:%s]]: %s", key, raw, exc)
    return config
