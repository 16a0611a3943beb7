"""Quality per training minute of a generation run: every checkpoint's answers against the floor.

For a project already trained with `tailorlm run` or `tailorlm train` (LoRA/DoRA, checkpoints kept
under `.tailor/runs/<run>/checkpoints/`), this evaluates each checkpoint and the final artifact on
the same seeded test sample with tailorlm's own evaluation (the `classical` nearest-answer floor
and `fine_tuned`), and prints one line per checkpoint: step, training minutes up to it (from the
run's metrics.jsonl), ROUGE-L and embedding similarity of the model and of the floor, and the
paired-bootstrap interval of the model's lead. It answers "how long must this train before it beats
copying the nearest stored answer?" (docs/benchmarks.md, "Generation: quality per training minute").

    python bench/generation_curve.py --project /tmp/sa --limit 100

Keep enough checkpoints for a curve with `train.save_every` and `train.keep_checkpoints`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def checkpoint_artifact(run, ckpt: Path, out: Path) -> Path:
    """A copy of the run's artifact with the checkpoint's trainable weights (a PEFT adapter folder)."""
    import torch

    from tailorlm.models.trained import load_trained

    shutil.copytree(run.model_path, out)
    loaded = load_trained(run.model_path, "cpu", "float32", merge=False)
    state = torch.load(ckpt / "trainable.pt", map_location="cpu")
    missing = loaded.model.load_state_dict(state, strict=False).unexpected_keys
    if missing:
        raise SystemExit(f"{ckpt}: {len(missing)} checkpoint tensors do not fit the artifact, e.g. {missing[0]}")
    loaded.model.save_pretrained(str(out))
    return out


def train_minutes(run_dir: Path) -> dict[int, float]:
    """Cumulative minutes of training steps at each step (metrics.jsonl: cumulative tokens, tokens/s)."""
    out, total, tokens = {}, 0.0, 0
    path = run_dir / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        row = json.loads(line)
        if row.get("tokens_per_second"):
            total += (row["tokens"] - tokens) / row["tokens_per_second"]
            tokens = row["tokens"]
            out[int(row["step"])] = total / 60
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", type=Path, required=True, help="folder with tailor.yaml, already trained")
    ap.add_argument("--limit", type=int, default=100, help="test examples (a seeded sample)")
    ap.add_argument("--checkpoints-only", action="store_true", help="skip the final artifact (already evaluated)")
    a = ap.parse_args(argv)

    from tailorlm.evaluate.runner import run_evaluation
    from tailorlm.pipeline import run_pipeline
    from tailorlm.spec import load_spec
    from tailorlm.workspace import Workspace

    spec = load_spec(a.project / "tailor.yaml")
    spec.eval.systems = ["classical", "fine_tuned"]
    spec.eval.limit = a.limit
    ws = Workspace.for_spec(spec)
    done = run_pipeline(spec, ws, until="train", progress=False)
    run, dataset = done.run, done.dataset
    run_dir = Path(run.path)
    minutes = train_minutes(run_dir)
    ckpts = sorted((run_dir / "checkpoints").glob("step-*"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        points = [(int(c.name.split("-")[1]), c) for c in ckpts]
        points += [] if a.checkpoints_only else [(int(run.metrics.get("steps") or 0), None)]
        for step, ckpt in points:
            version = run if ckpt is None else replace(
                run, model_path=str(checkpoint_artifact(run, ckpt, Path(tmp) / ckpt.name)))
            ev = run_evaluation(spec, ws, dataset, version, progress=False)
            m = ev.systems
            info = json.loads(Path(ev.report_json).read_text())["info"]
            lead = {"rougeL": info["significance"].get("classical"),
                    "embedding_similarity": info["significance_secondary"]["embedding_similarity"].get("classical")}
            rows.append({"step": step, "train_minutes": round(minutes.get(step, float("nan")), 2),
                         "fine_tuned": {k: m["fine_tuned"].get(k) for k in ("rougeL", "embedding_similarity")},
                         "classical": {k: m["classical"].get(k) for k in ("rougeL", "embedding_similarity")},
                         "lead": lead})
            print(json.dumps(rows[-1]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
