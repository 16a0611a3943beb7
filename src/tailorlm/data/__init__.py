"""The data stage: raw company data to a versioned, PII-scrubbed, deduplicated dataset with a card.

Entry point: :func:`tailorlm.data.prepare.prepare_dataset`. Modules follow the pipeline:
``ingest`` (files) -> ``formats`` (records) -> ``clean`` -> ``filters`` -> ``pii`` -> ``lengths``
-> ``dedup`` -> ``split`` -> ``write`` / ``card``; ``steps`` holds the per-record batch
functions that ``datasets.map`` (or Ray Data) runs.
"""

from .errors import DataError

__all__ = ["DataError", "prepare_dataset"]


def __getattr__(name: str):
    if name == "prepare_dataset":  # lazy: importing the package must not pull in datasets/presidio
        from .prepare import prepare_dataset

        return prepare_dataset
    raise AttributeError(name)
