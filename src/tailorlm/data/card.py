"""The dataset card (``card.md``), its plots, and the demographic-terms audit.

Everything here reads the numbers gathered while writing a dataset version (see
:class:`CardStats`); nothing re-reads the data.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CODES

# Groups of demographic terms (lower-case words). The audit reports, per label, the share of
# records that mention each group, so a label that only ever mentions one group stands out.
DEMOGRAPHIC_TERMS: dict[str, set[str]] = {
    "female": {"she", "her", "hers", "woman", "women", "female", "mrs", "ms", "miss", "mother", "wife", "daughter",
               "girl", "lady"},
    "male": {"he", "him", "his", "man", "men", "male", "mr", "father", "husband", "son", "boy", "gentleman"},
    "age": {"elderly", "old", "older", "young", "younger", "senior", "pensioner", "retired", "teenager", "student",
            "grandmother", "grandfather", "aged"},
    "disability": {"disabled", "disability", "blind", "deaf", "wheelchair", "impairment", "dementia"},
    "religion": {"muslim", "christian", "jewish", "hindu", "buddhist", "church", "mosque", "synagogue", "temple"},
    "nationality": {"foreign", "foreigner", "immigrant", "migrant", "refugee", "citizenship", "visa", "nationality"},
}
_WORD = re.compile(r"[a-z]+")
IMBALANCE_RATIO = 3.0  # largest / smallest label count above this earns a warning


def demographic_groups(text: str) -> set[str]:
    """The demographic groups whose terms occur in ``text``."""
    words = set(_WORD.findall(text.lower()))
    return {g for g, terms in DEMOGRAPHIC_TERMS.items() if words & terms}


@dataclass
class CardStats:
    """Numbers gathered while writing the version (one pass over the records)."""

    labels: Counter = field(default_factory=Counter)
    split_labels: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    pii_kept: Counter = field(default_factory=Counter)
    pii_all: Counter = field(default_factory=Counter)
    records_with_pii: int = 0
    slots_kept: int = 0  # template slots ({{Order Number}}, <ORDER_ID>, [name]) left as they are
    ntokens: array = field(default_factory=lambda: array("i"))  # 4 bytes per kept record
    truncated: int = 0
    demo: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    quarantine_examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def plot_token_lengths(ntokens, max_seq_len: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.hist(np.asarray(ntokens) if len(ntokens) else [0], bins=40, color="#4C72B0")
    ax.axvline(max_seq_len, color="#C44E52", linestyle="--", label=f"max_seq_len={max_seq_len}")
    ax.set_xlabel("tokens per example (chat template applied)")
    ax.set_ylabel("examples")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def label_warnings(labels: Counter) -> list[str]:
    if len(labels) < 2:
        return []
    top, low = labels.most_common()[0], labels.most_common()[-1]
    if low[1] == 0 or top[1] / low[1] > IMBALANCE_RATIO:
        return [f"**Imbalance:** '{top[0]}' has {top[1]} records, '{low[0]}' only {low[1]} "
                f"(ratio {top[1] / max(low[1], 1):.1f} > {IMBALANCE_RATIO:g}). Consider collecting more "
                f"'{low[0]}' examples or class weights; report per-label metrics."]
    return []


def _stage_rows(counts: dict[str, Any]) -> list[list[Any]]:
    rows = [["records in", counts["records_in"]]]
    rows += [[f"quarantined: {c}", n] for c, n in sorted(counts["quarantined_by_code"].items())]
    rows += [[f"removed by filter: {f}", n] for f, n in sorted(counts["filtered_by_name"].items())]
    rows += [["exact duplicates removed", counts["duplicates_exact"]],
             ["near duplicates removed", counts["duplicates_near"]],
             *([["training copies of test records removed", counts["duplicates_test_overlap"]]]
               if counts.get("duplicates_test_overlap") else []),
             ["**kept**", f"**{counts['kept']}**"]]
    shared = counts.get("shared_ids", {}).get("records_renamed", 0)
    if shared:  # kept rows: shown after the total, not part of the reconciliation
        rows.append(["kept records whose source id was shared (renamed `<id>#2`, ...; warning above)", shared])
    return rows


def render_card(manifest: dict[str, Any], stats: CardStats) -> str:
    c = manifest["counts"]
    ok = c["records_in"] == c["kept"] + c["quarantined"] + c["duplicates"] + c["filtered"]
    parts = [
        f"# Dataset card: {manifest['name']} @ {manifest['version']}",
        f"Created {manifest['created_at']} by tailorlm {manifest['code_version']}. Task: "
        f"`{manifest['task']}`.",
        "## Sources",
        _table(["file", "format", "encoding", "sha256", "notes"],
               [[s["path"], s["format"], s["encoding"], s["sha256"][:12], "; ".join(s["warnings"]) or "-"]
                for s in manifest["sources"]]),
        "## Counts per stage",
        _table(["stage", "records"], _stage_rows(c)),
        f"Reconciliation: {c['records_in']} in = {c['kept']} kept + {c['quarantined']} quarantined + "
        f"{c['duplicates']} duplicates + {c['filtered']} filtered: **{'OK' if ok else 'MISMATCH'}**.",
        "## Splits",
        _table(["split", "records"], [[s, c["splits"][s]] for s in ("train", "validation", "test")]),
    ]
    if stats.labels:
        parts += ["## Labels", _table(
            ["label", "records", "share", "train", "validation", "test"],
            [[lab, n, f"{n / max(c['kept'], 1):.1%}", *(stats.split_labels[s][lab] for s in ("train", "validation", "test"))]
             for lab, n in sorted(stats.labels.items())])]
        parts += label_warnings(stats.labels)
    parts += _dedup_section(c, manifest)
    parts += _pii_section(stats, manifest)
    parts += _length_section(stats, manifest)
    parts += _demo_section(stats)
    parts += _quarantine_section(c, stats)
    return "\n\n".join(parts) + "\n"


def _dedup_section(c: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    dd = manifest["spec"]["data"]["dedup"]
    near = (f"near duplicates: MinHash LSH, Jaccard >= {dd['threshold']} on character {dd['ngram']}-grams "
            f"(action `{dd['near_action']}`)") if dd["near"] else "near-duplicate detection off"
    return ["## Duplicates",
            f"{c['duplicates_exact']} exact and {c['duplicates_near']} near duplicates removed; {near}. Each "
            "removed record is listed in `removed.jsonl` with the record it duplicates; a near-duplicate cluster "
            "never straddles train/validation/test."
            + (f" {c['duplicates_test_overlap']} training record(s) were exact or near copies of a record of a "
               "source marked `split: test` and were removed from training (`duplicate:test_overlap`)."
               if c.get("duplicates_test_overlap") else "")]


def _pii_section(stats: CardStats, manifest: dict[str, Any]) -> list[str]:
    pii = manifest["pii"]
    if not pii["enabled"]:
        return ["## PII", "PII scrubbing is **disabled** (data.pii.enabled: false)."]
    rows = [[t, stats.pii_all[t], stats.pii_kept[t]] for t in sorted(stats.pii_all)]
    ner = pii["ner_model"] or "NONE: names, organisations and places were NOT detected"
    out = ["## PII found and replaced",
           f"Entities: {', '.join(pii['entities'])}. NER model: {ner}.",
           _table(["entity type", "spans replaced (all scanned records)", "in kept records"], rows) if rows
           else "No PII found.",
           f"{stats.records_with_pii} kept records contained PII; it was replaced by typed placeholders "
           "such as `<PERSON_1>`."]
    if stats.slots_kept:
        out.append(f"Template slots found and kept as they are (never redacted or split): {stats.slots_kept} "
                   "(`{{…}}`, `{…}`, `<…>`, `[…]`).")
    return out


def _length_section(stats: CardStats, manifest: dict[str, Any]) -> list[str]:
    if not len(stats.ntokens):
        return []
    a = np.asarray(stats.ntokens)
    return ["## Token lengths",
            f"Chat template applied. p50 {int(np.percentile(a, 50))}, p95 {int(np.percentile(a, 95))}, "
            f"max {int(a.max())} tokens; max_seq_len {manifest['max_seq_len']} "
            f"(policy `{manifest['length_policy']}`); {stats.truncated} truncated.",
            "![token lengths](token_lengths.png)"]


def _demo_section(stats: CardStats) -> list[str]:
    if not stats.labels:
        return []
    groups = list(DEMOGRAPHIC_TERMS)
    rows = [[lab, *(f"{stats.demo[lab][g] / n:.1%}" for g in groups)] for lab, n in sorted(stats.labels.items())]
    return ["## Demographic terms per label",
            "Share of each label's records that mention a group's terms (a simple audit: a label whose "
            "records mention one group far more than others deserves a look).",
            _table(["label", *groups], rows)]


def _quarantine_section(c: dict[str, Any], stats: CardStats) -> list[str]:
    if not c["quarantined"]:
        return ["## Quarantine", "No record was quarantined."]
    rows = [[code, n, CODES.get(code, ""), ", ".join(stats.quarantine_examples[code][:3])]
            for code, n in sorted(c["quarantined_by_code"].items())]
    return ["## Quarantine", "Every rejected record is in `quarantine.jsonl` with its source, line, id and reason.",
            _table(["code", "records", "meaning", "first examples (source:line)"], rows)]
