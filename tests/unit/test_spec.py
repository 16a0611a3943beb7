"""tailor.yaml parsing: strict keys with did-you-mean, types, files, criteria and cross checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tailorlm.spec import Criterion, SpecError, TailorSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "src" / "tailorlm" / "templates" / "support" / "tailor.yaml"


def write_project(tmp_path: Path, mutate=None) -> Path:
    raw = yaml.safe_load(TEMPLATE.read_text())
    if mutate:
        mutate(raw)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "messages.jsonl").write_text('{"id": "1", "text": "hi", "intent": "x"}\n')
    path = tmp_path / "tailor.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_template_spec_is_valid(tmp_path):
    spec = load_spec(write_project(tmp_path))
    assert spec.project == "northwind-support"
    assert spec.objective.task == "classification"
    assert [str(c) for c in spec.objective.criteria][0] == "accuracy >= 0.85"
    assert spec.resolve("data/messages.jsonl") == tmp_path.resolve() / "data" / "messages.jsonl"


def example_specs() -> list[Path]:
    return sorted((ROOT / "examples").rglob("tailor.yaml"))


@pytest.mark.parametrize("path", example_specs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_spec_in_the_repo_validates(path):
    load_spec(path)


def test_unknown_key_names_path_line_and_suggestion(tmp_path):
    path = write_project(tmp_path, lambda r: r["train"].update({"max_step": 10}))
    with pytest.raises(SpecError) as e:
        load_spec(path)
    msg = str(e.value)
    assert "train.max_step: unknown key" in msg
    assert "Did you mean 'max_steps'?" in msg
    assert "line " in msg


def test_wrong_type_names_path_and_value(tmp_path):
    path = write_project(tmp_path, lambda r: r["train"].update({"batch_size": "lots"}))
    with pytest.raises(SpecError, match=r"train\.batch_size: .*integer.*'lots'"):
        load_spec(path)


def test_missing_data_file_is_named(tmp_path):
    def mutate(r):
        r["data"]["sources"][0]["path"] = "data/nope.jsonl"

    with pytest.raises(SpecError, match=r"data\.sources\[0\]\.path: .*nope\.jsonl does not exist"):
        load_spec(write_project(tmp_path, mutate))


def test_misspelt_data_file_gets_its_line_and_a_did_you_mean(tmp_path):
    def mutate(r):
        r["data"]["sources"][0]["path"] = "data/mesages.jsonl"

    path = write_project(tmp_path, mutate)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "mesages.jsonl" in t)
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert f"line {line}: data.sources[0].path:" in str(e.value)
    assert "Did you mean" in str(e.value) and "messages.jsonl'?" in str(e.value)


def test_unknown_custom_compliance_rule_fails_at_spec_check(tmp_path):
    path = write_project(tmp_path, lambda r: r["eval"].update({"compliance": {"custom": ["no_such_rule"]}}))
    with pytest.raises(SpecError, match=r"eval\.compliance\.custom\[0\]: no compliance rule named 'no_such_rule'"):
        load_spec(path)


def test_metric_that_does_not_apply_to_task(tmp_path):
    path = write_project(tmp_path, lambda r: r["objective"].update({"criteria": ["rouge1 >= 0.3"]}))
    with pytest.raises(SpecError, match="'rouge1' does not apply to task 'classification'"):
        load_spec(path)


def test_qlora_on_cpu_fails_at_spec_check(tmp_path):
    def mutate(r):
        r["train"]["method"] = "qlora"
        r["model"]["device"] = "cpu"

    with pytest.raises(SpecError, match="qlora needs a CUDA GPU"):
        load_spec(write_project(tmp_path, mutate))


def test_packing_with_prefix_tuning_is_refused(tmp_path):
    def mutate(r):
        r["train"].update({"method": "prefix", "packing": True})

    with pytest.raises(SpecError, match="packing cannot be combined"):
        load_spec(write_project(tmp_path, mutate))


def test_bad_yaml_reports_line(tmp_path):
    path = tmp_path / "tailor.yaml"
    path.write_text("project: x\ndata: [unclosed\n")
    with pytest.raises(SpecError, match=r"line \d+"):
        load_spec(path)


@pytest.mark.parametrize(
    "text,metric,op,thr",
    [("accuracy >= 0.85", "accuracy", ">=", 0.85), ("p95_latency_ms<=800", "p95_latency_ms", "<=", 800.0)],
)
def test_criterion_parse_and_check(text, metric, op, thr):
    c = Criterion.parse(text)
    assert (c.metric, c.op, c.threshold) == (metric, op, thr)
    assert c.check(thr) is True
    assert c.check(None) is False


def test_criterion_parse_error_explains_format():
    with pytest.raises(ValueError, match="'<metric> <op> <number>'"):
        Criterion.parse("accuracy is high")


def test_json_schema_lists_sections():
    schema = TailorSpec.model_json_schema()
    assert {"project", "objective", "data", "model", "train", "eval"} <= set(schema["properties"])


def test_cli_broken_spec_fails_fast_before_loading_a_model(tmp_path):
    path = write_project(tmp_path, lambda r: r.update({"trian": {}}))
    proc = subprocess.run(
        [sys.executable, "-m", "tailorlm.cli.main", "run", "--spec", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "trian: unknown key" in proc.stderr and "Did you mean 'train'?" in proc.stderr
    assert not (tmp_path / ".tailor" / "runs").exists()
