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
    """

    path: str
    format: SourceFormat = "auto"
    records: RecordFormat = "auto"


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
    ]
    custom: list[CustomRecognizer] = []
    score_threshold: float = Field(default=0.5, ge=0.0, le=1.0)


class DedupSpec(Strict):
    exact: bool = True
    near: bool = True
    threshold: float = Field(default=0.8, gt=0.0, le=1.0, description="MinHash Jaccard threshold")
    num_perm: int = Field(default=128, ge=16)


class FilterSpec(Strict):
    min_chars: int = Field(default=1, ge=0)
    max_chars: int = Field(default=20000, ge=1)
    max_repetition: float = Field(default=0.5, gt=0.0, le=1.0)
    languages: list[str] = []


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
        max_seq_len: token budget for one example once the chat template is applied.
        length_policy: what to do with a longer example: ``drop`` (quarantine it),
            ``truncate`` or ``error``; always counted and reported.
        num_proc: worker processes for the per-record steps (``datasets.map``).
    """

    sources: list[SourceSpec] = Field(min_length=1)
    fields: FieldMap = FieldMap()
    clean_html: bool = True
    pii: PIISpec = PIISpec()
    dedup: DedupSpec = DedupSpec()
    filters: FilterSpec = FilterSpec()
    split: SplitSpec = SplitSpec()
    max_seq_len: int = Field(default=256, ge=16)
    length_policy: Literal["drop", "truncate", "error"] = "drop"
    min_records: int = Field(default=10, ge=1)
    num_proc: int = Field(default=1, ge=1)
