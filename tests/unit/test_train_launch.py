"""The shipped accelerate configs parse, and ``python -m tailorlm.train`` exposes them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "tailorlm" / "train" / "configs"


@pytest.mark.parametrize("name", ["ddp_gpu", "deepspeed_zero2", "deepspeed_zero3", "fsdp"])
def test_accelerate_config_loads(name):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    assert str(cfg.distributed_type).split(".")[-1] == raw["distributed_type"]
    if name.startswith("deepspeed"):
        assert cfg.deepspeed_config["zero_stage"] == int(name[-1])
    if name == "fsdp":
        assert cfg.fsdp_config["fsdp_use_orig_params"] is True  # required for PEFT under FSDP


def test_module_prints_config_path():
    out = subprocess.run([sys.executable, "-m", "tailorlm.train", "--config-path", "fsdp"], capture_output=True,
                         text=True, check=True)
    assert Path(out.stdout.strip()) == CONFIGS / "fsdp.yaml"


def test_cli_registers_train_command():
    from typer.testing import CliRunner

    from tailorlm.cli.main import app

    res = CliRunner().invoke(app, ["train", "--help"])
    assert res.exit_code == 0 and "--resume" in res.output


def _free_port() -> int:
    """A TCP port nobody listens on (another job on this machine may hold the default 29500)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_project(tmp_path, base):
    from dataset_fixtures import write_dataset_version

    ds = write_dataset_version(tmp_path / "ds", n_train=32, n_val=8)
    (tmp_path / "x.jsonl").write_text("")
    spec = {"project": "ddp", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(base)},
            "train": {"head": "lm", "max_steps": 4, "batch_size": 4, "save_every": 2, "eval_every": 2, "learning_rate": 1e-2}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(spec))
    return ds


def _train_args(tmp_path, ds) -> list[str]:
    return ["-m", "tailorlm.train", "--spec", str(tmp_path / "tailor.yaml"), "--dataset", ds.path, "--no-progress"]


def _launch(cmd: list[str]):
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]


def _only_run(tmp_path) -> Path:
    runs = list((tmp_path / ".tailor" / "runs").iterdir())
    assert len(runs) == 1, runs  # every process trained the same run
    return runs[0]


def _step_rows(run_dir: Path) -> list[dict]:
    import json

    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_two_cpu_processes_train_one_run(tiny_model_dir, tmp_path):
    """``torchrun -m tailorlm.train``: gloo DDP over 2 CPU processes, one run folder, each rank half the batches."""
    ds = _ddp_project(tmp_path, tiny_model_dir)
    _launch([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
             *_train_args(tmp_path, ds)])
    run_dir = _only_run(tmp_path)
    assert (run_dir / "model" / "adapter_model.safetensors").exists()
    rows = _step_rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["epoch"] == 1.0  # 8 batches per epoch, 2 per step across the 2 processes


def _expected_rank_tokens(tmp_path, ds, base, world: int, steps: int) -> list[list[int]]:
    """Tokens of the batch each rank must take at each step: rank r, step s -> batch s*world + r of the plan."""
    from tailorlm.models.loader import load_tokenizer
    from tailorlm.spec import load_spec
    from tailorlm.train.collate import collate, plan_batches
    from tailorlm.train.classifier import resolve_head
    from tailorlm.train.run import build_rows

    spec = load_spec(str(tmp_path / "tailor.yaml"))
    tok = load_tokenizer(str(base))
    head, _ = resolve_head(spec.objective.task, spec.train.head, spec.train.method)  # as run_training picks it
    rows, packed, *_ = build_rows(spec, ds, tok, False, head)
    t = spec.train
    plan = plan_batches([sum(len(s) for s in r) for r in rows["train"]], t.batch_size, t.seed, 0, t.group_by_length)
    n = [collate([rows["train"][i] for i in b], tok.pad_token_id, packed).n_tokens for b in plan]
    return [[n[s * world + r] for r in range(world)] for s in range(steps)]


def test_accelerate_launch_two_cpu_processes(tiny_model_dir, tmp_path):
    """``accelerate launch --multi_gpu --num_processes 2 -m tailorlm.train`` on CPU (gloo DDP).

    ``accelerate launch --cpu --num_processes 2`` would start a single process here (accelerate
    launches several CPU processes only through mpirun), so ``--multi_gpu`` is used: accelerate
    starts the processes with torch.distributed.run and tailorlm's Accelerator(cpu=True) joins them
    over gloo. Each rank must take its own batches of the shared plan, and the artifact must load.
    """
    import torch

    from tailorlm.models.trained import load_trained

    ds = _ddp_project(tmp_path, tiny_model_dir)
    accelerate = Path(sys.executable).with_name("accelerate")
    _launch([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
             "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
             *_train_args(tmp_path, ds)])
    run_dir = _only_run(tmp_path)
    rows = _step_rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[-1]["epoch"] == 1.0
    expected = _expected_rank_tokens(tmp_path, ds, tiny_model_dir, world=2, steps=4)
    assert any(a != b for a, b in expected)  # the two ranks' batches differ, so this check can fail
    assert [r["rank_tokens"] for r in rows] == expected  # each rank trained on its own batch of the plan
    assert rows[-1]["tokens"] == sum(map(sum, expected))

    lm = load_trained(str(run_dir / "model"), device="cpu", dtype="float32")
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([[1, 9690, 198, 67, 2, 198, 1, 4093, 198]])
    with torch.no_grad():
        got, before = lm.model(input_ids=ids).logits, base(input_ids=ids).logits
    assert torch.isfinite(got).all() and not torch.allclose(got, before, atol=1e-4)  # the adapter trained
