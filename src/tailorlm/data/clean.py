"""Cleaning: Unicode repair and normalization, HTML stripping, control characters, whitespace.

Each step is a small pure ``str -> str`` function; :func:`clean_text` runs the enabled ones in
order. They are applied to every text field of an example (message contents, completion, text,
chosen, rejected), never to labels beyond trimming.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Callable

import ftfy

_TAG = re.compile(r"<(?:script|style)\b[^>]*>.*?</(?:script|style)\s*>|<!--.*?-->|</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>",
                  re.S | re.I)
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.I)
_HTML_HINT = re.compile(r"</?[A-Za-z][A-Za-z0-9]*[\s/>]|&(?:[a-z]+|#\d+|#x[0-9a-f]+);", re.I)
# C0/C1 controls except \t \n \r, plus zero-width and bidi marks that hide text from reviewers.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")


def fix_unicode(text: str) -> str:
    """Repair mojibake (``cafÃ©`` -> ``café``) and odd encodings with ftfy."""
    return ftfy.fix_text(text, normalization=None)


def strip_html(text: str) -> str:
    """Remove tags (keeping line breaks for block tags) and unescape entities; plain text untouched."""
    if not _HTML_HINT.search(text):
        return text
    text = _BLOCK_TAG.sub("\n", text)
    text = _TAG.sub(" ", text)
    return html.unescape(text)


def strip_control(text: str) -> str:
    return _CONTROL.sub("", text)


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces, trim lines, keep at most one blank line, trim the ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def unicode_nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def unicode_nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


STEPS: dict[str, Callable[[str], str]] = {
    "fix_unicode": fix_unicode,
    "strip_html": strip_html,
    "strip_control": strip_control,
    "nfc": unicode_nfc,
    "nfkc": unicode_nfkc,
    "whitespace": normalize_whitespace,
}


def steps_for(clean_html: bool, unicode_form: str = "NFC", fix: bool = True) -> list[str]:
    """The ordered step names for a data spec."""
    names = ["fix_unicode"] if fix else []
    names += ["strip_html"] if clean_html else []
    names += ["strip_control", unicode_form.lower(), "whitespace"]
    return names


def clean_text(text: str, steps: list[str]) -> str:
    for name in steps:
        text = STEPS[name](text)
    return text


def clean_example(ex: dict, steps: list[str]) -> dict:
    """Clean every text field of a normalized example in place and return it."""
    ex["prompt"] = [{"role": m["role"], "content": clean_text(m["content"], steps)} for m in ex["prompt"]]
    for key in ("completion", "text", "chosen", "rejected"):
        if ex.get(key):
            ex[key] = clean_text(ex[key], steps)
    if ex.get("label") is not None:
        ex["label"] = ex["label"].strip()
    return ex
