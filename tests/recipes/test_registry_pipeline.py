"""End to end: `tailorlm run` on the example project (tiny model), then `tailorlm lineage` on its source
file lists the version just registered, and the audit chain covers every stage."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from tailorlm.cli.main import app

runner = CliRunner()


def _small_example(root, tiny_model_dir) -> None:
    """The support template, shrunk: the tiny random Llama, a few steps, a few test examples."""
    res = runner.invoke(app, ["init", str(root), "--messages", "200"])
    assert res.exit_code == 0, res.output
    spec = yaml.safe_load((root / "tailor.yaml").read_text())
    spec["model"]["base"] = str(tiny_model_dir)
    spec["train"].update(max_steps=2, batch_size=4, eval_every=2, save_every=2)
    spec["eval"].update(systems=["base", "fine_tuned"], limit=6, max_new_tokens=4)
    (root / "tailor.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def test_run_then_lineage_lists_the_registered_version(tmp_path, tiny_model_dir):
    root = tmp_path / "proj"
    _small_example(root, tiny_model_dir)
    spec_arg = ["--spec", str(root / "tailor.yaml")]
    res = runner.invoke(app, ["run", "--json", *spec_arg])
    assert res.exit_code == 0, res.output
    ref = json.loads(res.stdout)["model_version"]
    assert ref == "northwind-support@1"

    found = json.loads(runner.invoke(app, ["lineage", "data/messages.jsonl", "--json", *spec_arg]).stdout)
    assert [m["ref"] for m in found["models"]] == [ref]
    assert found["datasets"][0]["records"] > 0

    verify = runner.invoke(app, ["audit", "verify", "--json", *spec_arg])
    assert verify.exit_code == 0 and json.loads(verify.stdout)["ok"] is True
    actions = {r["action"] for r in json.loads(runner.invoke(app, ["audit", "log", "--limit", "0", "--json", *spec_arg]).stdout)}
    assert {"data.prepare", "train.start", "train.end", "eval", "register", "alias.set"} <= actions

    # The tiny random model fails accuracy >= 0.85: promotion is refused, naming the criterion.
    refused = runner.invoke(app, ["models", "promote", ref, "--to", "production", *spec_arg])
    assert refused.exit_code == 1 and "accuracy >= 0.85" in refused.output
