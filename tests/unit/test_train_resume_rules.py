"""--resume rules that need no training: refuse when there is nothing to resume (naming what was
looked for), and continue in the checkpoint's precision instead of measuring again."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
import torch

from tailorlm.errors import UserError
from tailorlm.spec import parse_spec
from tailorlm.train import run as train_run
from dataset_fixtures import write_dataset_version
from tailorlm.workspace import Workspace


def _setup(tmp_path):
    spec = parse_spec({"project": "r", "data": {"sources": [{"path": "x.jsonl"}]},
                       "model": {"base": str(tmp_path / "no-model-needed")}, "train": {"max_steps": 2}}, tmp_path)
    return spec, Workspace(tmp_path), write_dataset_version(tmp_path / "ds", n_train=8, n_val=2)


def test_resume_with_no_run_refuses_and_names_what_it_looked_for(tmp_path):
    spec, ws, ds = _setup(tmp_path)
    with pytest.raises(train_run.NothingToResume) as err:
        train_run.run_training(spec, ws, ds, resume=True, progress=False)
    msg = str(err.value)
    assert isinstance(err.value, UserError)
    assert "nothing to resume" in msg and train_run.run_key(spec, ds)[:12] in msg and str(ws.runs) in msg
    assert "tiny@v0test" in msg and "without --resume" in msg
    assert not any(ws.runs.iterdir())  # no run folder was started


def test_resume_of_a_run_without_a_complete_checkpoint_refuses(tmp_path):
    spec, ws, ds = _setup(tmp_path)
    run_dir = ws.runs / "20261201-000000-abcdef"
    (run_dir / "checkpoints" / ".staging-step-000002").mkdir(parents=True)  # killed mid-write
    train_run._record(ws, run_dir.name, "running", run_dir, {"run_key": train_run.run_key(spec, ds)}, ds.version)
    with pytest.raises(train_run.NothingToResume, match="before its first complete checkpoint") as err:
        train_run.run_training(spec, ws, ds, resume=True, progress=False)
    assert str(run_dir / "checkpoints") in str(err.value)


def _loaded(autocast_bf16: bool):
    return SimpleNamespace(device="cpu", autocast_bf16=autocast_bf16, model=torch.nn.Linear(2, 2),
                           autocast=lambda: contextlib.nullcontext())


def test_resume_reuses_the_checkpoints_bf16_choice_even_if_this_process_measures_otherwise(monkeypatch):
    monkeypatch.setattr(train_run, "_autocast", lambda *a, **k: pytest.fail("re-measured on resume"))
    ctx = train_run.choose_autocast(_loaded(False), None, "auto", {"autocast_bf16": True, "dtype": "float32"})
    with ctx():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    state = train_run.precision_state(_loaded(False), None, ctx)
    assert state == {"autocast_bf16": True, "dtype": "float32"}
    assert train_run.precision(_loaded(False), None, ctx, state) == "float32 with bf16 autocast (reused from the checkpoint)"


def test_resume_keeps_fp32_when_the_checkpoint_was_fp32(monkeypatch):
    monkeypatch.setattr(train_run, "_autocast", lambda *a, **k: pytest.fail("re-measured on resume"))
    ctx = train_run.choose_autocast(_loaded(True), None, "auto", {"autocast_bf16": False, "dtype": "float32"})
    assert ctx is contextlib.nullcontext
    assert train_run.precision_state(_loaded(True), None, ctx) == {"autocast_bf16": False, "dtype": "float32"}


def test_a_new_run_measures(monkeypatch):
    calls = []
    monkeypatch.setattr(train_run, "_autocast", lambda *a, **k: calls.append(a) or contextlib.nullcontext)
    train_run.choose_autocast(_loaded(True), None, "auto", None)
    assert len(calls) == 1
