"""Presidio plumbing for the scrubber: the recognizer registry, the offline e-mail check, the context enhancer.

:func:`build_registry` assembles Presidio's predefined English recognizers (with the phone,
credit-card and IBAN ones replaced by :mod:`tailorlm.privacy.pii_recognizers`), the address and name
recognizers, and the spec's own; the other functions are the pieces it needs.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterable, Sequence

from .pii_address import address_recognizers
from .pii_intl_address import addresses
from .pii_names import name_cues
from .pii_recognizers import DEFAULT_PHONE_REGIONS, function_recognizers


def offline_email_recognizer():
    """Presidio's EmailRecognizer with tldextract reading its bundled suffix list (no network)."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str):  # noqa: D102 - same rule as upstream
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


# A name in a signature or self-introduction: NER often misses it because messages end
# "... reverse the fee. - Jamal Fitzgerald" or "Kind regards,\nChloe Friedman" with no sentence
# around the name. Presidio matches with IGNORECASE, so (?-i:...) keeps the capitalization test.
# Scores are above NER's 0.85 where the cue is unambiguous, so "my name is Ana Lima" stays a
# PERSON even when the small NER model calls it a place.
_NAME = r"(?-i:[A-Z][a-z]+(?:[ '-][A-Z][a-z]+){0,2})"
_FULL_NAME = r"(?-i:[A-Z][a-z]+(?:[ '-][A-Z][a-z]+){1,2})"  # two or three words: "Now" is not a name
PERSON_CUES: dict[str, tuple[str, float]] = {
    "sign_off": (r"(?<=\b(?:regards|thanks|thank you|cheers|sincerely|best wishes|best|yours|wishes|"
                 r"thanks again|many thanks)[,.!]?[ \t]*\n?[ \t]*)" + _NAME + r"(?=[ \t]*(?:\n|$))", 0.86),
    "dash_signature": (r"(?<=(?:^|\s)[-\u2013\u2014~][ \t]?)" + _FULL_NAME + r"(?=[ \t.!]*$)", 0.7),
    "my_name_is": (r"(?<=\bmy name is\s+)" + _NAME, 0.9),
    "introduction": (r"(?<=\b(?:this is|i am|i'm)\s+)" + _FULL_NAME + r"(?=\s*(?:[,.;!]|and\b|from\b|here\b|$))",
                     0.5),
}


def person_cue_recognizer():
    """Pattern recognizer for names in signatures and introductions (complements NER)."""
    from presidio_analyzer import Pattern, PatternRecognizer

    return PatternRecognizer(supported_entity="PERSON", name="PersonCueRecognizer", supported_language="en",
                             patterns=[Pattern(k, rx, score) for k, (rx, score) in PERSON_CUES.items()])


def custom_recognizers(custom: Iterable[Any]) -> list:
    """Pattern recognizers from the spec's ``data.pii.custom`` entries (regex + context words)."""
    from presidio_analyzer import Pattern, PatternRecognizer

    return [
        PatternRecognizer(supported_entity=c.entity, name=c.name, patterns=[Pattern(c.name, c.pattern, c.score)],
                          context=list(c.context) or None, supported_language="en")
        for c in custom
    ]


def build_registry(nlp_engine, custom: Iterable[Any] = (), phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS):
    """Presidio's predefined English recognizers (email made offline) plus tailorlm's and the spec's own.

    Presidio's phone and credit-card recognizers are replaced by the ones in
    :mod:`tailorlm.privacy.pii_recognizers` (phone numbers of ``phone_regions``, cards that fail Luhn).
    """
    from presidio_analyzer import RecognizerRegistry

    registry = RecognizerRegistry(supported_languages=["en"])
    with quiet("presidio-analyzer"):  # one INFO/WARNING line per recognizer otherwise
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
        for name in ("EmailRecognizer", "PhoneRecognizer", "CreditCardRecognizer", "IbanRecognizer"):
            registry.remove_recognizer(name)
    registry.add_recognizer(offline_email_recognizer())
    registry.add_recognizer(person_cue_recognizer())
    extra = [("NameCueRecognizer", ("PERSON",), name_cues),
             ("IntlAddressRecognizer", ("STREET_ADDRESS", "POSTCODE", "LOCATION"), addresses)]
    for rec in [*address_recognizers(), *function_recognizers(phone_regions, extra), *custom_recognizers(custom)]:
        registry.add_recognizer(rec)
    return registry


def context_enhancer():
    """Presidio's lemma context enhancer, run only on results whose recognizer has context words.

    Upstream deep-copies every result of every text before looking for context words; most of
    tailorlm's recognizers weigh their own context, so their results skip that copy (a tenth of the
    PII step's CPU time on dense texts).
    """
    from presidio_analyzer import RecognizerResult
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY

    class SelectiveEnhancer(LemmaContextAwareEnhancer):
        def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):  # noqa: D102
            with_context = {r.id for r in recognizers if getattr(r, "context", None)}
            needs = [r for r in raw_results if (r.recognition_metadata or {}).get(key) in with_context]
            if not needs:
                return list(raw_results)
            rest = [r for r in raw_results if (r.recognition_metadata or {}).get(key) not in with_context]
            return rest + super().enhance_using_context(text, needs, nlp_artifacts, recognizers, context)

    return SelectiveEnhancer()


@contextlib.contextmanager
def quiet(name: str):
    """Hold logger ``name`` at ERROR inside the block (Presidio logs one line per recognizer it loads)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
