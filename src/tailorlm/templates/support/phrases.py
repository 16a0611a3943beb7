"""Phrase banks for the synthetic Northwind Bank support corpus, read from ``phrases.yaml``.

The wording lives in the data file next to this module (reviewed and extended on its own, comments
included); this module exposes each top-level key of it as a module constant, so the generator reads
``phrases.INTENT_PHRASES``, ``phrases.SLOT_VALUES``... The file's order is kept (the generator's
draws depend on it, and the corpus is reproducible byte for byte from its seed).
"""

from __future__ import annotations

from pathlib import Path

import yaml

_BANKS = yaml.load((Path(__file__).with_name("phrases.yaml")).read_text(encoding="utf-8"),
                   Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

INTENT_PHRASES: dict[str, dict[str, list[str]]] = _BANKS["INTENT_PHRASES"]
SLOT_VALUES: dict[str, list[str]] = _BANKS["SLOT_VALUES"]
CHAT_GREETINGS: list[str] = _BANKS["CHAT_GREETINGS"]
CHAT_NEUTRAL: list[str] = _BANKS["CHAT_NEUTRAL"]
CHAT_CLOSINGS: list[str] = _BANKS["CHAT_CLOSINGS"]
APP_PREFIXES: list[str] = _BANKS["APP_PREFIXES"]
APP_SUFFIXES: list[str] = _BANKS["APP_SUFFIXES"]
EMAIL_SALUTATIONS: list[str] = _BANKS["EMAIL_SALUTATIONS"]
EMAIL_OPENERS: list[str] = _BANKS["EMAIL_OPENERS"]
EMAIL_EXTRAS: list[str] = _BANKS["EMAIL_EXTRAS"]
EMAIL_CLOSING_REQUESTS: list[str] = _BANKS["EMAIL_CLOSING_REQUESTS"]
EMAIL_CLOSING_THANKS: list[str] = _BANKS["EMAIL_CLOSING_THANKS"]
EMAIL_SIGNOFFS: list[str] = _BANKS["EMAIL_SIGNOFFS"]
DECONTRACT: dict[str, str] = _BANKS["DECONTRACT"]
MISSPELLINGS: dict[str, str] = _BANKS["MISSPELLINGS"]
FIRST_NAMES: list[str] = _BANKS["FIRST_NAMES"]
LAST_NAMES: list[str] = _BANKS["LAST_NAMES"]
EMAIL_DOMAINS: list[str] = _BANKS["EMAIL_DOMAINS"]
AREA_CODES: list[str] = _BANKS["AREA_CODES"]
PII_SENTENCES: dict[str, list[str]] = _BANKS["PII_SENTENCES"]
NEAR_DUP_SWAPS: list[tuple[str, str]] = [(old, new) for old, new in _BANKS["NEAR_DUP_SWAPS"]]
END_PUNCT_ALTERNATIVES: dict[str, list[str]] = _BANKS["END_PUNCT_ALTERNATIVES"]
NUMERIC_CHOICES: dict[str, list[str]] = _BANKS["NUMERIC_CHOICES"]
