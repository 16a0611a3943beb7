"""Tests of the synthetic Northwind Bank support corpus (the ``support`` template's example data).

The planted ground truth is checked against the written file with detectors written here,
independently of the generator, so a bug that plants one thing and records another is caught.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tailorlm.templates.support import phrases
from tailorlm.templates.support.generate import INTENTS, generate_corpus, write_corpus

PII_TYPES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "ACCOUNT_NUMBER"]

_EMAIL = re.compile(r"[\w.+-]+@(?:mail\.)?example\.(?:com|org|net)\b")
_PHONE = re.compile(r"(?:\+1 )?(?:\(\d{3}\) |\d{3}[-. ])555[-. ]01\d\d\b")
_CARD = re.compile(r"\b\d{4}([ -])\d{4}\1\d{4}\1\d{4}\b")
_ACCOUNT = re.compile(r"NWB-\d{8}\b|(?<![\d-])\d{8,10}(?!\d)")
_PERSON = re.compile(
    r"(?<!\w)(?:%s) (?:%s)(?!\w)"
    % ("|".join(map(re.escape, phrases.FIRST_NAMES)), "|".join(map(re.escape, phrases.LAST_NAMES)))
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _detect(text: str) -> dict[str, list[str]]:
    return {
        "PERSON": _PERSON.findall(text),
        "EMAIL_ADDRESS": _EMAIL.findall(text),
        "PHONE_NUMBER": _PHONE.findall(text),
        "CREDIT_CARD": [m.group(0) for m in _CARD.finditer(text)],
        "ACCOUNT_NUMBER": _ACCOUNT.findall(text),
    }


def _valid(line: str) -> dict | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    text, intent = obj.get("text"), obj.get("intent")
    if not isinstance(text, str) or not text.strip() or not isinstance(intent, str) or not intent:
        return None
    return obj


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict, list[str], dict[int, dict]]:
    out = tmp_path_factory.mktemp("support")
    planted = write_corpus(out)
    lines = (out / "data" / "messages.jsonl").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # file ends with a newline
    lines = lines[:-1]
    records = {no: rec for no, line in enumerate(lines, start=1) if (rec := _valid(line))}
    return out, planted, lines, records


def _skeleton(text: str) -> str:
    """The surface template of a message: PII, slot values and digits masked, case/punct dropped."""
    for rx in (_EMAIL, _PHONE, _CARD, _ACCOUNT, _PERSON):
        text = rx.sub(" <pii> ", text)
    values = sorted({v for vs in phrases.SLOT_VALUES.values() for v in vs}, key=len, reverse=True)
    for value in values:
        text = re.sub(rf"(?i)(?<!\w){re.escape(value)}(?!\w)", " <slot> ", text)
    text = re.sub(r"\d+", "0", text.lower())
    return " ".join(re.sub(r"[^\w<>]+", " ", text).split())


def test_deterministic_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_corpus(a, seed=13)
    write_corpus(b, seed=13)
    write_corpus(c, seed=14)
    for name in ("messages.jsonl", "planted.json"):
        assert (a / "data" / name).read_bytes() == (b / "data" / name).read_bytes()
    messages = [(d / "data" / "messages.jsonl").read_bytes() for d in (a, c)]
    assert messages[0] != messages[1]
    assert sorted(p.name for p in (a / "data").iterdir()) == ["messages.jsonl", "planted.json"]


def test_planted_file_equals_return_value(corpus):
    out, planted, lines, _ = corpus
    assert json.loads((out / "data" / "planted.json").read_text(encoding="utf-8")) == planted
    assert planted["n_lines"] == len(lines) == 2400
    _, again = generate_corpus()
    assert again == planted


def test_size_intents_and_balance(corpus):
    _, _, lines, records = corpus
    assert len(lines) >= 2000
    counts = Counter(r["intent"] for r in records.values())
    assert set(counts) == set(INTENTS)
    assert len(INTENTS) >= 12 and len(set(INTENTS)) == len(INTENTS)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", i) for i in INTENTS)
    for intent in INTENTS:
        assert counts[intent] >= 80, intent


def test_record_schema_ids_and_timestamps(corpus):
    _, _, _, records = corpus
    previous = ""
    for no, rec in records.items():
        assert set(rec) == {"id", "text", "intent", "channel", "created_at"}
        assert rec["id"] == f"msg-{no:05d}"
        assert rec["channel"] in ("chat", "email", "app")
        assert re.fullmatch(r"2026-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["created_at"])
        assert rec["created_at"] > previous  # export order is chronological
        previous = rec["created_at"]


def test_lengths_and_registers(corpus):
    _, _, _, records = corpus
    words = defaultdict(list)
    for rec in records.values():
        words[rec["channel"]].append(len(rec["text"].split()))
    every = [n for ns in words.values() for n in ns]
    assert sum(5 <= n <= 60 for n in every) / len(every) >= 0.75
    assert max(every) <= 130 and min(every) >= 1
    mean = {ch: sum(ns) / len(ns) for ch, ns in words.items()}
    assert mean["email"] > 2 * mean["chat"] > 2 * mean["app"]  # formal > casual > terse
    for ch in ("chat", "email", "app"):
        assert len(words[ch]) / len(every) >= 0.15, ch


def test_phrasing_diversity(corpus):
    _, _, _, records = corpus
    by_intent = defaultdict(list)
    for rec in records.values():
        by_intent[rec["intent"]].append(rec["text"])
    for intent, texts in by_intent.items():
        openings = Counter(" ".join(re.sub(r"[^\w' ]+", " ", t.lower()).split()[:3]) for t in texts)
        assert len(openings) / len(texts) >= 0.4, intent
        assert openings.most_common(1)[0][1] / len(texts) < 0.1, (intent, openings.most_common(3))
        skeletons = Counter(_skeleton(t) for t in texts)
        top, n_top = skeletons.most_common(1)[0]
        assert n_top / len(texts) < 0.05, (intent, top, n_top)
        assert len(skeletons) / len(texts) >= 0.8, intent


def test_intent_keyword_not_always_present(corpus):
    _, _, _, records = corpus
    keyword = {"card_lost": "lost", "card_declined": "declin", "dispute_charge": "dispute",
               "reset_password": "password", "fee_refund": "refund", "update_address": "address"}
    for intent, word in keyword.items():
        texts = [r["text"].lower() for r in records.values() if r["intent"] == intent]
        share = sum(word in t for t in texts) / len(texts)
        assert 0.1 < share < 0.85, (intent, share)


def test_planted_pii_matches_file(corpus):
    _, planted, _, records = corpus
    found = Counter()
    ids = []
    for rec in records.values():
        hits = _detect(rec["text"])
        for kind, values in hits.items():
            found[kind] += len(values)
        if any(hits.values()):
            ids.append(rec["id"])
        expected = defaultdict(list)
        for kind, value in planted["pii_by_record"].get(rec["id"], []):
            expected[kind].append(value)
        for kind in PII_TYPES:
            assert sorted(hits[kind]) == sorted(expected[kind]), (rec["id"], kind)
        for card in hits["CREDIT_CARD"]:
            digits = re.sub(r"\D", "", card)
            assert len(digits) == 16 and _luhn_ok(digits)
            assert digits[:4] in ("4111", "4000", "5500", "5105")  # test-card prefixes only
    assert {k: found[k] for k in PII_TYPES} == planted["pii"]
    assert ids == planted["pii_record_ids"]
    assert all(planted["pii"][k] > 0 for k in PII_TYPES)
    share = len(ids) / len(records)
    assert 0.15 <= share <= 0.25, share


def test_pii_uses_fictional_values_only(corpus):
    _, _, _, records = corpus
    for rec in records.values():
        for email in _EMAIL.findall(rec["text"]):
            assert email.split("@")[1] in phrases.EMAIL_DOMAINS
        assert "@" not in _EMAIL.sub("", rec["text"])  # no e-mail outside the example domains


def test_duplicates(corpus):
    _, planted, _, records = corpus
    by_id = {r["id"]: r for r in records.values()}
    n = planted["n_lines"]
    assert 0.02 * n <= len(planted["exact_duplicate_ids"]) <= 0.04 * n
    assert 0.02 * n <= len(planted["near_duplicate_ids"]) <= 0.04 * n
    assert not set(planted["exact_duplicate_ids"]) & set(planted["near_duplicate_ids"])
    text_first_id = {}
    for rec in records.values():
        text_first_id.setdefault(rec["text"], rec["id"])
    # Every exact duplicate repeats an earlier record; nothing else repeats.
    repeated = [r["id"] for r in records.values() if text_first_id[r["text"]] != r["id"]]
    assert repeated == planted["exact_duplicate_ids"]
    for copy_id in planted["exact_duplicate_ids"]:
        src = by_id[planted["exact_duplicate_of"][copy_id]]
        assert src["id"] < copy_id
        assert (src["text"], src["intent"]) == (by_id[copy_id]["text"], by_id[copy_id]["intent"])
    for copy_id in planted["near_duplicate_ids"]:
        src, copy = by_id[planted["near_duplicate_of"][copy_id]], by_id[copy_id]
        assert src["id"] < copy_id and src["intent"] == copy["intent"]
        assert src["text"] != copy["text"]
        # A tiny edit: at most two words differ (case and punctuation edits change none).
        a, b = re.findall(r"\w+", src["text"].lower()), re.findall(r"\w+", copy["text"].lower())
        ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")
        assert changed <= 2, (copy_id, src["text"], copy["text"])


def test_malformed_lines(corpus):
    _, planted, lines, records = corpus
    bad = planted["malformed_lines"]
    assert 5 <= len(bad) <= 8
    assert sorted(planted["malformed_reasons"]) == sorted(str(no) for no in bad)
    assert all(line.strip() for line in lines)  # no blank lines: every bad line is a real record
    for no, line in enumerate(lines, start=1):
        assert (_valid(line) is None) == (no in bad), no
    for no in bad:
        try:
            obj = json.loads(lines[no - 1])
        except json.JSONDecodeError:
            continue
        assert isinstance(obj, dict)
        text, intent = obj.get("text"), obj.get("intent")
        assert not (isinstance(text, str) and text.strip()) or not intent
    for rec in records.values():
        assert rec["intent"] in INTENTS
