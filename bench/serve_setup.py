"""Everything ``bench/serve_load.py --setup-default DIR`` needs: a project, 4 LoRA versions, a merged export.

Cheap stand-ins for trained versions, registered the way ``tailorlm train`` + ``register`` register
real ones: the project comes from ``tailorlm init --template support`` and ``tailorlm data
prepare``; each version is a LoRA adapter with the project's ``train.lora`` shape on the base model
loaded by the project's model loader, its ``lora_B`` drawn at random (seeded, small: std
``B_STD``) instead of trained, saved with ``save_artifact`` (provenance, prompt recipe, tokenizer)
and registered with ``register_model``. Version 1 is exported merged (``tailorlm models export
--merge``) for the peer server; ``tailor.merged.yaml`` (the project's spec with ``model.base`` set
to that folder) lets our server serve the same merged weights under the same model name (its base
alias) next to the registered LoRA versions. Each step is skipped when its output already exists, so a second
run reuses the first one's setup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

B_STD = 0.02  # lora_B ~ N(0, B_STD): versions that answer differently, and still like the base


@dataclass
class Setup:
    project: Path  # the project folder (tailor.yaml)
    name: str  # the registered model name
    versions: list[str]  # NAME@1 ... NAME@k
    merged: Path  # version 1 merged into its base (for the peer)
    merged_spec: Path  # the project's spec with model.base = merged: our server serves it as the base


def tailorlm(*args: str, cwd: Path | None = None) -> None:
    """Run the ``tailorlm`` CLI of this interpreter; a failure stops the setup with its output."""
    exe = Path(sys.executable).parent / "tailorlm"  # the console script of this environment
    cmd = [str(exe) if exe.exists() else "tailorlm", *args]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"setup step failed: {' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def _project(root: Path, messages: int, base: str | None) -> Path:
    project = root / "project"
    if not (project / "tailor.yaml").exists():
        tailorlm("init", str(project), "--template", "support", "--messages", str(messages))
        if base:
            import yaml

            raw = yaml.safe_load((project / "tailor.yaml").read_text())
            raw.setdefault("model", {})["base"] = base
            (project / "tailor.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    if not list((project / ".tailor" / "datasets").glob("*/*/manifest.json")):
        tailorlm("data", "prepare", "--no-progress", cwd=project)
    return project


def _random_lora_version(spec, ws, dataset, loaded, k: int) -> None:
    """Version ``k``: a seeded random LoRA adapter on ``loaded``, saved and registered like a trained one."""
    import torch
    from peft import get_peft_model

    from tailorlm.prompting import prompt_recipe
    from tailorlm.registry import register_model
    from tailorlm.results import TrainRun
    from tailorlm.train.export import save_artifact
    from tailorlm.train.methods import lora

    torch.manual_seed(1000 + k)
    model = get_peft_model(loaded.model, lora(spec.train))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, B_STD)
    run_id = f"bench-lora-{k}"
    run = TrainRun(run_id=run_id, path=str(ws.runs / run_id), model_path=str(ws.runs / run_id / "model"),
                   method="lora", base_ref=spec.model.base, base_path=loaded.resolved.path,
                   base_weight_hash=loaded.resolved.weight_hash, dataset_version=dataset.version,
                   metrics={"note": "random LoRA stand-in for the serving benchmark (not trained)"})
    provenance = {"run_id": run_id, "method": "lora", "base_ref": run.base_ref, "base_path": run.base_path,
                  "base_weight_hash": run.base_weight_hash, "dataset_name": dataset.name,
                  "dataset_version": dataset.version, "task": spec.objective.task, "labels": dataset.labels,
                  "prompt_recipe": prompt_recipe(spec.objective, dataset.labels, spec.train.labels_in_prompt,
                                                 loaded.tokenizer),
                  "metrics": run.metrics, "spec": spec.model_dump(mode="json")}
    save_artifact(model, loaded.tokenizer, Path(run.model_path), provenance, "lora")
    model.unload()  # the base without the adapter, for the next version
    register_model(spec, ws, dataset, run, None)


def setup_default(root: Path, versions: int = 4, messages: int = 200, base: str | None = None) -> Setup:
    """Project, ``versions`` registered LoRA versions and version 1 merged, under ``root`` (reused if there)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    project = _project(root, messages, base)
    from tailorlm.cli.common import load, workspace
    from tailorlm.models import load_base
    from tailorlm.registry.versions import list_versions
    from tailorlm.store.datasets import latest_dataset_path
    from tailorlm.train.__main__ import dataset_from_folder

    spec = load(project / "tailor.yaml", check_files=False)
    ws = workspace(spec)
    have = len(list_versions(ws, spec.project))
    if have < versions:
        dataset = dataset_from_folder(latest_dataset_path(ws.store, spec.project))
        loaded = load_base(spec.model.base, spec.model.device, spec.model.dtype, spec.model.revision,
                           spec.model.download)
        for k in range(have + 1, versions + 1):
            _random_lora_version(spec, ws, dataset, loaded, k)
    merged = root / "merged"
    if not (merged / "config.json").exists():
        tailorlm("models", "export", f"{spec.project}@1", "--merge", "--out", str(merged), cwd=project)
    merged_spec = project / "tailor.merged.yaml"
    if not merged_spec.exists():
        import yaml

        raw = yaml.safe_load((project / "tailor.yaml").read_text())
        raw.setdefault("model", {})["base"] = str(merged)
        merged_spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    return Setup(project, spec.project, [f"{spec.project}@{k}" for k in range(1, versions + 1)], merged, merged_spec)


def describe(s: Setup) -> str:
    return json.dumps({"project": str(s.project), "versions": s.versions, "merged": str(s.merged),
                       "merged_spec": str(s.merged_spec)})
