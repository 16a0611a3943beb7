"""Text normalization shared by the stages: the word tokens that exact match, token F1, ROUGE,
the hallucination checks (evaluate) and the BM25 index (rag) all count the same way.

It lives outside both packages so retrieval does not import evaluation (and the reverse).
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Unicode NFKC, case-folded, punctuation removed, whitespace collapsed (for EM and token F1)."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(_WORD.findall(text))


def tokens(text: str) -> list[str]:
    """Word tokens of normalized text (Unicode letters and digits kept)."""
    return normalize_text(text).split()
