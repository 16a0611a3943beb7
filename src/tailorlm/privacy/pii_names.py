"""Names however they are typed: a first-name lexicon, truecasing for NER, and cue patterns.

spaCy's small English model finds "John Smith" but not "john smith" or "JOHN SMITH", and the
NER prefilter skipped sentences without a capital ("Thanks. I met john smith at the branch.").
Three detectors are combined:

* **Lexicon.** First names of about 50 countries from the ``gender-guesser`` package (61k names,
  offline), less English stop words and the common words that are also names
  (:data:`COMMON_WORDS`: "will", "may", "grace", "visa"...).
* **Truecasing.** Before NER reads a sentence, a lexicon first name written in lower case or in
  capitals, and the word after it, are written with a capital (same length, so offsets hold):
  the model then decides from the context whether "John Smith" is a person.
* **Cues** (:func:`name_cues`): a lexicon first name after a greeting ("hi maria"), alone on the
  line after a sign-off ("regards,\\nmaria lopez"), after "my name is", and the value of a form's
  ``Name:`` field, in any case.
"""

from __future__ import annotations

import functools
import re

from .pii_recognizers import Span

# Names in the lexicon that are everyday words in support messages: never a name by themselves.
COMMON_WORDS = frozenset("""
age ago art beat bill boy carry chance deep door fine floor free general gun guy hope job key line long lot major man
night ok price red rich rock run save son song soon spring summer tell way win young will may mark grace june april
august chase dean frank max jack sun sky star ray rose penny joy faith amber crystal iris lily violet holly ivy pearl
ruby jade dawn eve sunny hi paris china india georgia virginia carolina cash bank card pin app code pay bar tan van de la
le di da del von mo ma pa su un al el en es et li mi ne no nu or se si so ta te to tu ur us ya yo ye page hall case
charge charges sale sales post wire transfer fee fees rate loan help home online mobile phone call email mail text
visa amex delta royal golden silver happy lucky honey sugar candy cookie baby angel sweet
mall shop store branch bond jean jersey marsh moon nova pat pierre rocky sandy sterling storm sonny stone tiny victory will wood worth
""".split())
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")  # O'Connor, Jean-Pierre: one word
GREETINGS = r"(?:hi|hello|hey|dear|hiya|morning|good morning|good afternoon|good evening|thanks|thank you|cheers)"
SIGN_OFFS = (r"(?:regards|kind regards|best regards|warm regards|best wishes|best|thanks|thank you|many thanks|cheers|"
             r"sincerely|yours sincerely|yours faithfully|yours|respectfully|take care|love)")
_NAME_FIELD = re.compile(r"^[ \t]*(?:name|full name|first name|last name|surname|given name|family name|"
                         r"account holder|card ?holder|customer name|nombre|nom|prénom|vorname|nachname|cognome)"
                         r"[ \t]*:[ \t]*([^\W\d_][^\n\d@:]{0,60}?)[ \t]*$", re.IGNORECASE | re.MULTILINE)


@functools.lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Lower-case first names from ``gender-guesser``'s list, less stop words and :data:`COMMON_WORDS`."""
    from spacy.lang.en.stop_words import STOP_WORDS

    try:
        import gender_guesser.detector as gd
    except ImportError:  # the names lexicon is optional: NER and the patterns still run
        return frozenset()
    names = gd.Detector(case_sensitive=False).names
    return frozenset(n for n in names if len(n) >= 2 and n.isalpha() and n not in STOP_WORDS and n not in COMMON_WORDS)


@functools.lru_cache(maxsize=1)
def uncased_first_names() -> frozenset[str]:
    """The first names that count in lower case or capitals: less :data:`~tailorlm.privacy.pii_vocab.LOWER_CASE_ORDINARY`."""
    from .pii_vocab import LOWER_CASE_ORDINARY

    return first_names() - LOWER_CASE_ORDINARY


PARTICLES = frozenset("de da di do dos das del della van von der den ter ten du le la mac mc bin ibn al el st".split())


def _deaccent(word: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


@functools.lru_cache(maxsize=1 << 16)  # called per word, several times per text
def is_first_name(word: str) -> bool:
    """True when ``word`` (any case, accents or not: "Pénélope") is a lexicon first name.

    A name that is also an everyday word ("said", "mat": :func:`uncased_first_names`) counts only
    when written Capitalized.
    """
    cased = word[:1].isupper() and not word.isupper()
    names, low = first_names() if cased else uncased_first_names(), word.lower()
    if "-" in low:  # "jean-pierre": a name when its first part is
        low = low.split("-")[0]
    return low in names or _deaccent(low) in names


def _plain(word: str) -> bool:
    from spacy.lang.en.stop_words import STOP_WORDS

    low = word.lower()
    return len(word) >= 2 and low not in STOP_WORDS and low not in COMMON_WORDS


def _capitalized_in_cased(text: str, word: str) -> bool:
    """A Capitalized word (not a stop word) in a text with lower-case words: "Gillian Hall here"."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return word[:1].isupper() and not word.isupper() and word.lower() not in STOP_WORDS and text != text.upper()


def has_name_word(text: str) -> bool:
    """True when a word of ``text``, in any case, is a lexicon first name."""
    return any(is_first_name(m.group(0)) for m in _WORD.finditer(text))


def truecase(text: str) -> str:
    """``text`` with lexicon first names and the word after each written Capitalized (same length).

    Only words in lower case or all capitals change; the result is for NER's eyes only.
    """
    names = first_names()
    if not names:
        return text
    chars = list(text)
    words = list(_WORD.finditer(text))
    for i, m in enumerate(words):
        w = m.group(0)
        if not (w.islower() or w.isupper()) or not is_first_name(w):
            continue
        targets = [m]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt and text[m.end():nxt.start()] in (" ", "-") and _plain(nxt.group(0)):
            targets.append(nxt)
        for t in targets:
            word = t.group(0)
            cap = word[0].upper() + word[1:].lower()
            if len(cap) == len(word):
                chars[t.start():t.end()] = cap
    return "".join(chars)


def _name_after(text: str, pos: int, names: frozenset[str], max_words: int = 3) -> tuple[int, int] | None:
    """The name starting at ``pos`` (a lexicon first name, then up to ``max_words - 1`` plain words)."""
    words: list = []
    for m in _WORD.finditer(text, pos):
        w = m.group(0)
        if words and (text[words[-1].end():m.start()] not in (" ", "-") or
                      not (_plain(w) or w.lower() in PARTICLES or _capitalized_in_cased(text, w))):
            break
        if not words and (m.start() != pos or not is_first_name(w)):
            return None
        words.append(m)
        if len(words) == max_words + 1:
            break
    while words and words[-1].group(0).lower() in PARTICLES:  # "olivier de" + "wolf": a particle never ends a name
        words.pop()
    return (words[0].start(), words[-1].end()) if words else None


_LINE_NAME = re.compile(r"[^\W\d_][\w'’.-]*(?:[ \t]+[^\W\d_][\w'’.-]*){0,3}")


def line_name(text: str, start: int, end: int) -> bool:
    """True when text[start:end] can be a name on a line of its own: 1-4 words, no stop or everyday word."""
    from spacy.lang.en.stop_words import STOP_WORDS

    from .pii_filters import ORDINARY

    piece = text[start:end]
    if not _LINE_NAME.fullmatch(piece):
        return False
    words = [w.lower() for w in piece.split()]
    return not any((w in STOP_WORDS and w not in PARTICLES) or w in ORDINARY for w in words)


_GREETING = re.compile(rf"(?:^|(?<=[\s,.!]))({GREETINGS})[ \t]*,?[ \t]+(?=[^\W\d_])", re.IGNORECASE)
_SIGN_OFF = re.compile(rf"(?:^|(?<=\n))[ \t]*({SIGN_OFFS})[ \t]*[,.!]?[ \t]*\n+[ \t]*(?=[^\W\d_])", re.IGNORECASE)
_GREETING_LINE = re.compile(rf"(?:^|(?<=\n))[ \t]*{GREETINGS}[ \t]+([^\W\d_][\w'’-]*(?:[ \t]+[^\W\d_][\w'’-]*)?)"
                            r"[ \t]*[,!]", re.IGNORECASE)
_INTRO = re.compile(r"\b(?:my name is|my name's|name is|this is|i am|i'm|it's|its|met|spoke to|spoke with|"
                    r"talked to|talking to|talked with|from|signed,?|regards from)[ \t]+(?=[^\W\d_])", re.IGNORECASE)


def name_cues(text: str) -> list[Span]:
    """Names found by cue, whatever their case: after greetings, sign-offs and "my name is"; ``Name:`` fields."""
    names = first_names()
    out: list[Span] = []
    # Scores above NER's 0.85: Presidio keeps one of two equal spans, and an NER span in lower case
    # without a lexicon name is dropped later (pii_filters), so the cue's copy must be the one kept.
    for rx, score in ((_GREETING, 0.86), (_SIGN_OFF, 0.88), (_INTRO, 0.7)):
        for m in rx.finditer(text):
            span = _name_after(text, m.end(), names) if names else None
            if span:
                out.append(("PERSON", span[0], span[1], score))
    for m in _NAME_FIELD.finditer(text):
        out.append(("PERSON", m.start(1), m.end(1), 0.9))
    for m in _SIGN_OFF.finditer(text):  # the line after a sign-off is the writer's name, lexicon or not
        eol = text.find("\n", m.end())
        eol = len(text) if eol < 0 else eol
        b = m.end() + len(text[m.end():eol].rstrip(" \t.,!"))
        if line_name(text, m.end(), b):
            out.append(("PERSON", m.end(), b, 0.87))
    for m in _GREETING_LINE.finditer(text):  # "Hello Lascăr," - a greeting, one or two words, a comma
        # in a text with capitals, a name outside the lexicon has one too ("Hi thrre," is a typo)
        word = m.group(1)
        if text != text.lower() and not word[:1].isupper() and not is_first_name(word.split()[0]):
            continue
        if line_name(text, m.start(1), m.end(1)):
            out.append(("PERSON", m.start(1), m.end(1), 0.86))
    return out
