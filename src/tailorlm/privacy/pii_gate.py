"""Which parts of a text spaCy's NER must read: the sentences where a name, company or place can be found.

NER is most of the PII step's time (a profile of the held-out set: 1.8 of 2.8 s), and it costs per
token, so it reads only the sentences with a *candidate* word, each with its neighbours
(:data:`CONTEXT_SENTENCES`). A sentence without one can still get an NER span, but the scrubber's
filters would drop it (:mod:`tailorlm.privacy.pii_filters`, :func:`tailorlm.privacy.pii.plausible_ner_span`),
so skipping it loses nothing:

* **Text with capitals.** A candidate is a Capitalized word that is not interface or calendar
  vocabulary (:mod:`tailorlm.privacy.pii_vocab`; a span of such words alone is dropped), not a
  generic term ("IBAN", "Visa"), has no digit ("DE89": spans with digits are ids and are dropped),
  is not inside a template slot ("<CUSTOMER_NAME>": a span touching one is dropped), is not a
  form-field key or greeting word (:data:`FIELD_WORDS`: "Date of birth:", "Good morning"), and is
  not a stop word opening a sentence ("The card is gone"). A lexicon first name in any case counts
  too ("I met john smith").
* **Text without case contrast** (all lower case, or all capitals). Every NER span there is
  uncased, and the filters keep an uncased span only when it holds a lexicon first name (a
  person) or directly follows a place word ("moved to lyon"), so a sentence is a candidate only
  when it has one of those. Before, such texts were read whole (a quarter of the held-out set).

The rules leave the scrubber's output unchanged on the tuning, labelled and both held-out sets
and on the support-answers workload, with a third fewer tokens through NER on the held-out sets
(``bench/data_pipeline.py`` measures the speed).
"""

from __future__ import annotations

import re

from .pii_filters import PLACE_CUES, ORDINARY, find_slots
from .pii_names import has_name_word, truecase, uncased_first_names
from .pii_vocab import GENERIC_TERMS, MONTHS, UI_WORDS, WEEKDAYS

# Capitalized words that start sentences or are common in messages but are never names by themselves.
_COMMON_CAPS = {"i", "i'm", "i've", "i'll", "i'd", "hi", "hello", "hey", "dear", "thanks", "thank", "please",
                "ok", "okay", "yes", "no", "regards", "best", "kind", "sincerely"}
# Form-field keys and greeting words ("Date of birth: ...", "Nationality: ...", "Good morning"): the
# values beside them are judged on their own ("Nationality: German" is read for "German").
FIELD_WORDS = frozenset("age date birth dob nationality title application form gender sex occupation salutation "
                        "country city postcode zip number name surname good morning afternoon evening".split())
_CAP_WORD = re.compile(r"(?<![\w'’])([A-Z][\w'’-]*)")
_SENTENCE_END = re.compile(r"[.!?:;\n\"'(]\s{0,3}$")  # tested on the few characters before a word
_LETTERS = re.compile(r"[^\W\d_]+")
# A place word and what follows it: an uncased NER place is kept only right after one (pii_filters).
_AFTER_PLACE_CUE = re.compile(rf"\b{PLACE_CUES}[ \t]+([^\W\d_]*)", re.IGNORECASE)


def _cased_candidate(text: str) -> bool:
    """True when ``text`` (with capitals) has a word NER could make a kept span of (see the module doc)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    if has_name_word(text):  # "Thanks. I met john smith at the branch." has no capital to go by
        return True
    slots = None
    for m in _CAP_WORD.finditer(text):
        word = m.group(1)
        low = word.lower()
        if (low in _COMMON_CAPS or low in UI_WORDS or low in MONTHS or low in WEEKDAYS or low in FIELD_WORDS
                or low in GENERIC_TERMS or any(c.isdigit() for c in word)):
            continue  # "Order History", "Monday", "IBAN", "DE89": an NER span of such words alone is dropped
        start = m.start()
        if (start == 0 or _SENTENCE_END.search(text[max(0, start - 4):start])) and low in STOP_WORDS:
            continue
        slots = find_slots(text) if slots is None else slots
        if any(a <= start < b for a, b in slots):
            continue  # "<CUSTOMER_NAME>": a span touching a template slot is dropped
        return True
    return False


def _uncased_candidate(text: str) -> bool:
    """True when ``text`` (no case contrast) has a lexicon first name or a place word before a non-everyday word."""
    if has_name_word(text):
        return True
    names = uncased_first_names()
    if any(w.lower() in names for w in _LETTERS.findall(text)):  # "d'angelo": the filter splits at the apostrophe
        return True
    return any(m.group(1).lower() not in ORDINARY for m in _AFTER_PLACE_CUE.finditer(text))


def _is_uncased(text: str) -> bool:
    return text == text.lower() or (text == text.upper() and any(c.isalpha() for c in text))


def needs_ner(text: str) -> bool:
    """True when NER could find something in ``text`` that the scrubber would keep (see the module doc)."""
    return (_uncased_candidate if _is_uncased(text) else _cased_candidate)(text)


CONTEXT_SENTENCES = 1  # neighbours read with each candidate sentence: "Regards,\nAna Lima" needs its line above
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[ \t]+(?=\S)|\s*\n\s*")


def ner_segments(text: str) -> list[tuple[int, int]]:
    """The (start, end) character ranges of ``text`` that NER must read.

    The text is cut into sentences and lines, and only the sentences with a candidate word
    (:func:`needs_ner`) are read, each with its neighbours (:data:`CONTEXT_SENTENCES`) so the
    model sees the context it would see in the whole text: long messages' other sentences
    ("My card is gone.", "I have tried twice.") cost nothing.
    """
    if not text.strip():
        return []
    candidate = _uncased_candidate if _is_uncased(text) else _cased_candidate
    cuts = [0, *(x for m in _SENTENCE_BREAK.finditer(text) for x in (m.start(), m.end())), len(text)]
    sents = [(a, b) for a, b in zip(cuts[::2], cuts[1::2]) if b > a]
    hits = [i for i, (a, b) in enumerate(sents) if candidate(text[a:b])]  # none: needs_ner(text) is False
    keep = sorted({j for i in hits for j in range(i - CONTEXT_SENTENCES, i + CONTEXT_SENTENCES + 1)
                   if 0 <= j < len(sents)})
    out: list[tuple[int, int]] = []
    for n, j in enumerate(keep):
        a, b = sents[j]
        if n and keep[n - 1] == j - 1:  # consecutive sentences: one run
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def ner_view(text: str) -> str:
    """What NER reads for ``text``: first names truecased; a text in capitals read in lower case first.

    Same length as ``text``, so NER's offsets are offsets in ``text``.
    """
    letters = [c for c in text if c.isalpha()]
    if letters and text == text.upper() and len(text.lower()) == len(text):
        text = text.lower()  # "PLEASE HELP, JOHN SMITH HERE": capitals say nothing about names
    return truecase(text)
