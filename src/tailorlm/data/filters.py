"""Quality filters: small pure functions that return a reason to drop a record, or ``None``.

Each filter sees the record's content text (all its text fields joined) and the ``data.filters``
spec; :data:`FILTERS` lists them in the order they run, and every removal is counted by name.
"""

from __future__ import annotations

import functools
import re
from typing import Callable

_WORD = re.compile(r"\w+", re.U)


def repetition_ratio(text: str, n: int = 2) -> float:
    """Fraction of word n-grams that repeat an earlier n-gram (0 = no repetition, ~1 = one phrase looped)."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < 8:  # too short to judge: short messages repeat words naturally
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


@functools.lru_cache(maxsize=1)
def _langid():
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "data.filters.languages needs the 'py3langid' package (a bundled language-ID model): pip install py3langid"
        ) from exc
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) from py3langid's bundled model."""
    lang, prob = _langid().classify(text)
    return lang, float(prob)


def f_min_chars(text: str, spec) -> str | None:
    if len(text.strip()) < spec.min_chars:
        return f"{len(text.strip())} characters, below data.filters.min_chars={spec.min_chars}"
    return None


def f_max_chars(text: str, spec) -> str | None:
    if len(text) > spec.max_chars:
        return f"{len(text)} characters, above data.filters.max_chars={spec.max_chars}"
    return None


def f_repetition(text: str, spec) -> str | None:
    ratio = repetition_ratio(text)
    if ratio > spec.max_repetition:
        return f"repetition ratio {ratio:.2f} above data.filters.max_repetition={spec.max_repetition}"
    return None


def f_language(text: str, spec) -> str | None:
    if not spec.languages or len(_WORD.findall(text)) < spec.min_words_for_language:
        return None
    lang, prob = detect_language(text)
    if lang not in spec.languages:
        return f"language '{lang}' (p={prob:.2f}) not in data.filters.languages={spec.languages}"
    return None


FILTERS: dict[str, Callable[[str, object], str | None]] = {
    "max_chars": f_max_chars,  # first: a 5 MB record should not reach the slower filters
    "min_chars": f_min_chars,
    "repetition": f_repetition,
    "language": f_language,
}


def apply_filters(text: str, spec) -> tuple[str, str] | None:
    """(filter name, reason) of the first filter that rejects ``text``, else ``None``."""
    for name, fn in FILTERS.items():
        reason = fn(text, spec)
        if reason:
            return name, reason
    return None
