"""The ``tailorlm data`` commands through the real CLI (tiny model fixture for the tokenizer)."""

from __future__ import annotations

import json
import logging

import yaml
from typer.testing import CliRunner

from tailorlm.cli.main import app

runner = CliRunner()


def _project(tmp_path, tiny_model_dir):
    rows = [{"id": f"r{i}", "text": f"request {i}: {w} my card at the {p}", "intent": w}
            for i, (w, p) in enumerate((w, p) for w in ("block", "unblock", "replace")
                                       for p in ("bank", "shop", "airport", "station", "market", "office"))]
    rows[0]["text"] = "Please block my card, I am Dale Cooper (dale.cooper@example.com)"
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spec = {"project": "cli", "model": {"base": str(tiny_model_dir)},
            "data": {"sources": [{"path": "d.jsonl"}], "fields": {"input": "text", "label": "intent"},
                     "dedup": {"near": False}}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "tailor.yaml"


def test_prepare_card_preview(tmp_path, tiny_model_dir):
    spec = _project(tmp_path, tiny_model_dir)
    res = runner.invoke(app, ["data", "prepare", "--spec", str(spec), "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    dv = json.loads(res.stdout)
    assert dv["counts"]["kept"] == 18 and dv["labels"] == ["block", "replace", "unblock"]
    card = runner.invoke(app, ["data", "card", "--spec", str(spec)])
    assert card.exit_code == 0 and f"@ {dv['version']}" in card.stdout and "EMAIL_ADDRESS" in card.stdout
    prev = runner.invoke(app, ["data", "preview", "--spec", str(spec), "-n", "2"])
    assert prev.exit_code == 0, prev.output
    assert "<|im_start|>assistant" in prev.stdout and "with loss" in prev.stdout


def test_prepare_shows_file_warnings_with_the_file_name(tmp_path, tiny_model_dir, caplog):
    """A Latin-1 CSV is converted and the user is told so while the command runs (stderr log)."""
    rows = "".join(f"Ma carte {i} a été volée à la gare,{('block', 'unblock', 'replace')[i % 3]}\n" for i in range(18))
    (tmp_path / "latin.csv").write_bytes(("text,intent\n" + rows).encode("latin-1"))
    (tmp_path / "empty.jsonl").write_text("")
    spec = {"project": "cli", "model": {"base": str(tiny_model_dir)},
            "data": {"sources": [{"path": "latin.csv"}, {"path": "empty.jsonl"}],
                     "fields": {"input": "text", "label": "intent"}, "pii": {"enabled": False},
                     "dedup": {"near": False}}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(spec))
    with caplog.at_level(logging.WARNING):
        res = runner.invoke(app, ["data", "prepare", "--spec", str(tmp_path / "tailor.yaml"), "--no-progress"])
    assert res.exit_code == 0, res.output
    shown = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("tailorlm")]
    assert any(m.startswith("latin.csv: not UTF-8") and "converted to UTF-8" in m for m in shown), shown
    assert any(m.startswith("empty.jsonl: the file is empty") for m in shown), shown


def test_preview_marks_only_the_answer_and_end_of_turn(tmp_path, tiny_model_dir, tokenizer):
    from tailorlm.data.prepare import prepare_dataset
    from tailorlm.data.preview import preview
    from tailorlm.spec import load_spec
    from tailorlm.workspace import Workspace

    spec = load_spec(_project(tmp_path, tiny_model_dir))
    ws = Workspace.for_spec(spec)
    spec.data.pii.enabled = False
    prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    [sample] = preview(ws, spec, n=1, tokenizer=tokenizer)
    loss_text = "".join(t for t, loss in sample["tokens"] if loss)
    assert loss_text in {"block<|im_end|>", "unblock<|im_end|>", "replace<|im_end|>"}
    assert sample["n_loss_tokens"] < sample["n_tokens"] / 3


def test_scan_pii_prints_spans_and_redacts(tmp_path):
    src = tmp_path / "notes.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "Call Audrey Horne on (212) 555-0147 or audrey@example.com"}) + "\n"
                   + json.dumps({"id": "b", "text": "nothing to see here"}) + "\n")
    out = tmp_path / "redacted.jsonl"
    res = runner.invoke(app, ["data", "scan-pii", str(src), "--field", "text", "--redact", str(out)])
    assert res.exit_code == 0, res.output
    spans = [json.loads(x) for x in res.stdout.splitlines()]
    assert {s["entity_type"] for s in spans} >= {"PHONE_NUMBER", "EMAIL_ADDRESS"}
    assert all(s["id"] == "a" and set(s) == {"id", "start", "end", "entity_type", "score"} for s in spans)
    text = "Call Audrey Horne on (212) 555-0147 or audrey@example.com"
    assert any(text[s["start"]:s["end"]] == "audrey@example.com" for s in spans)
    red = [json.loads(x) for x in out.read_text().splitlines()]
    assert "<EMAIL_ADDRESS_1>" in red[0]["text"] and "555-0147" not in red[0]["text"]
    assert red[1]["text"] == "nothing to see here"


def test_scan_pii_names_a_missing_field(tmp_path):
    src = tmp_path / "x.jsonl"
    src.write_text(json.dumps({"body": "hi"}) + "\n")
    res = runner.invoke(app, ["data", "scan-pii", str(src), "--field", "text"])
    assert res.exit_code == 2 and "x.jsonl:1" in res.output and "--field" in res.output


def test_scan_pii_with_unscannable_records_writes_nothing_and_names_them(tmp_path):
    """Records missing the field stop the command before any span or OUT file: nothing half-done, nothing lost."""
    rows = [{"id": f"r{i}", "text": f"Call Audrey Horne on (212) 555-01{i:02d}"} for i in range(5)]
    rows[2] = {"id": "r2", "body": "mail audrey@example.com"}
    rows[4] = {"id": "r4", "text": 2125550104}
    src = tmp_path / "notes.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "redacted.jsonl"
    out.write_text("an older copy\n")
    res = runner.invoke(app, ["data", "scan-pii", str(src), "--field", "text", "--redact", str(out)])
    assert res.exit_code == 2
    assert "notes.jsonl:3 (id r2): no field 'text' (keys: body, id)" in res.output
    assert "notes.jsonl:5 (id r4): field 'text' is an int" in res.output and "2 of 5 record(s)" in res.output
    assert "entity_type" not in res.stdout  # no span printed before the error
    assert out.read_text() == "an older copy\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.jsonl", "redacted.jsonl"]  # no temp file left


def test_redacted_copy_appears_only_when_complete(tmp_path):
    from tailorlm.artifacts import atomic_open

    out = tmp_path / "out.jsonl"
    try:
        with atomic_open(out) as f:
            f.write("half\n")
            raise RuntimeError("scrubber crashed mid-file")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []
    with atomic_open(out) as f:
        f.write("whole\n")
    assert out.read_text() == "whole\n" and list(tmp_path.iterdir()) == [out]
