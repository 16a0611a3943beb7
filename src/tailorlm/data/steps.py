"""The per-record curation steps as pure functions over batches (``datasets.map(batched=True)``).

A batch is a dict of columns. Every step passes through rows whose ``status`` is already set
(quarantined, filtered or deduplicated rows keep their reason) and only works on live rows
(``status == ""``), so the final table accounts for every input record. The same functions run
on Ray Data (``ds.map_batches(fn, fn_kwargs=...)``) because they only take and return columns.

Status values: ``""`` kept, ``quarantine:<code>``, ``filter:<name>``, ``duplicate:exact|near``.
"""

from __future__ import annotations

import json
from typing import Any

from .clean import clean_example
from .dedup import band_keys, content_hash, edit_keys, hash_to_int, lsh_params, minhash_signature, near_text
from .errors import RecordProblem
from .filters import apply_filters
from .formats import describe_value, record_id, to_example

EXAMPLE_COLUMNS = ("kind", "prompt", "completion", "label", "text", "chosen", "rejected")


def content_text(row: dict[str, Any]) -> str:
    """All text of an example joined (filters and dedup look at this)."""
    prompt = row["prompt"]
    msgs = json.loads(prompt) if isinstance(prompt, str) else (prompt or [])
    parts = [m["content"] for m in msgs]
    parts += [row[k] for k in ("completion", "text", "rejected") if row.get(k)]
    return "\n".join(parts)


def _rows(batch: dict[str, list]) -> list[dict[str, Any]]:
    keys = list(batch)
    return [dict(zip(keys, vals)) for vals in zip(*(batch[k] for k in keys))]


def _columns(rows: list[dict[str, Any]], keys) -> dict[str, list]:
    return {k: [r.get(k) for r in rows] for k in keys}


def convert_batch(batch: dict[str, list], *, records: dict[str, str], fields, task: str, clean_steps: list[str],
                  filters, known_labels: list[str], dedup) -> dict[str, list]:
    """Parse, validate, clean and filter raw records (the cheap per-record work, in one pass).

    Also computes the near-duplicate text and MinHash signature here, on the cleaned text before
    PII replacement, so an entity that NER finds in one copy but not in another ("Boston" vs
    "boston") cannot hide a near duplicate.
    """
    out = []
    for row in _rows(batch):
        obj = json.loads(row["raw"]) if row["raw"] is not None else None
        res = {"id": record_id(obj, fields, row["source"], row["line"]), "kind": "", "prompt": "[]",
               "completion": "", "label": None, "text": None, "chosen": None, "rejected": None,
               "status": row["status"], "message": row["message"]}
        if not res["status"]:
            try:
                ex = clean_example(to_example(obj, records.get(row["source"], "auto"), fields, task), clean_steps)
                _check_after_clean(ex, known_labels)
                ex["prompt"] = json.dumps(ex["prompt"], ensure_ascii=False)
                res.update(ex)
                content = content_text(res)
                rejected = apply_filters(content, filters)
                if rejected:
                    res["status"], res["message"] = f"filter:{rejected[0]}", rejected[1]
                elif dedup.near:
                    res["near_text"] = near_text(content, dedup.ignore_phrases)
                    sig = minhash_signature(res["near_text"], dedup.num_perm, dedup.ngram)
                    res["bands"] = band_keys(sig, *lsh_params(dedup.threshold, dedup.num_perm))
                    res["edit_keys"] = edit_keys(res["near_text"], dedup.edit_max_words)
            except RecordProblem as p:
                res["status"], res["message"] = f"quarantine:{p.code}", p.message
        res.setdefault("near_text", "")
        res.setdefault("bands", [0] * lsh_params(dedup.threshold, dedup.num_perm)[0] if dedup.near else [])
        res.setdefault("edit_keys", [])
        out.append(res)
    return _columns(out, ["id", *EXAMPLE_COLUMNS, "status", "message", "near_text", "bands", "edit_keys"])


def _check_after_clean(ex: dict[str, Any], known_labels: list[str]) -> None:
    """Rules that only make sense on cleaned text (an HTML-only answer is empty once stripped)."""
    if ex["kind"] == "sft" and not ex["completion"].strip():
        raise RecordProblem("empty_field", "the target (assistant turn / label) is empty after cleaning.")
    if ex["kind"] == "text" and not (ex["text"] or "").strip():
        raise RecordProblem("empty_field", "the text is empty after cleaning.")
    if ex["kind"] == "sft" and not any(m["content"].strip() for m in ex["prompt"]):
        raise RecordProblem("empty_field", "the input (user turn) is empty after cleaning.")
    if known_labels and ex["label"] is not None and ex["label"] not in known_labels:
        raise RecordProblem("unknown_label", unknown_label_message(ex["label"], known_labels))


def unknown_label_message(label: str, known_labels: list[str]) -> str:
    """Why a label is refused, without quoting it (a label column can hold free text or a name).

    The closest label of ``objective.labels`` is named instead (it comes from the spec, not the record).
    """
    import difflib

    folded = {k.casefold(): k for k in known_labels}
    close = difflib.get_close_matches(label.casefold(), list(folded), n=1, cutoff=0.75)
    hint = f" The closest allowed label is '{folded[close[0]]}'." if close else ""
    return (f"the label ({describe_value(label)}) is not one of objective.labels ({', '.join(known_labels)})."
            f"{hint} Fix the label in the source or add it to objective.labels.")


def scrub_batch(batch: dict[str, list], *, pii_json: str) -> dict[str, list]:
    """Replace PII in every text field of live rows; adds ``pii`` (JSON counts by entity type)."""
    from ..privacy.pii import cached_scrubber

    scrubber = cached_scrubber("pii", pii_json)
    rows = _rows(batch)
    live = [r for r in rows if not r["status"]]
    fields = [_text_fields(r) for r in live]
    labels = sorted({str(r["label"]) for r in live if r.get("label")})  # class names are never redacted
    scrubbed = scrubber.scrub_records([[t for _, t in f] for f in fields], labels=labels)
    for r, f, (texts, counts) in zip(live, fields, scrubbed):
        _set_text_fields(r, [k for k, _ in f], texts)
        r["pii"] = json.dumps(dict(sorted(counts.items())))
    for r in rows:
        r.setdefault("pii", "{}")
    return _columns(rows, ["prompt", "completion", "text", "chosen", "rejected", "pii"])


def no_pii_batch(batch: dict[str, list]) -> dict[str, list]:
    """The ``pii`` column when scrubbing is disabled (nothing found, nothing replaced)."""
    return {"pii": ["{}"] * len(batch["status"])}


def _text_fields(row: dict[str, Any]) -> list[tuple[Any, str]]:
    """(address, text) of every text field; the label is never scrubbed (it is a class name)."""
    out: list[tuple[Any, str]] = [(("prompt", i), m["content"]) for i, m in enumerate(json.loads(row["prompt"]))]
    if row["label"] is None and row["completion"]:
        out.append(("completion", row["completion"]))
    out += [(k, row[k]) for k in ("text", "chosen", "rejected") if row.get(k)]
    return out


def _set_text_fields(row: dict[str, Any], keys: list[Any], texts: list[str]) -> None:
    msgs = json.loads(row["prompt"])
    for key, text in zip(keys, texts):
        if isinstance(key, tuple):
            msgs[key[1]]["content"] = text
        else:
            row[key] = text
    row["prompt"] = json.dumps(msgs, ensure_ascii=False)
    if row["kind"] == "preference":
        row["completion"] = row["chosen"]


def length_batch(batch: dict[str, list], *, objective, labels: list[str], tokenizer, max_seq_len: int,
                 policy: str) -> dict[str, list]:
    """Example-specific token length (chat template applied, shared instruction and label list not
    counted: see :mod:`tailorlm.data.lengths`); ``drop``/``truncate`` policy (``error`` raises later)."""
    from .lengths import shared_tokens, token_lengths, truncate

    rows = _rows(batch)
    live = [r for r in rows if not r["status"]]
    shared = shared_tokens(objective, labels, tokenizer) if live else 0
    lens = [n - shared if r["kind"] != "text" else n for r, n in zip(live, token_lengths(live, objective, labels, tokenizer))]
    for r, n in zip(live, lens):
        r["ntokens"], r["truncated"] = n, False
        if n <= max_seq_len:
            continue
        own = shared if r["kind"] != "text" else 0
        fixed = truncate(r, n + own, max_seq_len + own, objective, labels, tokenizer) if policy == "truncate" else None
        if fixed is not None:
            r.update(fixed)
            r["ntokens"], r["truncated"] = token_lengths([r], objective, labels, tokenizer)[0] - own, True
        else:
            r["status"] = "quarantine:too_long"
            r["message"] = (f"{n} tokens of its own with the chat template (the shared instruction and label list, "
                            f"{shared} tokens, not counted), above data.max_seq_len={max_seq_len} "
                            f"(length_policy={policy}); raise data.max_seq_len or shorten the record.")
    for r in rows:
        r.setdefault("ntokens", 0)
        r.setdefault("truncated", False)
    return _columns(rows, ["prompt", "text", "ntokens", "truncated", "status", "message"])


def hash_batch(batch: dict[str, list]) -> dict[str, list]:
    """Exact-duplicate key of each live row: hash of its normalized content after PII replacement,
    so two messages that differ only in the customer's name are one training example."""
    return {"hash": [hash_to_int(content_hash(content_text(r))) if not r["status"] else 0 for r in _rows(batch)]}
