"""The sensitive-word filter, run on visitor input and on LLM output.

Matching is by substring (case-insensitive), never by whitespace tokens, so
Chinese words inside unspaced sentences are found. Masking keeps the text's
length, which lets a stream be masked piece by piece.
"""

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Literal

from helpdesk.config_versions import SENSITIVE_WORDS_SCOPE, config_version_get
from kb.models import SensitiveWord

logger = logging.getLogger(__name__)

Action = Literal["allow", "mask", "escalate", "block"]
_SEVERITY: dict[str, int] = {"allow": 0, "mask": 1, "escalate": 2, "block": 3}


@dataclass(frozen=True)
class CompiledWord:
    site_id: int | None
    pattern: re.Pattern[str]
    action: str
    word: str


@dataclass(frozen=True)
class ScreenResult:
    action: Action
    text: str
    matches: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return self.action != "allow"


class _WordCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = -1
        self._words: list[CompiledWord] = []

    def words(self) -> list[CompiledWord]:
        version = config_version_get(scope=SENSITIVE_WORDS_SCOPE)
        if version != self._version:
            with self._lock:
                self._words = list(_compile_all())
                self._version = version
        return self._words


def _compile_all():
    for word in SensitiveWord.objects.filter(enabled=True).only(
        "site_id", "word", "is_regex", "action"
    ):
        source = word.word if word.is_regex else re.escape(word.word)
        try:
            pattern = re.compile(source, re.IGNORECASE)
        except re.error:
            logger.warning("sensitive word %r is not a valid pattern; skipped", word.word)
            continue
        yield CompiledWord(
            site_id=word.site_id, pattern=pattern, action=word.action, word=word.word
        )


_cache = _WordCache()


class Screener:
    """One site's words, loaded once: a stream screens every delta without touching the cache."""

    def __init__(self, *, site_id: int | None, words: list[CompiledWord]) -> None:
        self.site_id = site_id
        self.words = [w for w in words if w.site_id is None or w.site_id == site_id]

    @classmethod
    def for_site(cls, *, site_id: int | None) -> "Screener":
        return cls(site_id=site_id, words=_cache.words())

    def screen(self, text: str) -> ScreenResult:
        """The strongest action any word asks for, and the text with mask words starred out."""
        action: Action = "allow"
        matches: list[str] = []
        masked = text
        for word in self.words:
            if not word.pattern.search(text):
                continue
            matches.append(word.word)
            if word.action == "mask":
                masked = word.pattern.sub(lambda m: "*" * len(m.group(0)), masked)
            if _SEVERITY[word.action] > _SEVERITY[action]:
                action = word.action  # type: ignore[assignment]
        return ScreenResult(action=action, text=masked, matches=tuple(matches))

    @property
    def holdback(self) -> int:
        """Trailing characters of a stream that could still be the start of a plain word."""
        return max(
            (len(w.word) for w in self.words if w.pattern.pattern == re.escape(w.word)), default=0
        )


def sensitive_text_screen(*, site_id: int | None, text: str) -> ScreenResult:
    return Screener.for_site(site_id=site_id).screen(text)
