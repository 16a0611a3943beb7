"""The shipped accelerate configs parse, and ``python -m tailorlm.train`` exposes them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "tailorlm" / "train" / "configs"


@pytest.mark.parametrize("name", ["ddp_cpu", "ddp_gpu", "deepspeed_zero2", "deepspeed_zero3", "fsdp"])
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
