"""Realistic surface noise for customer messages: spelling variety, case, punctuation, typos, emoji."""

from __future__ import annotations

import random
import re

# British -> American; a message is written in one variety.
US_SPELLING = {
    "recognise": "recognize", "recognised": "recognized", "authorise": "authorize",
    "authorised": "authorized", "cancelled": "canceled", "cancellation": "cancelation",
    "travelling": "traveling", "cheque": "check", "cheques": "checks", "licence": "license",
    "mum": "mom", "colour": "color", "favourite": "favorite", "centre": "center",
    "spelt": "spelled", "enquire": "inquire", "flatmate": "roommate", "cashpoint": "ATM",
    "post": "mail", "organise": "organize", "unrecognised": "unrecognized",
}
_US = re.compile(r"\b(" + "|".join(sorted(US_SPELLING, key=len, reverse=True)) + r")\b")
KEYBOARD = "qwertyuiop asdfghjkl zxcvbnm"
EMOJI = ["🙁", "😡", "🙏", "😭", "😤", "👍", "🤔", "😕"]
SHORTHAND = {"you": "u", "your": "ur", "please": "pls", "thanks": "thx", "because": "cos",
             "are": "r", "what": "wat"}


def americanise(text: str) -> str:
    return _US.sub(lambda m: US_SPELLING[m.group(1)], text)


def _neighbour(c: str, rng: random.Random) -> str:
    row = next((r for r in KEYBOARD.split() if c in r), None)
    if not row:
        return c
    i = row.index(c)
    j = min(len(row) - 1, max(0, i + rng.choice([-1, 1])))
    return row[j]


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip inside a word of 4+ letters: swap, drop, double or neighbouring key."""
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", text)]
    if not words:
        return text
    m = rng.choice(words)
    w = m.group(0)
    i = rng.randrange(1, len(w) - 1)
    kind = rng.random()
    if kind < 0.3:
        w2 = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    elif kind < 0.6:
        w2 = w[:i] + w[i + 1:]
    elif kind < 0.75:
        w2 = w[:i] + w[i] + w[i:]
    else:
        w2 = w[:i] + _neighbour(w[i].lower(), rng) + w[i + 1:]
    return text[:m.start()] + w2 + text[m.end():]


def shorthand(text: str, rng: random.Random) -> str:
    return re.sub(r"\b(you|your|please|thanks|because|are|what)\b",
                  lambda m: SHORTHAND[m.group(1)] if rng.random() < 0.6 else m.group(1), text)


def apply(text: str, rng: random.Random) -> str:
    """Apply a random, realistic mix of noise to one message."""
    if rng.random() < 0.4:
        text = americanise(text)
    if rng.random() < 0.06:
        text = shorthand(text, rng)
    r = rng.random()
    if r < 0.3:
        text = text.lower()
    elif r < 0.33:
        text = text.upper()
    if rng.random() < 0.12:
        text = re.sub(r"[,.?!:;]", "", text)
    elif rng.random() < 0.15:
        text = text.rstrip(".?!")
    n_typos = rng.choices([0, 1, 2, 3], [0.62, 0.26, 0.09, 0.03])[0]
    for _ in range(n_typos):
        text = typo(text, rng)
    if rng.random() < 0.03:
        text += " " + rng.choice(EMOJI)
    if rng.random() < 0.03:
        text = text.rstrip("?") + rng.choice(["??", "???", "!!", "?!"])
    return re.sub(r"\s+", " ", text).strip()


def apply_light(text: str, rng: random.Random) -> str:
    """Lighter noise for longer prompts: spelling variety, sometimes lower case or one typo.

    Template slots (``{{...}}``, ``<...>``, ``[...]``) are left untouched.
    """
    if rng.random() < 0.4:
        text = americanise(text)
    if rng.random() < 0.2:
        text = re.sub(r"(\{\{[^}]*\}\}|<[^>]*>|\[[^\]]*\])|([^{<\[]+)",
                      lambda m: m.group(1) or m.group(2).lower(), text)
    if rng.random() < 0.25:
        slotless = re.sub(r"\{\{[^}]*\}\}|<[^>]*>", "", text)
        if slotless == text:
            text = typo(text, rng)
    return re.sub(r"\s+", " ", text).strip()
