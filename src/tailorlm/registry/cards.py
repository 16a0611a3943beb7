"""The model card (Markdown) written next to every model version as ``MODEL_CARD.md``.

Built only from what the version stores (its lineage, resolved spec and evaluation) plus the
dataset card, so it can be regenerated at any time and says nothing the registry cannot back.
Sections: intended use, data, training setup, evaluation against baselines, limitations, PII
handling, lineage.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

from ..results import ModelVersion, deciding_gates  # deciding_gates: baselines' gates are for comparison
from ..systems import CANDIDATE, TRAINED_WEIGHTS, with_weights

FINE_TUNED_SYSTEMS = with_weights(TRAINED_WEIGHTS)

# Metrics shown in the evaluation table, in this order when present; other numeric ones follow.
_PREFERRED = ("accuracy", "macro_f1", "exact_match", "f1", "rouge_l", "bleu", "hallucination_rate",
              "compliance_rate", "p95_latency_ms", "tokens_per_s")
_MAX_METRICS = 10


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else ("yes" if value else "no")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _intended_use(mv: ModelVersion, spec: dict) -> str:
    obj = spec.get("objective", {})
    labels = obj.get("labels") or mv.lineage.get("dataset", {}).get("labels") or []
    out = [f"- **Task:** {obj.get('task', '?')}", f"- **Instruction (system prompt):** {obj.get('instruction', '').strip()}"]
    if labels:
        out.append(f"- **Labels ({len(labels)}):** {', '.join(f'`{x}`' for x in labels)}")
    crit = obj.get("criteria") or []
    if crit:
        out.append("- **Acceptance criteria:** " + ", ".join(f"`{c['metric']} {c['op']} {c['threshold']:g}`" for c in crit))
    out.append("- **Out of scope:** any task, domain or language the training data below does not cover.")
    return "\n".join(out)


def _demote(markdown: str, levels: int = 2) -> str:
    """Push the dataset card's headings down so they nest under this card's "Data" section."""
    return re.sub(r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + levels) + " ", markdown, flags=re.MULTILINE)


def _splits(mv: ModelVersion) -> dict[str, int]:
    counts = mv.lineage.get("dataset", {}).get("counts") or {}
    splits = counts.get("splits")
    if isinstance(splits, dict):
        return splits
    return {k: counts[k] for k in ("train", "validation", "test") if isinstance(counts.get(k), int)}


def _data(mv: ModelVersion, spec: dict, dataset_card: str) -> str:
    ds = mv.lineage.get("dataset", {})
    counts = {k: v for k, v in (ds.get("counts") or {}).items() if isinstance(v, (int, float))}
    out = [f"- **Dataset version:** `{ds.get('name')}` / `{ds.get('version')}` (manifest sha256 `{ds.get('manifest_sha256')}`)"]
    sources = ds.get("sources") or []
    if sources:
        out.append("\n" + _table(["source", "sha256"], [[s.get("path"), s.get("sha256")] for s in sources]))
    splits = _splits(mv)
    if splits:
        out.append("\n" + _table(["split", "records"], [[k, v] for k, v in splits.items()]))
    if counts:
        out.append("\n" + _table(["count", "value"], [[k, v] for k, v in sorted(counts.items())]))
    if dataset_card.strip():
        out.append("\n<details><summary>Dataset card</summary>\n\n" + _demote(dataset_card.strip()) + "\n\n</details>")
    return "\n".join(out)


def _training(mv: ModelVersion, spec: dict) -> str:
    run, base = mv.lineage.get("run", {}), mv.lineage.get("base_model", {})
    train = spec.get("train", {})
    out = [
        f"- **Base model:** `{base.get('ref')}` (weights sha256 `{base.get('weight_hash')}`)",
        f"- **Method:** {run.get('method') or train.get('method')}; run `{run.get('id')}`",
    ]
    keys = ("learning_rate", "max_steps", "epochs", "batch_size", "grad_accum", "scheduler", "lora")
    hp = [[k, train[k]] for k in keys if k in train]
    if hp:
        out.append("\n" + _table(["hyperparameter", "value"], hp))
    metrics = {k: v for k, v in (run.get("metrics") or {}).items() if isinstance(v, (int, float))}
    if metrics:
        out.append("\n" + _table(["training metric", "value"], [[k, v] for k, v in sorted(metrics.items())]))
    return "\n".join(out)


def _metric_names(systems: dict[str, dict]) -> list[str]:
    numeric = {k for m in systems.values() for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    ordered = [m for m in _PREFERRED if m in numeric] + sorted(numeric - set(_PREFERRED))
    return ordered[:_MAX_METRICS]


def _versus_baselines(systems: dict[str, dict], spec: dict, names: list[str]) -> str:
    """One line comparing the fine-tuned system with the best baseline on the first criterion's metric."""
    crit = ((spec.get("objective") or {}).get("criteria") or [{}])[0]
    metric = crit.get("metric") if crit.get("metric") in names else names[0]
    lower_is_better = crit.get("metric") == metric and crit.get("op") in ("<=", "<")
    tuned = (systems.get(CANDIDATE) or {}).get(metric)
    baselines = {s: m.get(metric) for s, m in systems.items()
                 if s not in FINE_TUNED_SYSTEMS and isinstance(m.get(metric), (int, float))}
    if not isinstance(tuned, (int, float)) or not baselines:
        return ""
    pick = min if lower_is_better else max
    best = pick(baselines, key=baselines.get)
    return f"**{metric}:** fine-tuned {_fmt(tuned)} vs best baseline `{best}` {_fmt(baselines[best])}."


def _evaluation(mv: ModelVersion, spec: dict) -> str:
    ev = mv.evaluation
    if not ev:
        return "This version was registered **without an evaluation**; it cannot be promoted without `--force`."
    systems = ev.get("systems") or {}
    names = _metric_names(systems)
    out = [f"Evaluation `{ev.get('eval_id')}` on the held-out test split; report: `{ev.get('report_html')}`.",
           f"**Verdict:** {'passed' if ev.get('passed') else 'FAILED'} the acceptance criteria.\n"]
    if systems and names:
        out.append(_table(["system", *names], [[s, *(m.get(n) for n in names)] for s, m in systems.items()]))
        headline = _versus_baselines(systems, spec, names)
        if headline:
            out.append("\n" + headline)
    gates = deciding_gates(ev.get("gates"))
    if gates:
        out.append("\n" + _table(["criterion", "value", "passed"], [[g.criterion, g.value, g.passed] for g in gates]))
    return "\n".join(out)


def _limitations(mv: ModelVersion, spec: dict) -> str:
    out = []
    test_n = _splits(mv).get("test")
    limit = (spec.get("eval") or {}).get("limit") or 0
    scope = f"{test_n} held-out examples" if test_n else "the held-out test split"
    if limit and (not test_n or limit < test_n):
        scope = f"{limit} of the {test_n or '?'} held-out examples (eval.limit)"
    out.append(f"- Measured on {scope} drawn from the same sources as the training data; "
               "accuracy on other channels, products or periods is unknown until monitored.")
    langs = (spec.get("data", {}).get("filters") or {}).get("languages") or []
    if langs:
        out.append(f"- Trained only on text in: {', '.join(langs)}.")
    gates = (mv.evaluation or {}).get("gates") or {}
    for g in (g for g in deciding_gates(gates) if not g.passed):
        out.append(f"- Does not meet `{g.criterion}` (measured {_fmt(g.value)}).")
    out.append(f"- Inherits the limitations and biases of the base model `{mv.lineage.get('base_model', {}).get('ref')}`; "
               "outputs can be wrong and must not be the only basis for decisions about a person.")
    return "\n".join(out)


def _pii(mv: ModelVersion, spec: dict) -> str:
    pii = spec.get("data", {}).get("pii") or {}
    if not pii.get("enabled", False):
        return "- PII scrubbing was **disabled** for this dataset; the model may have memorised personal data."
    found = (mv.lineage.get("dataset", {}).get("pii") or {})
    out = ["- Personal data was detected and replaced with typed placeholders (e.g. `<PERSON>`) before training.",
           f"- Entities: {', '.join(found.get('entities') or pii.get('entities') or [])}."]
    if found.get("ner_model"):
        out.append(f"- Names, places and organisations detected with the NER model `{found['ner_model']}`.")
    custom = pii.get("custom") or []
    if custom:
        out.append("- Custom recognizers: " + ", ".join(f"{c['name']} ({c['entity']})" for c in custom) + ".")
    counts = (mv.lineage.get("dataset", {}).get("counts") or {}).get("pii") or found.get("found_kept") or {}
    if isinstance(counts, dict) and counts:
        out.append("\n" + _table(["entity", "replaced in kept records"], sorted(counts.items())) + "\n")
    out.append("- Detection is statistical: some personal data can slip through; serve with output redaction on.")
    out.append("- Erasure requests: `tailorlm lineage SOURCE_OR_RECORD_ID` lists every dataset and model version holding a record.")
    return "\n".join(out)


def _lineage(mv: ModelVersion, spec: dict) -> str:
    lin = mv.lineage
    when = dt.datetime.fromtimestamp(mv.created_at, dt.timezone.utc).isoformat(timespec="seconds")
    rows = [
        ["model version", mv.ref], ["created by", mv.created_by], ["created at (UTC)", when],
        ["artifact sha256", lin.get("artifact", {}).get("sha256")], ["spec sha256", lin.get("spec_sha256")],
        ["code version", lin.get("code_version")], ["run id", mv.run_id], ["dataset version", mv.dataset_version],
    ]
    return _table(["field", "value"], rows)


SECTIONS: list[tuple[str, Callable[[ModelVersion, dict], str]]] = [
    ("Intended use", _intended_use),
    ("Training setup", _training),
    ("Evaluation against baselines", _evaluation),
    ("Limitations", _limitations),
    ("PII handling", _pii),
    ("Lineage", _lineage),
]


def render_card(mv: ModelVersion, dataset_card: str = "") -> str:
    """The Markdown model card for ``mv``; ``dataset_card`` is the dataset's ``card.md`` text."""
    spec = mv.lineage.get("spec") or {}
    parts = [f"# Model card: {mv.ref}\n"]
    for title, fn in SECTIONS[:1]:
        parts.append(f"## {title}\n\n{fn(mv, spec)}\n")
    parts.append(f"## Data\n\n{_data(mv, spec, dataset_card)}\n")
    for title, fn in SECTIONS[1:]:
        parts.append(f"## {title}\n\n{fn(mv, spec)}\n")
    return "\n".join(parts)
