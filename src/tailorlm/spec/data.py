"""The ``data:`` section: sources, field mapping and the curation steps."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Strict

SourceFormat = Literal["auto", "jsonl", "json", "csv", "tsv", "parquet", "text_folder"]
RecordFormat = Literal[
    "auto", "fields", "prompt_completion", "alpaca", "messages", "sharegpt", "preference", "text"
]


class SourceSpec(Strict):
    """One raw input.

    Attributes:
        path: file or folder, relative to ``tailor.yaml``.
        format: file format; ``auto`` decides by extension.
        records: record layout; ``auto`` detects it from the keys of the first records.
        split: put every record of this source in one split (``train``, ``validation`` or ``test``),
            e.g. a dataset's own test file, so results compare with published ones. Unmarked
            sources are split by ``data.split`` (without a test share when a source is marked
            ``test``, without a validation share when one is marked ``validation``). Records of a
            ``train`` source give the validation share when no source is marked ``validation``.
            A training record that duplicates (exactly or nearly) a test record is removed from
            training and counted in the card.
    """

    path: str
    format: SourceFormat = "auto"
    records: RecordFormat = "auto"
    split: Literal["train", "validation", "test"] | None = None


class FieldMap(Strict):
    """Which columns of a ``fields`` record hold the input text, the label/target and the id."""

    input: str = "text"
    label: str | None = "label"
    id: str | None = "id"


class CustomRecognizer(Strict):
    """A regex PII recognizer declared in the spec (e.g. an account number format)."""

    name: str
    entity: str
    pattern: str
    context: list[str] = []
    score: float = Field(default=0.85, ge=0.0, le=1.0)


class PIISpec(Strict):
    """PII scrubbing with Presidio.

    Attributes:
        entities: Presidio entity types to detect and replace with typed placeholders.
        custom: extra regex recognizers (account numbers, employee ids...).
        score_threshold: minimum detection score.
        entity_thresholds: per-entity minimum scores that override ``score_threshold``.
        allow: values that are never redacted (your own company or product names); the
            dataset's label vocabulary is always added.
        allow_patterns: regular expressions; a span that matches one whole is never redacted.
        ner: detect names, organisations and places with the packaged spaCy model.
        phone_regions: regions (ISO 3166 codes) whose phone formats are recognized without a
            country code; numbers with one (``+49 ...``, ``0049 ...``) are recognized for any region.
        keep_slots: template slots already in the data (``{{Order Number}}``, ``<ORDER_ID>``,
            ``[name]``) are never redacted or split; the data card counts them.
    """

    enabled: bool = True
    entities: list[str] = [
        "PERSON",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "IP_ADDRESS",
        "LOCATION",
        "ORGANIZATION",
        # GDPR personal data beyond Presidio's defaults; remove a type from the list to switch it off
        "STREET_ADDRESS",
        "POSTCODE",
        "DATE_OF_BIRTH",
        "AGE",
        "TITLE",
        "NATIONALITY",
    ]
    custom: list[CustomRecognizer] = []
    score_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    # Presidio scores a phone number 0.4 until a context word ("call", "phone") lifts it; phone
    # formats are specific enough to keep without one.
    entity_thresholds: dict[str, float] = {"PHONE_NUMBER": 0.4}
    allow: list[str] = Field(default=[], description="values never redacted, e.g. your company's name")
    allow_patterns: list[str] = Field(default=[], description="regexes; a span matching one whole is never redacted")
    ner: bool = Field(default=True, description="spaCy NER for PERSON/ORGANIZATION/LOCATION")
    phone_regions: list[str] = Field(
        default=["US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "PT", "PL", "SE", "NO", "DK", "FI", "IE",
                 "CZ", "HU", "RO", "TR", "IN", "AU", "NZ", "CA", "BR", "MX", "ZA", "NG", "KE"],
        description="ISO 3166 regions whose phone formats are recognized without a country code")
    keep_slots: bool = Field(default=True, description="never redact template slots such as {{Order Number}}")


COURTESY_PHRASES = (
    "thanks", "thank you", "thanks a lot", "thank you so much", "thanks so much", "many thanks", "thx", "ty",
    "cheers", "please", "pls", "plz", "hi", "hiya", "hello", "hey", "dear", "good morning", "good afternoon",
    "good evening", "morning", "regards", "kind regards", "best regards", "best",
)


class DedupSpec(Strict):
    """Deduplication.

    Attributes:
        exact: drop records whose normalized content hash was already seen.
        near: find near-duplicates with MinHash LSH (Jaccard over character n-grams).
        threshold: Jaccard similarity from which two records are near-duplicates.
        near_action: ``remove`` keeps one record per near-duplicate cluster; ``keep`` keeps all
            (the cluster then stays within one split).
        ignore_phrases: greetings and sign-offs left out of the near-duplicate comparison (they
            change no meaning but weigh a lot in a short message).
        edit_max_words: short texts (4 to this many words) that differ by one word substitution,
            insertion or deletion are near duplicates too, whatever their Jaccard similarity.
    """

    exact: bool = True
    near: bool = True
    threshold: float = Field(default=0.8, gt=0.0, le=1.0, description="MinHash Jaccard threshold")
    num_perm: int = Field(default=128, ge=16)
    ngram: int = Field(default=5, ge=1, description="character n-gram size of the shingles")
    near_action: Literal["remove", "keep"] = "remove"
    ignore_phrases: list[str] = Field(
        default=list(COURTESY_PHRASES), description="phrases ignored when comparing near-duplicates"
    )
    edit_max_words: int = Field(
        default=12, ge=0, description="texts of up to this many words one word apart are near duplicates (0: off)"
    )


class FilterSpec(Strict):
    min_chars: int = Field(default=1, ge=0)
    max_chars: int = Field(default=20000, ge=1)
    max_repetition: float = Field(default=0.5, gt=0.0, le=1.0)
    languages: list[str] = Field(default=[], description="ISO 639-1 codes to keep, e.g. [en]; empty = any")
    min_words_for_language: int = Field(default=4, ge=1, description="shorter texts skip the language filter")


class SplitSpec(Strict):
    validation: float = Field(default=0.1, ge=0.0, lt=1.0)
    test: float = Field(default=0.15, gt=0.0, lt=1.0)
    seed: int = 0
    stratify: bool = True


class DataSpec(Strict):
    """How raw company data becomes a dataset version.

    Attributes:
        sources: the raw inputs.
        fields: column mapping for ``fields`` records.
        max_seq_len: token budget for the example-specific part of one training example (its
            turns and answer, with the chat template). The instruction and label list that every
            prompt shares are counted once, separately, so many labels do not eat the budget.
        length_policy: what to do with a longer example: ``drop`` (quarantine it),
            ``truncate`` or ``error``; always counted and reported.
        num_proc: worker processes for the per-record steps (``datasets.map``).
    """

    sources: list[SourceSpec] = Field(min_length=1)
    fields: FieldMap = FieldMap()
    clean_html: bool = True
    fix_unicode: bool = True
    unicode_form: Literal["NFC", "NFKC"] = "NFC"
    pii: PIISpec = PIISpec()
    dedup: DedupSpec = DedupSpec()
    filters: FilterSpec = FilterSpec()
    split: SplitSpec = SplitSpec()
    max_seq_len: int = Field(default=256, ge=16)
    length_policy: Literal["drop", "truncate", "error"] = "drop"
    min_records: int = Field(default=10, ge=1)
    num_proc: int = Field(default=1, ge=1)
    batch_size: int = Field(default=1000, ge=1, description="records per datasets.map batch")
