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


def test_two_cpu_processes_train_one_run(tiny_model_dir, tmp_path):
    """``torchrun -m tailorlm.train``: gloo DDP over 2 CPU processes, one run folder, each rank half the batches."""
    import json
    import os

    from tailorlm.train.fixtures import write_dataset_version

    ds = write_dataset_version(tmp_path / "ds", n_train=32, n_val=8)
    (tmp_path / "x.jsonl").write_text("")
    spec = {"project": "ddp", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(tiny_model_dir)},
            "train": {"max_steps": 4, "batch_size": 4, "save_every": 2, "eval_every": 2, "learning_rate": 1e-2}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(spec))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "tailorlm.train",
           "--spec", str(tmp_path / "tailor.yaml"), "--dataset", ds.path, "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    runs = list((tmp_path / ".tailor" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "model" / "adapter_model.safetensors").exists()
    rows = [r for r in map(json.loads, (runs[0] / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["epoch"] == 1.0  # 8 batches per epoch, 2 per step across the 2 processes
