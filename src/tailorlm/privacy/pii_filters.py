"""What the scrubber must not redact: template slots, allowed phrases and patterns, NER guesses in lower case.

* **Template slots** already in the data (``{{Order Number}}``, ``{Website Name}``, ``<ORDER_ID>``,
  ``[name]``) are placeholders, not personal data: a span that touches one is dropped, so a slot is
  never redacted or split (``{<PERSON_1>}}`` was what came out before). The data card counts them.
* **Allowed values** (``data.pii.allow``): a phrase matches a span equal to it or, for NER spans,
  inside it as whole words (the company's own product names); ``data.pii.allow_patterns`` are
  regular expressions a span must match whole. The dataset's label vocabulary is added to the
  phrases (``address_update`` also as "address update"), so a class name is never redacted.
* **Cue words at a span's ends** (greetings, sign-offs, dashes: "Hello Kofi", "London Regards",
  "- Mei") are cut off NER spans, so the placeholder covers the name only.
* **NER in lower case.** spaCy's small model reads lower-case chat as a string of names and
  companies ("please urgent mobile problem" came out as an organisation). An NER span written all
  in lower case (or all in capitals) is kept only when it has a first name of the lexicon (a
  person) or follows a place word ("in", "from", "to", "moved to"...) and has no everyday word (a place).
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

SLOT = re.compile(r"\{\{[^{}\n]{1,60}\}\}|\{[A-Za-z_][\w .-]{0,40}\}|<[A-Za-z_][\w .-]{0,40}>|"
                  r"\[[^\W\d][^\[\]\n\d@]{0,40}\]")
PLACE_CUES = r"(?:in|from|to|at|near|moved to|live in|living in|based in|visiting|city of)"  # before a place
_PLACE_CUE = re.compile(rf"\b{PLACE_CUES}[ \t]+$",
                        re.IGNORECASE)
ORDINARY = frozenset("""
please urgent mobile problem address update visa card account bank help app phone fee fees refund payment order
transfer balance statement login password pin new old change issue error support service branch online money cash
loan credit debit charge limit help need want thanks thank hello hi dear team customer agent today tomorrow week
send post letter delivery deliver ship shipping address form details statement new card here please
team sir madam there all everyone support guys folks friend colleagues again
""".split())


def find_slots(text: str) -> list[tuple[int, int]]:
    """(start, end) of every template slot in ``text``; ``<PERSON_1>``-style placeholders count too."""
    return [m.span() for m in SLOT.finditer(text)]


def touches(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    """True when [start, end) overlaps or abuts one of ``spans`` ("{<PERSON_1>}}" must not happen)."""
    return any(start <= b and a <= end for a, b in spans)


def allow_phrases(allow: Iterable[str], labels: Iterable[str] = ()) -> list[str]:
    """The allow list with the label vocabulary added, each label also with spaces for ``_``/``-``."""
    out = [a for a in allow if a.strip()]
    for label in labels:
        label = str(label).strip()
        if label:
            out += [label, re.sub(r"[_-]+", " ", label)]
    return list(dict.fromkeys(out))


def is_allowed(value: str, phrases: Sequence[str], patterns: Sequence[re.Pattern]) -> bool:
    """True when ``value`` equals an allowed phrase (any case) or matches an allowed pattern whole."""
    low = value.strip().lower()
    return any(low == p.lower() for p in phrases) or any(p.fullmatch(value.strip()) for p in patterns)


def uncased(value: str) -> bool:
    """True when ``value`` has letters and no case contrast (all lower or all capitals)."""
    letters = [c for c in value if c.isalpha()]
    return bool(letters) and (value == value.lower() or value == value.upper())


def keep_uncased_ner(text: str, start: int, end: int, entity: str, names: frozenset[str]) -> bool:
    """Whether an NER span written in lower case or capitals is kept (see the module doc)."""
    words = re.findall(r"[^\W\d_]+", text[start:end].lower())
    if not words or any(w in ORDINARY for w in words):
        return False
    if entity == "PERSON":
        return any(w in names for w in words)
    if entity == "LOCATION":
        return bool(_PLACE_CUE.search(text[max(0, start - 20):start]))
    return False  # organisations and groups in lower case: too often ordinary words


_CUE_WORDS = frozenset("hello hi hey dear regards thanks cheers best kind sincerely".split())
_DASHES = " \t-–—,;:"
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’.-][^\W\d_]+)*")


def trim_edges(text: str, r) -> None:
    """Cut greetings, sign-offs and dashes off an NER span's ends, in place.

    "Hello Kofi" is a name after a greeting, "London Regards" a place before a sign-off and
    "- Mei" a signature: the NER model reads the cue words as part of the name. A span that is
    nothing but cue words is left as it is (the other filters drop it).
    """
    value = text[r.start:r.end]
    tokens = list(_NAME_WORD.finditer(value))
    words = [t.group(0).lower() for t in tokens]
    i, j = 0, len(tokens)
    while i < j and words[i] in _CUE_WORDS:
        i += 1
    while j > i and words[j - 1] in _CUE_WORDS:
        j -= 1
    if i == j:
        return
    a = tokens[i].start() if i else 0
    b = tokens[j - 1].end() if j < len(tokens) else len(value)
    a += len(value[a:b]) - len(value[a:b].lstrip(_DASHES))  # "- Mei": a signature's dash
    b -= len(value[a:b]) - len(value[a:b].rstrip(_DASHES))
    if b > a and (a, b) != (0, len(value)):
        r.start, r.end = r.start + a, r.start + b


def split_at_newlines(text: str, r) -> list:
    """An NER span across lines ("Anne-Lise Fuchs\nKäserstrasse") as one span per line."""
    value = text[r.start:r.end]
    if "\n" not in value or (r.recognition_metadata or {}).get("recognizer_name") != "SpacyRecognizer":
        return [r]
    from presidio_analyzer import RecognizerResult

    out, pos = [], r.start
    for line in value.split("\n"):
        a = pos + len(line) - len(line.lstrip())
        b = pos + len(line.rstrip())
        if b > a:
            out.append(RecognizerResult(r.entity_type, a, b, r.score, r.analysis_explanation, r.recognition_metadata))
        pos += len(line) + 1
    return out
