"""Kill a real training process, resume it, and check that it really resumed.

A seeded restart from step 0 would reproduce the uninterrupted run too, so equal weights alone
prove nothing: the resumed run must record (run record, metrics, log) the checkpoint step it
continued from, reuse the checkpoint's precision, and end with weights ``torch.equal`` to the
uninterrupted run's (same process setup, fp32 on CPU, RNG restored: the path is deterministic).
The whole-run ``train_loss`` must match too. A kill *inside* ``save_checkpoint`` leaves a
half-written staging folder: the resume uses the previous complete checkpoint and ignores it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from sqlalchemy import text

from tailorlm.train import checkpoints as ck
from dataset_fixtures import write_dataset_version
from tailorlm.workspace import Workspace

TRAIN = {"method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.1}, "learning_rate": 5e-3, "max_steps": 12,
         "batch_size": 4, "save_every": 2, "eval_every": 4, "keep_checkpoints": 2, "seed": 3}
# Run in the child instead of `-m tailorlm.train`: SIGKILL itself while the second checkpoint is half
# written (trainable, optimizer, scheduler and RNG files on disk; state.json not yet; not renamed).
KILL_IN_SAVE = """
import os, signal, sys
import tailorlm.train.checkpoints as ck
real, calls = ck.atomic_write_json, []
def dying(path, obj, *a, **k):
    if path.name == "state.json" and path.parent.name.startswith(".staging-"):
        calls.append(path)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    return real(path, obj, *a, **k)
ck.atomic_write_json = dying
from tailorlm.train.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def _project(root: Path, base: Path) -> Path:
    root.mkdir(parents=True)
    (root / "x.jsonl").write_text("")
    spec = {"project": "resume", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(base)},
            "train": TRAIN}
    (root / "tailor.yaml").write_text(yaml.safe_dump(spec))
    return root


def _args(root: Path, dataset: Path, *extra: str) -> list[str]:
    return ["--spec", str(root / "tailor.yaml"), "--dataset", str(dataset), "--no-progress", *extra]


def _cmd(root: Path, dataset: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tailorlm.train", *_args(root, dataset, *extra)]


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _only_run(root: Path) -> Path:
    runs = list((root / ".tailor" / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def _train(root: Path, dataset: Path, *extra: str) -> subprocess.CompletedProcess:
    res = subprocess.run(_cmd(root, dataset, *extra), env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _run_info(root: Path, run_dir: Path) -> dict:
    ws = Workspace(root)
    with ws.store.engine.connect() as conn:
        info = conn.execute(text("SELECT info FROM runs WHERE id=:i"), {"i": run_dir.name}).scalar_one()
    return json.loads(info)


def _assert_resumed(res, root: Path, run_dir: Path, step: int) -> None:
    """The resumed process says, records and reports that it continued from checkpoint ``step``."""
    assert step > 0
    ckpt = run_dir / "checkpoints" / f"step-{step:06d}"
    assert f"resumed from {ckpt} at step {step}" in res.stderr, res.stderr[-3000:]
    info = _run_info(root, run_dir)
    assert info["resumed_from"] == {"step": step, "checkpoint": str(ckpt)}
    assert info["metrics"]["resumed_from_step"] == step
    assert json.loads(res.stdout.strip().splitlines()[-1])["metrics"]["resumed_from_step"] == step
    if not torch.cuda.is_available():  # on CPU the bf16-autocast choice is measured per process: reused
        assert "reused from the checkpoint" in info["precision"]


def _assert_same_as_clean(run_dir: Path, clean_dir: Path) -> None:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, TRAIN["max_steps"] + 1))  # none repeated
    assert [r["step"] for r in rows if "eval_loss" in r] == [4, 8, 12]
    clean_rows = [json.loads(x) for x in (clean_dir / "metrics.jsonl").read_text().splitlines()]
    losses, clean_losses = ([r["loss"] for r in x if "loss" in r] for x in (rows, clean_rows))
    a = load_file(run_dir / "model" / "adapter_model.safetensors")
    b = load_file(clean_dir / "model" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and a
    if torch.cuda.is_available():
        # CUDA kernels may reduce in a different order from run to run (atomics in the backward
        # pass), so two uninterrupted runs differ at float32 rounding level too.
        assert losses == pytest.approx(clean_losses, abs=1e-4)
        worst = max(float((a[k] - b[k]).abs().max()) for k in a)
        assert worst <= 1e-5, worst
        return
    assert losses == clean_losses  # CPU, fp32, RNG restored: bit for bit
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, (differ[:3], max(float((a[k] - b[k]).abs().max()) for k in differ))


@pytest.fixture(scope="module")
def clean_run(tiny_model_dir, tmp_path_factory):
    """The dataset, and the uninterrupted reference run made on first use (after the resume checks,
    so a failing resume fails fast) and shared by both kill tests."""
    root = tmp_path_factory.mktemp("resume")
    ds = write_dataset_version(root / "data", n_train=30, n_val=6)  # 7 batches/epoch: crosses epochs
    made: list[Path] = []

    def clean_dir() -> Path:
        if not made:
            clean = _project(root / "clean", tiny_model_dir)
            _train(clean, Path(ds.path))
            made.append(_only_run(clean))
        return made[0]

    return Path(ds.path), clean_dir, root


def test_sigkill_then_resume_continues_from_the_checkpoint(tiny_model_dir, clean_run):
    ds, clean, root = clean_run
    killed = _project(root / "killed", tiny_model_dir)
    proc = subprocess.Popen(_cmd(killed, ds), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline, seen = time.time() + 600, []
    while time.time() < deadline and proc.poll() is None:
        runs = killed / ".tailor" / "runs"
        seen = sorted(runs.glob("*/checkpoints/step-*/state.json")) if runs.exists() else []
        if len(seen) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert len(seen) >= 2 and proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    run_dir = _only_run(killed)
    assert not (run_dir / "model").exists()  # it really died before finishing
    step = ck.list_checkpoints(run_dir / "checkpoints")[-1][0]  # the newest complete one at the kill

    resumed = _train(killed, ds, "--resume")
    assert _only_run(killed) == run_dir  # continued the same run
    _assert_resumed(resumed, killed, run_dir, step)
    clean_dir = clean()
    _assert_same_as_clean(run_dir, clean_dir)
    # train_loss averages the whole run (steps before the kill included), as the clean run's does.
    clean_metrics = _run_info(clean_dir.parents[2], clean_dir)["metrics"]
    assert _run_info(killed, run_dir)["metrics"]["train_loss"] == pytest.approx(clean_metrics["train_loss"], rel=1e-9)


def test_kill_inside_save_checkpoint_resumes_from_the_previous_one(tiny_model_dir, clean_run):
    ds, clean, root = clean_run
    killed = _project(root / "killed-in-save", tiny_model_dir)
    proc = subprocess.run([sys.executable, "-c", KILL_IN_SAVE, *_args(killed, ds)], env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    run_dir = _only_run(killed)
    ckpts = run_dir / "checkpoints"
    assert [s for s, _ in ck.list_checkpoints(ckpts)] == [2]  # only the first checkpoint is complete
    partial = ckpts / ".staging-step-000004"
    assert (partial / "optimizer.pt").exists() and not (partial / "state.json").exists()

    resumed = _train(killed, ds, "--resume")
    _assert_resumed(resumed, killed, run_dir, 2)  # the previous checkpoint, not the partial one
    assert not partial.exists()
    _assert_same_as_clean(run_dir, clean())
