"""Stops a reply that repeats the prompt's hidden parts (the Site's system prompt, the
KB fence) before any of it is shown: the cheapest defence against "print your
instructions". A model that paraphrases its prompt is not caught; one that
quotes it, as prompt-injected models do, is.
"""

import functools
from dataclasses import dataclass, field

WINDOW = 32
FENCE_MARKERS = ("<kb>", "</kb>", "<entry id=")


def _squeeze(text: str) -> str:
    return " ".join(text.split()).casefold()


# Every reply of a Site has the same prompt, and its windows' prefixes are tens of
# thousands of strings: built once per prompt and process, not once per reply.
@functools.lru_cache(maxsize=64)
def _prompt_windows(system_prompt: str) -> tuple[frozenset[str], frozenset[str]]:
    squeezed = _squeeze(system_prompt)
    windows: frozenset[str] = frozenset()
    if len(squeezed) >= WINDOW // 2:  # shorter: too short to tell a quote from chance
        size = min(WINDOW, len(squeezed))
        windows = frozenset(squeezed[i : i + size] for i in range(len(squeezed) - size + 1))
    prefixes = frozenset(
        text[:k] for text in (*windows, *FENCE_MARKERS) for k in range(1, len(text))
    )
    return windows, prefixes


@dataclass
class LeakGuard:
    secret_windows: frozenset[str]
    # Every proper prefix of a window or a fence marker: a reply ending in one
    # may be starting a quote, so that much of it is not shown yet.
    prefixes: frozenset[str] = field(default_factory=frozenset)
    checked: int = 0

    @classmethod
    def for_prompt(cls, system_prompt: str) -> "LeakGuard":
        windows, prefixes = _prompt_windows(system_prompt)
        return cls(secret_windows=windows, prefixes=prefixes)

    def holdback(self, raw: str) -> int:
        """How many trailing characters of `raw` could be the start of a quote."""
        tail = raw[-WINDOW:].casefold()
        for k in range(len(tail), 0, -1):
            if tail[-k:] in self.prefixes:
                return k
        return 0

    def leaked(self, raw: str) -> str:
        """The reason if `raw` (the reply so far) quotes the prompt; empty otherwise."""
        lowered = raw.casefold()
        if any(marker in lowered for marker in FENCE_MARKERS):
            return "KB fence markers in the reply"
        if not self.secret_windows:
            return ""
        squeezed = _squeeze(raw)
        size = len(next(iter(self.secret_windows)))
        # Only windows that end in text not yet checked can be new.
        start = max(0, self.checked - size + 1)
        for i in range(start, len(squeezed) - size + 1):
            if squeezed[i : i + size] in self.secret_windows:
                return "the reply quotes the system prompt"
        self.checked = max(self.checked, len(squeezed) - size + 1)
        return ""
