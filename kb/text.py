"""Text normalisation shared by the matcher and the filter, Chinese included."""

import re
import unicodedata

_CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af])")
_SPACES = re.compile(r"\s+")


def strip_punctuation(text: str) -> str:
    return "".join(" " if unicodedata.category(ch).startswith(("P", "S")) else ch for ch in text)


def normalize(text: str) -> str:
    """Case-folded, NFKC (full-width to half-width), punctuation removed, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", strip_punctuation(text)).strip()


def tokenize_for_matching(text: str) -> str:
    """Normalised text where each CJK character is its own token.

    Chinese has no spaces between words, so whitespace tokens would make a
    whole sentence one token; single characters make token-based fuzzy
    scores meaningful for it while leaving other scripts' words intact.
    """
    return _SPACES.sub(" ", _CJK.sub(r" \1 ", normalize(text))).strip()


def contains_cjk(text: str) -> bool:
    return bool(_CJK.search(text))
