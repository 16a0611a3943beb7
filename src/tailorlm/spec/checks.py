"""Cross-field checks that need more than one section, or the file system.

Each check is a small function returning a list of problem strings ("<yaml path>: <problem>. <fix>").
They run at ``spec check`` time, before any model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from . import TailorSpec

# Metrics each task reports; a criterion on another metric is a spec error.
COMMON_METRICS = {
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "mean_prompt_tokens",
    "mean_completion_tokens",
    "hallucination_rate",
    "compliance_violation_rate",
    "train_seconds",
    "eval_seconds",
}
# Reported by systems whose answers carry probabilities (scoring.add_confidence), not quality metrics.
CONFIDENCE_METRICS = {"expected_calibration_error", "mean_confidence", "routed_rate", "answered_accuracy"}
TASK_METRICS = {
    "classification": {"accuracy", "exact_match", "macro_f1", "micro_f1"},
    "extraction": {"exact_match", "macro_f1", "micro_f1", "token_f1", "json_validity", "schema_match"},
    "generation": {"rouge1", "rouge2", "rougeL", "bleu", "chrf", "embedding_similarity", "exact_match", "token_f1",
                   "json_validity"},
    "chat": {"rouge1", "rouge2", "rougeL", "bleu", "chrf", "embedding_similarity", "exact_match", "token_f1",
             "json_validity"},
    "continued_pretraining": {"perplexity", "eval_loss"},
}
# Classification systems that answer with probabilities also report these (evaluate/calibration.py).
LABEL_METRICS = {"expected_calibration_error", "mean_confidence", "routed_rate", "routed_count", "answered_accuracy"}


def _did_you_mean_file(path) -> str:
    """' Did you mean data/x.jsonl?' when a file of a close name sits in the same folder."""
    import difflib

    folder = path.parent
    if not folder.is_dir():
        return ""
    guess = difflib.get_close_matches(path.name, sorted(p.name for p in folder.iterdir()), n=1)
    return f" Did you mean '{folder / guess[0]}'?" if guess else ""


def check_sources(spec: "TailorSpec", check_files: bool) -> list[str]:
    if not check_files:
        return []
    out = []
    for i, src in enumerate(spec.data.sources):
        p = spec.resolve(src.path)
        if not p.exists():
            out.append(
                f"data.sources[{i}].path: {p} does not exist.{_did_you_mean_file(p)} Fix the path "
                "(relative to tailor.yaml) or create the file."
            )
        elif src.format == "text_folder" and not p.is_dir():
            out.append(f"data.sources[{i}].path: {p} is not a folder but format is text_folder.")
        elif p.is_dir():
            from ..data.ingest import TEXT_SUFFIXES

            if not any(q.is_file() and q.suffix.lower() in TEXT_SUFFIXES for q in p.rglob("*")):
                kinds = sorted({q.suffix or q.name for q in p.rglob("*") if q.is_file()})[:5]
                found = f" (it holds: {', '.join(kinds)})" if kinds else " (it is empty)"
                out.append(f"data.sources[{i}].path: folder {p} holds no {' or '.join(TEXT_SUFFIXES)} file{found}. A "
                           "folder source reads text files; point the path at a data file (jsonl, json, csv, tsv, "
                           "parquet) to read that instead.")
    return out


def check_split(spec: "TailorSpec", check_files: bool) -> list[str]:
    """The split fractions leave records for training (else prepare 'succeeds' with 0 training rows)."""
    s = spec.data.split
    if s.validation + s.test >= 1.0:
        return [f"data.split: validation ({s.validation}) + test ({s.test}) = {s.validation + s.test:g}, which leaves "
                "no record for training. Keep their sum below 1 (e.g. validation: 0.1, test: 0.15)."]
    return []


# A model.base written as a path (not an alias or a hub id "org/name").
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


def check_model_path(spec: "TailorSpec", check_files: bool) -> list[str]:
    """A local ``model.base`` path exists (else the failure comes only after the data stage)."""
    base = spec.model.base
    if not check_files or not base.startswith(_PATH_PREFIXES):
        return []
    p = spec.resolve(base)
    if p.exists():
        return []
    return [f"model.base: {p} does not exist.{_did_you_mean_file(p)} Give the folder of a saved model "
            "(config.json + weights), a Hugging Face id such as HuggingFaceTB/SmolLM2-135M-Instruct, or an alias."]


def check_criteria(spec: "TailorSpec", check_files: bool) -> list[str]:
    task = spec.objective.task
    allowed = TASK_METRICS[task] | COMMON_METRICS | (LABEL_METRICS if task == "classification" else set())
    out = []
    for i, c in enumerate(spec.objective.criteria):
        if c.system is not None and c.system not in spec.eval.systems:
            import difflib

            guess = difflib.get_close_matches(c.system, spec.eval.systems, n=1)
            hint = f" Did you mean '{guess[0]}'?" if guess else ""
            out.append(
                f"objective.criteria[{i}]: '{c}' compares with system '{c.system}', which is not in eval.systems "
                f"({', '.join(spec.eval.systems)}).{hint} Add it to eval.systems or compare with a listed system."
            )
        if c.metric not in allowed:
            import difflib

            guess = difflib.get_close_matches(c.metric, sorted(allowed), n=1)
            hint = f" Did you mean '{guess[0]}'?" if guess else ""
            out.append(
                f"objective.criteria[{i}]: metric '{c.metric}' does not apply to task '{task}'.{hint} "
                f"Metrics for this task: {', '.join(sorted(allowed))}."
            )
    return out


def check_method(spec: "TailorSpec", check_files: bool) -> list[str]:
    out = []
    method = spec.train.method
    if method == "qlora":
        try:
            import torch

            cuda = torch.cuda.is_available()
        except Exception:  # pragma: no cover - torch missing is caught elsewhere
            cuda = False
        if not cuda or spec.model.device == "cpu":
            out.append(
                "train.method: qlora needs a CUDA GPU (4-bit bitsandbytes kernels); none is available. "
                "Use method: lora on this machine."
            )
        else:
            import importlib.util

            if importlib.util.find_spec("bitsandbytes") is None:  # located, never imported (slow, CUDA init)
                out.append(
                    "train.method: qlora needs the bitsandbytes package (4-bit kernels), which is not "
                    "installed. Install it with: pip install 'tailorlm[qlora]' (or use method: lora)."
                )
    if spec.train.packing and method in ("prefix", "prompt"):
        out.append(
            f"train.packing: packing cannot be combined with method '{method}' (virtual tokens are "
            "prepended per sequence). Set packing: false."
        )
    if spec.objective.task == "continued_pretraining" and method in ("prefix", "prompt"):
        out.append(f"train.method: '{method}' is not supported for continued_pretraining; use lora or full.")
    return out


def check_eval(spec: "TailorSpec", check_files: bool) -> list[str]:
    out = []
    if spec.objective.task == "continued_pretraining":
        bad = [s for s in spec.eval.systems if s in ("few_shot", "classical", "rag", "fine_tuned_rag")]
        if bad:
            out.append(f"eval.systems: {bad} do not apply to continued_pretraining; use base and fine_tuned.")
    if spec.eval.rag_documents and check_files and not spec.resolve(spec.eval.rag_documents).exists():
        out.append(f"eval.rag_documents: {spec.resolve(spec.eval.rag_documents)} does not exist.")
    out.extend(_check_custom_rules(spec.eval.compliance.custom))
    return out


def _check_custom_rules(names: list[str]) -> list[str]:
    """Each ``eval.compliance.custom`` name is a registered entry point (so eval cannot fail late)."""
    if not names:
        return []
    from importlib.metadata import entry_points

    from ..evaluate.compliance import ENTRY_POINT_GROUP

    known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return [
        f"eval.compliance.custom[{i}]: no compliance rule named {name!r} is installed (entry point group "
        f"{ENTRY_POINT_GROUP!r}; installed: {', '.join(known) or 'none'}). Register it under "
        f'[project.entry-points."{ENTRY_POINT_GROUP}"] in your package and reinstall it, or remove the name.'
        for i, name in enumerate(names) if name not in known
    ]


def _train_checks() -> list[Callable[["TailorSpec", bool], list[str]]]:
    from ..train.checks import CHECKS as TRAIN_CHECKS  # method vs. the base model's config.json

    return list(TRAIN_CHECKS)


def check_budget(spec: "TailorSpec", check_files: bool) -> list[str]:
    from .budget import check_length_budget  # local: reads the tokenizer only when files are checked

    return check_length_budget(spec, check_files)


CHECKS: list[Callable[["TailorSpec", bool], list[str]]] = [
    check_sources,
    check_split,
    check_model_path,
    check_criteria,
    check_method,
    check_eval,
    check_budget,
    *_train_checks(),
]


def cross_check(spec: "TailorSpec", check_files: bool = True) -> list[str]:
    problems: list[str] = []
    for check in CHECKS:
        problems.extend(check(spec, check_files))
    return problems
