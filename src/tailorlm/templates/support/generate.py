"""Deterministic synthetic customer-support corpus for the fictional Northwind Bank.

This is the example data set of ``tailorlm init DIR --template support``; the task on it is to
classify the intent of each customer message (see :data:`INTENTS`).

Every message is assembled from independent parts (greeting, neutral opener, intent core
sentence, intent context, request, closing) drawn from the banks in
:mod:`tailorlm.templates.support.phrases`, with slots (amounts, merchants, cities, dates,
devices, products), occasional typos and casing changes. The channel sets the register:
``chat`` is casual, ``email`` is longer and formal (salutation, paragraphs, sign-off), ``app`` is
terse. No two base messages are equal after lowercasing, removing punctuation and masking digits,
so no surface template dominates an intent.

Problems are planted on purpose, with exact ground truth, so the data checks and PII scrubbing
of a pipeline can be scored:

* PII in about 20% of messages: ``PERSON`` (full names), ``EMAIL_ADDRESS`` (example domains),
  ``PHONE_NUMBER`` (reserved 555-01XX numbers), ``CREDIT_CARD`` (Luhn-valid test-prefix numbers in
  4-4-4-4 groups) and ``ACCOUNT_NUMBER`` (``NWB-`` + 8 digits, or 8-10 bare digits after the word
  "account"). Counts are mentions in valid lines, so copies made by duplication count again. No
  other PII (street addresses, dates of birth...) is written, so nothing else needs scrubbing.
* Exact duplicates (~3%): an earlier message repeated verbatim under a new id.
* Near duplicates (~3%): an earlier message with one tiny edit (punctuation, a swapped word, an
  added "thanks", casing); the planted PII is left intact.
* Seven malformed lines: they fail ``json.loads`` or lack a usable ``text``/``intent``.

Output is a pure function of ``(n_messages, seed)``: only ``random.Random(seed)`` is used and no
set or hash order is iterated, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import os
import random
import re
import string
import tempfile
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tailorlm.templates.support import phrases as P

INTENTS: list[str] = [
    "card_lost", "card_declined", "transfer_money", "check_balance", "dispute_charge",
    "loan_inquiry", "mortgage_rate", "open_account", "close_account", "update_address",
    "reset_password", "atm_issue", "fee_refund", "travel_notice", "direct_deposit",
]
assert INTENTS == list(P.INTENT_PHRASES), "INTENTS and the phrase banks must list the same intents"

PII_TYPES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "ACCOUNT_NUMBER"]
CHANNELS = ["chat", "email", "app"]
_CHANNEL_WEIGHTS = [0.5, 0.22, 0.28]
# Chance that a message carries PII; email signatures make it likelier there.
_PII_RATE = {"chat": 0.2, "email": 0.34, "app": 0.08}
# Card numbers mostly turn up where a card is the subject.
_CARD_INTENTS = ["card_lost", "card_declined", "dispute_charge", "fee_refund", "travel_notice"]

# Each kind is one way real exports break; the reason is recorded in planted.json.
MALFORMED_KINDS: dict[str, str] = {
    "truncated_json": "truncated JSON: the line is cut off mid-record",
    "not_json": "not JSON: a CSV row pasted into the JSONL file",
    "python_repr": "not JSON: a Python dict repr with single quotes",
    "empty_text": "empty text field",
    "missing_intent": "record has no intent field",
    "missing_text": "record has no text field",
    "text_not_string": "text is a number instead of a string",
}

_START = datetime(2026, 1, 5, 8, 0, 0, tzinfo=timezone.utc)
_FORMATTER = string.Formatter()


# --- slots -------------------------------------------------------------------------------------

def _money(rng: random.Random, low: float, high: float, cents_p: float = 0.5) -> str:
    value = rng.uniform(low, high)
    return f"${value:,.2f}" if rng.random() < cents_p else f"${round(value):,}"


def _date_pair(rng: random.Random) -> tuple[str, str]:
    first = _START + timedelta(days=rng.randint(20, 200))
    second = first + timedelta(days=rng.randint(4, 25))
    return (f"{first:%B} {first.day}", f"{second:%B} {second.day}")


# How each numeric slot is drawn; slots with a fixed list of choices are in P.NUMERIC_CHOICES.
_NUMERIC_SLOTS = {
    "amount": lambda r: _money(r, *r.choice([(4, 80), (80, 600), (600, 3200)])),
    "small_amount": lambda r: f"${r.randrange(50, 450, 25)}",
    "atm_amount": lambda r: f"${r.randrange(20, 520, 20)}",
    "loan_amount": lambda r: f"${r.randrange(3000, 45000, 500):,}",
    "home_price": lambda r: f"${r.randrange(240, 950, 5) * 1000:,}",
    "score": lambda r: str(r.randrange(610, 815, 5)),
    "n_years": lambda r: str(r.randint(2, 25)),
    "last4": lambda r: f"{r.randint(0, 9999):04d}",
}


def _fill(template: str, rng: random.Random) -> str:
    values: dict[str, str] = {}
    for _, name, _, _ in _FORMATTER.parse(template):
        if not name or name in values:
            continue
        if name in ("date", "date2"):
            values["date"], values["date2"] = _date_pair(rng)
        elif name in P.SLOT_VALUES or name in P.NUMERIC_CHOICES:
            values[name] = rng.choice(P.SLOT_VALUES.get(name) or P.NUMERIC_CHOICES[name])
        else:
            values[name] = _NUMERIC_SLOTS[name](rng)
    return template.format(**values)


# --- surface noise -----------------------------------------------------------------------------

def _typo(text: str, rng: random.Random) -> str:
    """Introduce one realistic typo: a common misspelling or a slipped key in a lowercase word."""
    words = text.split(" ")
    known = [i for i, w in enumerate(words) if w.strip(".,!?'").lower() in P.MISSPELLINGS]
    if known and rng.random() < 0.5:
        i = rng.choice(known)
        core = words[i].strip(".,!?'")
        words[i] = words[i].replace(core, P.MISSPELLINGS[core.lower()], 1)
        return " ".join(words)
    # Only plain lowercase words: slot values (merchants, cities) are capitalised and stay intact.
    plain = [i for i, w in enumerate(words) if w.isalpha() and w.islower() and len(w) >= 5]
    if not plain:
        return text
    i = rng.choice(plain)
    w, j = words[i], rng.randrange(1, len(words[i]) - 1)
    # swapped neighbours, a dropped letter or a doubled one
    words[i] = rng.choice([w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j + 1:], w[:j] + w[j:]])
    return " ".join(words)


def _decontract(text: str) -> str:
    for short, full in P.DECONTRACT.items():
        text = re.sub(rf"(?<![\w']){re.escape(short)}(?![\w'])", full, text)
    return text


def _key(text: str) -> str:
    """Uniqueness key: case, punctuation and digits do not make a message new."""
    text = re.sub(r"\d+", "0", text.lower())
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


# --- composing messages ------------------------------------------------------------------------

def _compose(intent: str, channel: str, rng: random.Random) -> dict:
    """Build a PII-free draft: ``head`` / ``body`` / ``tail`` plus the casing style used."""
    bank = P.INTENT_PHRASES[intent]
    pick = lambda name: _fill(rng.choice(bank[name]), rng)  # noqa: E731
    if channel == "email":
        body = []
        if rng.random() < 0.55:
            body.append(rng.choice(P.EMAIL_OPENERS))
        body.append(pick("email"))
        for _ in range(rng.choice([0, 1, 1, 2])):
            sentence = pick("context")
            if sentence not in body:
                body.append(sentence)
        if rng.random() < 0.2:
            body.append(_fill(rng.choice(P.EMAIL_EXTRAS), rng))
        if rng.random() < 0.75:
            body.append(pick("ask"))
        tail = [rng.choice(P.EMAIL_CLOSING_THANKS)]
        if rng.random() < 0.5:
            tail.insert(0, rng.choice(P.EMAIL_CLOSING_REQUESTS))
        draft = {"head": rng.choice(P.EMAIL_SALUTATIONS), "body": " ".join(body),
                 "tail": " ".join(tail), "lower": False}
        if rng.random() < 0.75:  # most formal writers spell contractions out
            draft["body"], draft["tail"] = _decontract(draft["body"]), _decontract(draft["tail"])
        if rng.random() < 0.04:
            draft["body"] = _typo(draft["body"], rng)
        return draft

    if channel == "app":
        core = pick("app") if rng.random() < 0.8 else pick("chat")
        parts = [core]
        if rng.random() < 0.15:
            parts.insert(0, rng.choice(P.APP_PREFIXES))
        roll = rng.random()
        if roll < 0.3:
            parts.append(rng.choice(P.APP_SUFFIXES))
        elif roll < 0.5:
            parts.append(pick("ask").lower().rstrip("?.") if rng.random() < 0.5 else pick("ask"))
        text = " ".join(parts).replace(" ?", "?").replace(" !!", "!!")
        lower = rng.random() < 0.55
        if lower:
            text = text.lower()
        if rng.random() < 0.1:
            text = _typo(text, rng)
        return {"head": "", "body": text, "tail": "", "lower": lower}

    # chat
    head = ""
    if rng.random() < 0.55:
        head = rng.choice(P.CHAT_GREETINGS) + rng.choice([",", ",", "!", " -", "."])
    body = []
    if rng.random() < 0.15:
        body.append(rng.choice(P.CHAT_NEUTRAL))
    body.append(pick("chat"))
    if rng.random() < 0.45:
        body.append(pick("context"))
    if rng.random() < 0.4:
        body.append(pick("ask"))
    tail = rng.choice(P.CHAT_CLOSINGS) if rng.random() < 0.4 else ""
    # A core written without final punctuation still needs a full stop before the next sentence.
    body = [p if i == len(body) - 1 or p[-1] in ".!?" else p + "." for i, p in enumerate(body)]
    draft = {"head": head, "body": " ".join(body), "tail": tail, "lower": False}
    style = rng.random()
    if style < 0.2:
        draft = {k: (v.lower() if isinstance(v, str) else v) for k, v in draft.items()}
        draft["lower"] = True
    elif style < 0.22:  # the occasional all-caps, exasperated customer
        draft["body"] = draft["body"].upper()
    if rng.random() < 0.12:
        draft["body"] = _typo(draft["body"], rng)
    return draft


def _render(draft: dict, channel: str) -> str:
    if channel == "email":
        text = f"{draft['head']}\n\n{draft['body']}\n\n{draft['tail']}"
        if draft.get("signoff"):
            text += f"\n\n{draft['signoff']}"
        return text
    return " ".join(p for p in (draft["head"], draft["body"], draft["tail"]) if p)


# --- PII ---------------------------------------------------------------------------------------

def _ascii(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if c.isascii() and c.isalnum())


def _luhn_complete(partial: str) -> str:
    """Append the Luhn check digit to a 15-digit string."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return partial + str((10 - total % 10) % 10)


def _pii_value(kind: str, person: tuple[str, str], rng: random.Random) -> str:
    first, last = person
    if kind == "PERSON":
        return f"{first} {last}"
    if kind == "EMAIL_ADDRESS":
        f, l = _ascii(first).lower(), _ascii(last).lower()
        local = rng.choice([f"{f}.{l}", f"{f}{l}", f"{f[0]}.{l}", f"{f}_{l}{rng.randint(1, 99)}",
                            f"{f}{rng.randint(10, 9999)}", f"{l}.{f[0]}"])
        return f"{local}@{rng.choice(P.EMAIL_DOMAINS)}"
    if kind == "PHONE_NUMBER":
        area, line = rng.choice(P.AREA_CODES), f"01{rng.randint(0, 99):02d}"
        return rng.choice([f"({area}) 555-{line}", f"{area}-555-{line}", f"+1 {area} 555 {line}",
                           f"{area}.555.{line}", f"+1 ({area}) 555-{line}"])
    if kind == "CREDIT_CARD":
        number = _luhn_complete(rng.choice(["4111", "4000", "5500", "5105"])
                                + "".join(str(rng.randint(0, 9)) for _ in range(11)))
        sep = rng.choice([" ", "-"])
        return sep.join(number[i:i + 4] for i in range(0, 16, 4))
    if kind == "ACCOUNT_NUMBER":
        if rng.random() < 0.5:
            return f"NWB-{rng.randint(0, 99_999_999):08d}"
        n = rng.choice([8, 9, 10])
        return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))
    raise KeyError(kind)


def _sentence(key: str, value: str, lower: bool, rng: random.Random) -> str:
    template = rng.choice(P.PII_SENTENCES[key])
    if lower:  # match the message's casing, but people still type their details as they are
        template = template.lower()
    return template.replace("{v}", value)


def _attach(draft: dict, part: str, sentence: str, front: bool = False) -> None:
    pieces = [sentence, draft[part]] if front else [draft[part].rstrip(), sentence]
    draft[part] = " ".join(p for p in pieces if p)


def _plant_pii(draft: dict, channel: str, intent: str, rng: random.Random) -> list[tuple[str, str]]:
    """Add 1-3 PII mentions to ``draft`` in place; return ``[(type, value), ...]``."""
    weights = [4, 3, 3, 3 if intent in _CARD_INTENTS else 1, 2]
    n = rng.choices([1, 2, 3], weights=[65, 27, 8])[0]
    kinds = ["PERSON"] if channel == "email" and rng.random() < 0.6 else []  # emails get signed
    while len(kinds) < n:
        kind = rng.choices(PII_TYPES, weights=weights)[0]
        if kind not in kinds:
            kinds.append(kind)
    kinds.sort(key=PII_TYPES.index)  # fixed insertion order keeps the message readable
    person = (rng.choice(P.FIRST_NAMES), rng.choice(P.LAST_NAMES))
    lower, planted = draft["lower"], []
    for kind in kinds:
        value = _pii_value(kind, person, rng)
        planted.append((kind, value))
        if channel == "email":
            if kind == "PERSON" and rng.random() < 0.75:
                draft["signoff"] = f"{rng.choice(P.EMAIL_SIGNOFFS)},\n{value}"
            elif kind == "PERSON":
                intro = _sentence("PERSON_email_intro", value, False, rng)
                _attach(draft, "body", intro, front=True)
            else:  # contact details go with the closing lines, numbers into the request itself
                part = "tail" if kind in ("EMAIL_ADDRESS", "PHONE_NUMBER") else "body"
                sentence = _sentence(kind + "_email", value, False, rng)
                _attach(draft, part, sentence, front=part == "tail")
        elif kind == "PERSON" and channel == "app":
            _attach(draft, "tail", _sentence("PERSON_app", value, lower, rng))
        elif kind == "PERSON" and rng.random() < 0.5:
            intro = _sentence("PERSON_intro", value, lower, rng)
            if draft["head"].endswith((",", "-")) and not intro.startswith(value):
                intro = intro[0].lower() + intro[1:]  # "Hi, this is ..." not "Hi, This is ..."
            _attach(draft, "head", intro)
        elif kind == "PERSON":
            _attach(draft, "tail", _sentence("PERSON_outro", value, lower, rng))
        else:
            _attach(draft, "body", _sentence(kind, value, lower, rng))
    return planted


# --- duplicates and malformed lines ------------------------------------------------------------

def _near_edit(text: str, protected: list[str], rng: random.Random) -> str:
    """Return ``text`` with one tiny edit that leaves every protected (PII) substring intact."""
    spans = [(m.start(), m.end()) for v in protected for m in re.finditer(re.escape(v), text)]
    free = lambda a, b: all(b <= s or a >= e for s, e in spans)  # noqa: E731
    ends_with_pii = any(text.rstrip(".").endswith(v) for v in protected)
    ops = ["swap", "swap", "comma"]
    if not ends_with_pii:
        ops.append("punct")
        if "\n" not in text:  # a trailing "thanks" after an email's closing lines would read oddly
            ops += ["thanks", "thanks"]
    if not protected:
        ops += ["lower", "lower"]
    elif free(0, 1) and text[:1].isalpha():
        ops.append("first_case")
    rng.shuffle(ops)
    for op in ops:
        out = text
        if op == "swap":
            options = [(m, new) for old, new in P.NEAR_DUP_SWAPS
                       for m in re.finditer(rf"(?<![\w']){re.escape(old)}(?![\w'])", text)
                       if free(m.start(), m.end())]
            if options:
                m, new = rng.choice(options)
                out = text[:m.start()] + new + text[m.end():]
        elif op == "comma":
            commas = [i for i, c in enumerate(text) if c == "," and free(i, i + 1)]
            if commas:
                i = rng.choice(commas)
                out = text[:i] + text[i + 1:]
        elif op == "punct":
            stripped = text.rstrip(".!? ")
            end = text[len(stripped):].strip()[-1:]
            out = stripped + rng.choice(P.END_PUNCT_ALTERNATIVES[end])
        elif op == "thanks":
            out = text.rstrip() + " " + rng.choice(["thanks!", "Thanks!", "thank you", "ty"])
        elif op == "lower":
            out = text.lower() if text != text.lower() else text.capitalize()
        elif op == "first_case":
            out = (text[0].lower() if text[0].isupper() else text[0].upper()) + text[1:]
        if out != text:
            return out
    return text.rstrip() + " thanks"


def _malformed_line(kind: str, record: dict, rng: random.Random) -> str:
    rec = dict(record)
    if kind == "truncated_json":
        full = json.dumps(rec, ensure_ascii=False)
        start = full.index('"text": "') + len('"text": "')
        return full[:start + max(4, len(rec["text"]) // 2)]
    if kind == "not_json":
        text = rec["text"].replace('"', '""')
        return f'{rec["id"]},{rec["channel"]},"{text}",{rec["intent"]},{rec["created_at"]}'
    if kind == "python_repr":
        return repr(rec)
    if kind == "empty_text":
        rec["text"] = ""
    elif kind == "missing_intent":
        del rec["intent"]
    elif kind == "missing_text":
        del rec["text"]
    elif kind == "text_not_string":
        rec["text"] = rng.randint(10_000, 99_999)
    return json.dumps(rec, ensure_ascii=False)


def is_valid_line(line: str) -> bool:
    """True when ``line`` is a JSON object with a non-empty string ``text`` and a known intent."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return False
    return (isinstance(obj, dict) and isinstance(obj.get("text"), str) and bool(obj["text"].strip())
            and obj.get("intent") in INTENTS)


# --- corpus ------------------------------------------------------------------------------------

def generate_corpus(n_messages: int = 2400, seed: int = 13) -> tuple[list[dict], dict]:
    """Generate the corpus in memory.

    Args:
        n_messages: Total number of lines, malformed and duplicated ones included (>= 200).
        seed: Seed of the only random source; equal arguments give identical output.

    Returns:
        ``(rows, planted)``. ``rows`` has one entry per output line, in order: ``{"record": {...}}``
        for a well-formed record or ``{"raw": "..."}`` for a malformed line, each with ``"pii"``
        (a list of ``[type, value]``). ``planted`` is the ground truth written to
        ``planted.json``; its ``malformed_reasons`` keys are line numbers as strings, so the
        returned dict equals the file's contents.
    """
    if n_messages < 200:
        raise ValueError("n_messages must be at least 200")
    rng = random.Random(seed)
    n_exact = n_near = round(n_messages * 0.03)
    n_bad = len(MALFORMED_KINDS)
    n_base = n_messages - n_exact - n_near - n_bad
    # The first lines are always fresh messages so that every copy has an earlier source.
    head = 30
    plan = ["exact"] * n_exact + ["near"] * n_near + ["bad"] * n_bad + ["base"] * (n_base - head)
    rng.shuffle(plan)
    plan = ["base"] * head + plan
    bad_kinds = list(MALFORMED_KINDS)
    rng.shuffle(bad_kinds)
    # Mildly unbalanced classes, as in real traffic.
    intent_weights = [rng.uniform(0.8, 1.25) for _ in INTENTS]

    seen_keys: set[str] = set()
    seen_texts: set[str] = set()
    sources: list[int] = []  # rows of fresh, valid messages not yet copied
    rows: list[dict] = []
    copies: dict[str, dict[str, str]] = {"exact": {}, "near": {}}  # copy id -> source id
    bad_reasons: dict[str, str] = {}
    clock = _START

    def fresh(intent: str, channel: str, allow_pii: bool) -> tuple[str, str, list]:
        for attempt in range(400):
            # Terse app phrasings run out first; fall back to chat rather than repeat them.
            ch = channel if attempt < 60 else "chat"
            draft = _compose(intent, ch, rng)
            key = _key(_render(draft, ch))
            if key not in seen_keys:
                seen_keys.add(key)
                pii = []
                if allow_pii and rng.random() < _PII_RATE[ch]:
                    pii = _plant_pii(draft, ch, intent, rng)
                return _render(draft, ch), ch, pii
        raise RuntimeError(f"phrase banks exhausted for {intent}")

    for line_no, kind in enumerate(plan, start=1):
        clock += timedelta(seconds=rng.randint(20, 5400))
        rid, created = f"msg-{line_no:05d}", clock.strftime("%Y-%m-%dT%H:%M:%SZ")
        if kind in ("exact", "near"):
            src = rows[sources.pop(rng.randrange(len(sources)))]
            text = src["record"]["text"]
            if kind == "near":
                text = _near_edit(text, [v for _, v in src["pii"]], rng)
                while text in seen_texts:
                    text = text.rstrip() + " thanks"
                seen_texts.add(text)
            record = dict(src["record"], id=rid, text=text, created_at=created)
            rows.append({"record": record, "pii": list(src["pii"])})
            copies[kind][rid] = src["record"]["id"]
            continue
        intent = rng.choices(INTENTS, weights=intent_weights)[0]
        # Malformed lines use chat text (a single line), so a CSV row or repr stays on one line.
        channel = "chat" if kind == "bad" else rng.choices(CHANNELS, weights=_CHANNEL_WEIGHTS)[0]
        text, channel, pii = fresh(intent, channel, allow_pii=(kind == "base"))
        record = {"id": rid, "text": text, "intent": intent, "channel": channel,
                  "created_at": created}
        if kind == "bad":
            reason = bad_kinds.pop()
            raw = _malformed_line(reason, record, rng)
            assert not is_valid_line(raw)
            rows.append({"raw": raw, "pii": []})
            bad_reasons[str(line_no)] = MALFORMED_KINDS[reason]
        else:
            seen_texts.add(text)
            sources.append(len(rows))
            rows.append({"record": record, "pii": pii})

    valid = [row for row in rows if "record" in row]
    pii_rows = [row for row in valid if row["pii"]]
    for row in pii_rows:
        assert all(v in row["record"]["text"] for _, v in row["pii"]), row["record"]["id"]
    planted = {
        "n_lines": len(rows),
        "n_valid_records": len(valid),
        "intent_counts": {i: sum(r["record"]["intent"] == i for r in valid) for i in INTENTS},
        "pii": {t: sum(k == t for r in pii_rows for k, _ in r["pii"]) for t in PII_TYPES},
        "pii_record_ids": [r["record"]["id"] for r in pii_rows],
        "pii_by_record": {r["record"]["id"]: [[k, v] for k, v in r["pii"]] for r in pii_rows},
        "exact_duplicate_ids": list(copies["exact"]),
        "exact_duplicate_of": copies["exact"],
        "near_duplicate_ids": list(copies["near"]),
        "near_duplicate_of": copies["near"],
        "malformed_lines": [int(no) for no in bad_reasons],
        "malformed_reasons": bad_reasons,
    }
    return rows, planted


def _atomic_write(path: Path, content: str) -> None:
    """Write via a temp file in the same directory, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(content)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the data is meant to be shared and read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_corpus(out_dir: Path, n_messages: int = 2400, seed: int = 13) -> dict:
    """Write ``out_dir/data/messages.jsonl`` and ``out_dir/data/planted.json``.

    Args:
        out_dir: Project directory; ``data/`` is created under it.
        n_messages: Total number of lines (see :func:`generate_corpus`).
        seed: Random seed.

    Returns:
        The planted ground-truth dict, as written to ``planted.json``.
    """
    rows, planted = generate_corpus(n_messages=n_messages, seed=seed)
    lines = [row["raw"] if "raw" in row else json.dumps(row["record"], ensure_ascii=False)
             for row in rows]
    data = Path(out_dir) / "data"
    _atomic_write(data / "messages.jsonl", "\n".join(lines) + "\n")
    _atomic_write(data / "planted.json", json.dumps(planted, indent=2, ensure_ascii=False) + "\n")
    return planted
