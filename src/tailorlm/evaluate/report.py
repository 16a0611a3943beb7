"""Write ``.tailor/reports/<eval_id>/``: report.html (self-contained), report.md, report.json,
predictions.jsonl and plots/*.png, in one atomic folder rename.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..artifacts import atomic_dir, code_version, sha256_json
from ..results import DatasetVersion, EvalResult, TrainRun
from ..systems import CANDIDATE
from . import plots
from .confusions import EMBED_MAX_LABELS, most_confused
from .roi import PRIMARY, compute_roi

if TYPE_CHECKING:
    from ..spec import TailorSpec
    from ..workspace import Workspace

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"
# Metrics shown in the side-by-side table, in this order (those a task does not report are skipped).
TABLE_METRICS = [
    "accuracy", "exact_match", "macro_f1", "micro_f1", "token_f1", "rouge1", "rouge2", "rougeL", "bleu", "chrf",
    "embedding_similarity", "json_validity", "schema_match", "perplexity", "eval_loss", "hallucination_rate",
    "compliance_violation_rate", "expected_calibration_error", "mean_confidence", "routed_rate", "answered_accuracy",
    "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "mean_prompt_tokens", "mean_completion_tokens",
    "train_seconds", "eval_seconds",
]


def new_eval_id(dataset: DatasetVersion, run: TrainRun | None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    digest = sha256_json([dataset.version, run.run_id if run else None, time.time()])[:6]
    return f"eval-{stamp}-{digest}"


def fmt(value: Any) -> str:
    """A metric for humans: fractions with 3 decimals, large numbers with 1."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def table_metrics(systems: Mapping[str, Mapping[str, float]]) -> list[str]:
    return [m for m in TABLE_METRICS if any(m in s for s in systems.values())]


def sampled_note(doc: Mapping[str, Any]) -> str:
    """``" (base answered a seeded sample of 100)"`` for systems that answered fewer rows than the test split."""
    n = doc["info"].get("n_examples")
    part = [f"{name} {k}" for name, k in (doc["info"].get("system_examples") or {}).items() if k != n]
    return f" ({', '.join(part)}: a seeded sample, eval.reference_rows)" if part else ""


def markdown(doc: Mapping[str, Any]) -> str:
    """report.md: the same content as the HTML page, without plots."""
    systems = doc["systems"]
    names = list(systems)
    verdict = "PASSED" if doc["passed"] else "FAILED"
    lines = [f"# Evaluation {doc['eval_id']}", "",
             f"Project **{doc['project']}**, task **{doc['task']}**, dataset `{doc['dataset']['version']}`, "
             f"run `{(doc['run'] or {}).get('run_id', 'none')}`, {doc['info']['n_examples']} test examples"
             f"{sampled_note(doc)}.", "",
             f"**Fine-tuned model: {verdict}** the acceptance criteria.", "",
             "## Metrics per system", "", "| metric | " + " | ".join(names) + " |",
             "| --- |" + " ---: |" * len(names)]
    for m in table_metrics(systems):
        lines.append(f"| {m} | " + " | ".join(fmt(systems[n].get(m)) for n in names) + " |")
    lines += ["", "## Acceptance criteria", "", "| criterion | " + " | ".join(names) + " |",
              "| --- |" + " --- |" * len(names)]
    for i, g in enumerate(next(iter(doc["gates"].values()), [])):
        cells = []
        for n in names:
            gi = doc["gates"][n][i]
            cells.append(f"{'pass' if gi['passed'] else 'FAIL'} ({fmt(gi['value'])})")
        lines.append(f"| `{g['criterion']}` | " + " | ".join(cells) + " |")
    lines += ["", "## ROI", "", *roi_lines(doc["roi"]), ""]
    lines += ["## Compliance violations", ""]
    for n in names:
        comp = doc["details"][n]["compliance"]
        rules = ", ".join(f"{r}: {c['count']}" for r, c in comp.items()) or "none"
        lines.append(f"- **{n}**: {rules}")
    lines += confused_lines(doc.get("confused_pairs") or [])
    if doc["info"].get("skipped_systems"):
        why = doc["info"].get("skipped_reasons") or {}
        lines += ["", "Skipped: " + "; ".join(f"{s} ({why.get(s, 'no trained model')})"
                                              for s in doc["info"]["skipped_systems"]) + "."]
    return "\n".join(lines) + "\n"


def confused_lines(pairs: Sequence[Mapping[str, Any]]) -> list[str]:
    """report.md's most-confused pairs table."""
    if not pairs:
        return []
    out = ["", "## Most-confused label pairs", "", "| true | predicted as | count | share of true | examples |",
           "| --- | --- | ---: | ---: | --- |"]
    for p in pairs:
        ex = "; ".join(e["input"].replace("|", "/").replace("\n", " ")[:80] for e in p["examples"])
        out.append(f"| {p['true']} | {p['predicted']} | {p['count']} | {p['share']:.2f} | {ex} |")
    return out


def roi_lines(roi: Mapping[str, Any]) -> list[str]:
    cur = roi["currency"]
    costs = ", ".join(f"{n} {v:.4f} {cur}" for n, v in roi["cost_per_1k_requests"].items())
    out = [f"- Cost per 1,000 requests: {costs}",
           f"- Training: {roi['training_wall_seconds'] / 60:.1f} min x {roi['prices']['hourly_rate']} {cur}/h = "
           f"{roi['training_cost']:.4f} {cur}"
           + (f" ({roi['training_steps']} of {roi['planned_steps']} planned steps: the rest did not fit in "
              "train.max_minutes)" if roi.get("planned_steps") else "")]
    for base, c in roi["vs"].items():
        pct = c["p95_latency_change_pct"]
        ci = c.get("quality_gain_ci95")
        out.append(
            f"- fine_tuned vs {base}: {c['metric']} {c['quality_gain']:+.3f}"
            + (f" (95% CI {ci[0]:+.3f} to {ci[1]:+.3f})" if ci else "") + ", tokens/request saved "
            f"{c['tokens_per_request_saved']:+.1f}, p95 latency {c['p95_latency_change_ms']:+.1f} ms"
            + _latency_change(pct)
            + f", saving {c['monthly_saving']:.2f} {cur}/month at {roi['prices']['requests_per_month']:,} requests"
            + "".join(f"; {m} {iv['diff']:+.3f} (95% CI {iv['low']:+.3f} to {iv['high']:+.3f})"
                      for m, iv in (c.get("secondary") or {}).items())
        )
    if roi.get("payback_months") is not None:
        out.append(f"- Training pays back in {roi['payback_months']:.2f} months.")
    best = roi.get("best_alternative")
    if best:
        verdict = "beats" if best["beats_best_alternative"] else "does NOT beat"
        ci = best.get("ci95")
        shown = "" if not ci else (f"; 95% paired-bootstrap interval {ci[0]:+.3f} to {ci[1]:+.3f}, "
                                   + ("above 0: the lead is real on this test set" if best["shown"]
                                      else "not above 0: no lead shown on this test set"))
        out.insert(0, f"- The fine-tuned model {verdict} the best system that is not fine-tuned, "
                      f"{best['system']}: {best['metric']} {fmt(best['fine_tuned'])} vs {fmt(best['value'])} "
                      f"({best['gain']:+.3f}{shown}).")
    return out


def with_intervals(roi: dict[str, Any], significance: Mapping[str, Mapping[str, float]],
                   secondary: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None) -> dict[str, Any]:
    """Attach each comparison's paired-bootstrap 95% interval (``quality_gain_ci95``) to the ROI section;
    ``best_alternative.shown`` says whether the interval lies above 0 (the lead is not sampling noise)."""
    for name, c in roi.get("vs", {}).items():
        if name in significance:
            c["quality_gain_ci95"] = [significance[name]["low"], significance[name]["high"]]
        for metric, by_system in (secondary or {}).items():
            if name in by_system:
                c.setdefault("secondary", {})[metric] = by_system[name]
    best = roi.get("best_alternative")
    if best and best["system"] in significance:
        sig = significance[best["system"]]
        best["ci95"] = [sig["low"], sig["high"]]
        best["shown"] = bool(sig["low"] > 0)
    return roi


def render_html(doc: Mapping[str, Any], images: Mapping[str, str], examples: Sequence[dict]) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = fmt
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    focus = CANDIDATE if CANDIDATE in doc["systems"] else next(iter(doc["systems"]))
    return template.render(doc=doc, images=images, metrics=table_metrics(doc["systems"]),
                           roi_lines=roi_lines(doc["roi"]), examples=examples, focus=focus,
                           classes=doc["details"][focus]["classes"], confused=doc.get("confused_pairs") or [],
                           confusion_linked=len(doc.get("labels") or []) > EMBED_MAX_LABELS,
                           sampled_note=sampled_note(doc))


def _make_plots(scores: Mapping[str, Any], systems: Mapping[str, Mapping[str, float]], run: TrainRun | None) -> dict:
    pngs: dict[str, bytes | None] = {"metrics": plots.metric_bars(systems)}
    confusion_of = CANDIDATE if CANDIDATE in scores else next(iter(scores))
    classes = scores[confusion_of].classes
    pngs["confusion"] = plots.confusion_heatmap(classes["confusion"] if classes else None,
                                                f"Confusion matrix: {confusion_of}")
    pngs["latency"] = plots.latency_histogram({n: [r["latency_ms"] for r in s.records] for n, s in scores.items()})
    pngs["reliability"] = plots.reliability_diagram({n: getattr(s, "calibration", None) for n, s in scores.items()})
    pngs["loss"] = plots.loss_curve(run.path if run else None)
    return pngs


def _confused(scores: Mapping[str, Any], task: str) -> list[dict]:
    """Most-confused pairs of the fine-tuned system (else the first one) for classification."""
    if task != "classification" or not scores:
        return []
    focus = CANDIDATE if CANDIDATE in scores else next(iter(scores))
    return most_confused(scores[focus].records)


def _sample_examples(scores: Mapping[str, Any], n: int = 20) -> list[dict]:
    """Side-by-side answers of the first ``n`` test examples every system answered, for the HTML page
    (a system that answered a sample, ``eval.reference_rows``, decides which)."""
    names = list(scores)
    by_id = {nm: {str(r.get("id")): r for r in scores[nm].records} for nm in names}
    fewest = min(names, key=lambda nm: len(scores[nm].records))
    rows = []
    for rec in scores[fewest].records:
        if len(rows) == n or "prediction" not in rec:
            break
        rid = str(rec.get("id"))
        if all(rid in by_id[nm] for nm in names):
            rows.append({"id": rec["id"], "input": rec["input"], "reference": rec["reference"],
                         "answers": {nm: by_id[nm][rid] for nm in names}})
    return rows


def write_report(spec: TailorSpec, ws: Workspace, dataset: DatasetVersion, run: TrainRun | None, scores: Mapping[str, Any],
                 gates: Mapping[str, list], passed: bool, labels: Sequence[str], info: dict) -> EvalResult:
    """Write the report folder and return the :class:`EvalResult` pointing at it."""
    eval_id = new_eval_id(dataset, run)
    final = ws.reports / eval_id
    systems = {name: s.metrics for name, s in scores.items()}
    doc = {
        "eval_id": eval_id, "created_at": time.time(), "code_version": code_version(),
        "project": spec.project, "task": spec.objective.task, "labels": list(labels),
        "primary_metric": PRIMARY[spec.objective.task][0],
        "dataset": {"name": dataset.name, "version": dataset.version, "path": dataset.path},
        "run": {"run_id": run.run_id, "method": run.method, "model_path": run.model_path} if run else None,
        "base_model": spec.model.base, "systems": systems, "gates": dict(gates), "passed": passed,
        "criteria": [str(c) for c in spec.objective.criteria],
        "details": {n: {"classes": s.classes, "compliance": s.compliance, "notes": s.notes,
                        "calibration": getattr(s, "calibration", None)} for n, s in scores.items()},
        "confused_pairs": _confused(scores, spec.objective.task),
        "roi": with_intervals(compute_roi(systems, spec.objective.task, spec.eval.pricing, run.metrics if run else None),
                              info.get("significance") or {}, info.get("significance_secondary")),
        "eval_spec": spec.section_dict("eval"), "info": info,
    }
    pngs = _make_plots(scores, systems, run)
    with atomic_dir(final) as tmp:
        (tmp / "plots").mkdir()
        for name, png in pngs.items():
            if png:
                (tmp / "plots" / f"{name}.png").write_bytes(png)
        with open(tmp / "predictions.jsonl", "w", encoding="utf-8") as f:
            for s in scores.values():
                for rec in s.records:
                    f.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
        (tmp / "report.json").write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(markdown(doc), encoding="utf-8")
        embed = {k: None if k == "confusion" and len(labels) > EMBED_MAX_LABELS else v for k, v in pngs.items()}
        html = render_html(doc, {k: plots.data_uri(v) for k, v in embed.items()}, _sample_examples(scores))
        (tmp / "report.html").write_text(html, encoding="utf-8")
    return EvalResult(
        eval_id=eval_id, path=str(final), systems=systems, gates=dict(gates), passed=passed,
        report_html=str(final / "report.html"), report_json=str(final / "report.json"),
        report_md=str(final / "report.md"),
    )


def _latency_change(pct: float | None) -> str:
    """`` (+45%)``, or `` (6254x)`` where a percentage stops being readable (against a sub-millisecond floor)."""
    if pct is None:
        return ""
    if abs(pct) >= 1000:
        return f" ({pct / 100 + 1:.0f}x)"
    return f" ({pct:+.0f}%)"
