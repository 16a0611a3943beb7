"""Kill a real training process with SIGKILL after its second checkpoint, resume it, and compare.

The resumed run must end with the same weights (within 1e-5) as an uninterrupted run, and its
per-step log must list every step exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from safetensors.torch import load_file

from tailorlm.train.fixtures import write_dataset_version

TRAIN = {"method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.1}, "learning_rate": 5e-3, "max_steps": 12,
         "batch_size": 4, "save_every": 2, "eval_every": 4, "keep_checkpoints": 2, "seed": 3}


def _project(root: Path, base: Path) -> Path:
    root.mkdir(parents=True)
    (root / "x.jsonl").write_text("")
    spec = {"project": "resume", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(base)},
            "train": TRAIN}
    (root / "tailor.yaml").write_text(yaml.safe_dump(spec))
    return root


def _cmd(root: Path, dataset: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tailorlm.train", "--spec", str(root / "tailor.yaml"), "--dataset", str(dataset),
            "--no-progress", *extra]


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _only_run(root: Path) -> Path:
    runs = list((root / ".tailor" / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def test_sigkill_then_resume_matches_uninterrupted_run(tiny_model_dir, tmp_path):
    ds = write_dataset_version(tmp_path / "data", n_train=30, n_val=6)  # 7 batches/epoch: crosses epochs
    killed = _project(tmp_path / "killed", tiny_model_dir)
    clean = _project(tmp_path / "clean", tiny_model_dir)

    proc = subprocess.Popen(_cmd(killed, Path(ds.path)), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    second = None
    while time.time() < deadline and proc.poll() is None:
        runs = killed / ".tailor" / "runs"
        found = sorted(runs.glob("*/checkpoints/step-*")) if runs.exists() else []
        if len(found) >= 2:
            second = found[-1]
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert second is not None and proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    run_dir = _only_run(killed)
    assert not (run_dir / "model").exists()  # it really died before finishing

    resumed = subprocess.run(_cmd(killed, Path(ds.path), "--resume"), env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _only_run(killed) == run_dir  # continued the same run
    full = subprocess.run(_cmd(clean, Path(ds.path)), env=_env(), capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]

    a = load_file(run_dir / "model" / "adapter_model.safetensors")
    b = load_file(_only_run(clean) / "model" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and a
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-5, worst
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == list(range(1, TRAIN["max_steps"] + 1))  # no step repeated or skipped
    evals = [r["step"] for r in rows if "eval_loss" in r]
    assert evals == [4, 8, 12]
    clean_rows = [json.loads(x) for x in (_only_run(clean) / "metrics.jsonl").read_text().splitlines()]
    assert [round(r["loss"], 5) for r in rows if "loss" in r] == [round(r["loss"], 5) for r in clean_rows if "loss" in r]
