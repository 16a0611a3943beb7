"""prepare_dataset end to end on small messy projects (tiny tokenizer fixture, real Presidio)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import text

from tailorlm.data.errors import DataError
from tailorlm.data.prepare import prepare_dataset
from tailorlm.spec import load_spec
from tailorlm.workspace import Workspace

COLUMNS = ["id", "source", "line", "kind", "prompt", "completion", "label", "text", "chosen", "rejected", "cluster"]
INTENTS = {
    "card_lost": ["I lost my {} card somewhere near the {}", "my {} card was stolen at the {} yesterday"],
    "balance": ["how much money is in my {} account after the {} payment", "what is the {} balance on the {} statement"],
    "transfer": ["please move money from {} savings to the {} account", "send a {} transfer to my landlord for the {}"],
}
WORDS = ["blue", "gold", "travel", "joint", "student", "business", "market", "station", "airport", "gym", "office",
         "rent", "salary", "bonus", "holiday", "pension", "mortgage", "school", "garage", "bakery"]


def messages(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        intent = list(INTENTS)[i % 3]
        body = rng.choice(INTENTS[intent]).format(rng.choice(WORDS), rng.choice(WORDS))
        out.append({"id": f"m{i:04d}", "text": f"{body} (ref {i * 7919 % 10007})", "intent": intent})
    return out


def project(tmp_path, lines: list[str], data: dict | None = None, name: str = "msgs.jsonl"):
    (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {"project": "t", "objective": {"task": "classification"},
            "data": {"sources": [{"path": name}], "fields": {"input": "text", "label": "intent", "id": "id"},
                     **(data or {})}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(spec))
    spec = load_spec(tmp_path / "tailor.yaml")
    return spec, Workspace.for_spec(spec)


@pytest.fixture()
def messy(tmp_path):
    rows = messages(60)
    rows[5]["text"] = "Hi, I'm Laura Palmer, email laura.palmer@example.com. " + rows[5]["text"]
    rows[9]["text"] = "<p>card <b>4111 1111 1111 1111</b> is gone</p> " + rows[9]["text"]
    lines = [json.dumps(r) for r in rows]
    lines += [json.dumps(dict(rows[2], id="dup-exact")),                                 # exact duplicate
              json.dumps(dict(rows[3], id="dup-near", text=rows[3]["text"] + " thanks!")),  # near duplicate
              '{"id": "broken", "text": ',                                                   # unparsable
              json.dumps({"id": "nolabel", "text": "hello there"}),                         # missing label
              json.dumps({"id": "emptyhtml", "text": "<br/>", "intent": "balance"})]        # empty once cleaned
    return project(tmp_path, lines)


def test_messy_project_reconciles_and_writes_everything(messy, tokenizer):
    spec, ws = messy
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    c = dv.counts
    assert c["records_in"] == 65
    assert c["records_in"] == c["kept"] + c["quarantined"] + c["duplicates"] + c["filtered"]
    assert c["quarantined_by_code"] == {"empty_field": 1, "missing_field": 1, "unparsable": 1}
    assert c["duplicates_exact"] >= 1 and c["duplicates_near"] >= 1
    assert dv.labels == ["balance", "card_lost", "transfer"]
    out = {s: pq.read_table(dv.split_path(s)) for s in ("train", "validation", "test")}
    assert all(t.column_names == COLUMNS for t in out.values())
    rows = [r for t in out.values() for r in t.to_pylist()]
    assert len(rows) == c["kept"] == sum(c["splits"].values())
    assert {"dup-exact", "dup-near", "broken"}.isdisjoint(r["id"] for r in rows)
    by_id = {r["id"]: r for r in rows}
    msg5 = json.loads(by_id["m0005"]["prompt"])[0]["content"]
    assert "<PERSON_1>" in msg5 and "<EMAIL_ADDRESS_1>" in msg5 and "Laura" not in msg5
    msg9 = json.loads(by_id["m0009"]["prompt"])[0]["content"]
    assert msg9.startswith("card <CREDIT_CARD_1> is gone") and "<b>" not in msg9
    assert by_id["m0000"]["completion"] == by_id["m0000"]["label"] == "card_lost"
    assert by_id["m0000"]["source"] == "msgs.jsonl" and by_id["m0000"]["line"] == 1
    quarantine = [json.loads(x) for x in (ws.datasets / "t" / dv.version / "quarantine.jsonl").read_text().splitlines()]
    assert {(q["id"], q["code"]) for q in quarantine} == {("msgs.jsonl:63", "unparsable"), ("nolabel", "missing_field"),
                                                         ("emptyhtml", "empty_field")}
    card = (ws.datasets / "t" / dv.version / "card.md").read_text()
    for needle in ("Reconciliation: 65 in", "**OK**", "## PII found and replaced", "CREDIT_CARD",
                   "## Demographic terms per label", "token_lengths.png", "unparsable"):
        assert needle in card, needle
    assert (ws.datasets / "t" / dv.version / "token_lengths.png").stat().st_size > 1000
    manifest = json.loads((ws.datasets / "t" / dv.version / "manifest.json").read_text())
    assert manifest["sources"][0]["sha256"] and manifest["counts"]["kept"] == c["kept"]
    with ws.store.engine.connect() as conn:
        n_lineage = conn.execute(text("SELECT COUNT(*) FROM record_lineage WHERE dataset_version=:v"),
                                 {"v": dv.version}).scalar()
        split = conn.execute(text("SELECT source, line, split FROM record_lineage WHERE record_id='m0005'")).first()
        assert conn.execute(text("SELECT COUNT(*) FROM datasets WHERE version=:v"), {"v": dv.version}).scalar() == 1
    assert n_lineage == c["kept"]
    assert split[0] == "msgs.jsonl" and split[1] == 6 and split[2] in ("train", "validation", "test")

    again = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    assert again.version == dv.version
    with ws.store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM record_lineage")).scalar() == c["kept"]


def test_worker_processes_give_the_same_version(messy, tokenizer, monkeypatch):
    """num_proc: 2 (two datasets.map workers, each with its own scrubber) builds the same rows as one process."""
    from datasets import Dataset

    spec, ws = messy
    splits = ("train", "validation", "test")
    one = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    one_rows = {s: pq.read_table(one.split_path(s)).to_pylist() for s in splits}  # before the same folder is rewritten
    seen, original, environ = [], Dataset.map, os.environ

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("num_proc"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Dataset, "map", spy)
    spec.data.num_proc, spec.data.batch_size = 2, 7  # workers see other batches than the single process
    two = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    assert seen and set(seen) == {2}  # every per-record step ran in two workers
    assert os.environ is environ  # datasets swaps it for a copy; prepare puts the real one back
    assert two.version == one.version and two.counts == one.counts
    assert two.counts["pii"]["PERSON"] >= 1 and two.counts["duplicates_near"] >= 1
    assert {s: pq.read_table(two.split_path(s)).to_pylist() for s in splits} == one_rows


def test_too_few_valid_records_is_an_error(tmp_path, tokenizer):
    lines = [json.dumps(r) for r in messages(6)] + ["not json"] * 3
    spec, ws = project(tmp_path, lines, {"pii": {"enabled": False}})
    with pytest.raises(DataError, match=r"only 6 valid record\(s\).*unparsable x3"):
        prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    # No version was written; only the log of why (rejected/quarantine.jsonl).
    assert not [p for p in (ws.datasets / "t").iterdir() if not p.name.startswith(".") and p.name != "rejected"]


def test_empty_test_split_is_an_error_before_any_training(tmp_path, tokenizer):
    # 12 records over 3 labels: 4 per label x 0.1 rounds to 0 test records in every stratum.
    spec, ws = project(tmp_path, [json.dumps(r) for r in messages(12)],
                       {"pii": {"enabled": False}, "min_records": 10, "split": {"test": 0.1, "validation": 0.1}})
    with pytest.raises(DataError, match=r"test split would be empty: 12 kept record\(s\) across 3 labels"):
        prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)


@pytest.mark.parametrize("policy", ["drop", "truncate", "error"])
def test_length_policy(tmp_path, tokenizer, policy):
    rows = messages(30)
    rows[4]["text"] = " ".join(f"word{i}" for i in range(400))
    spec, ws = project(tmp_path, [json.dumps(r) for r in rows],
                       {"pii": {"enabled": False}, "max_seq_len": 128, "length_policy": policy})
    if policy == "error":
        with pytest.raises(DataError, match=r"msgs.jsonl:5 \(id m0004\).*max_seq_len"):
            prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
        return
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    rows_out = [r for s in ("train", "validation", "test") for r in pq.read_table(dv.split_path(s)).to_pylist()]
    long = [r for r in rows_out if r["id"] == "m0004"]
    if policy == "drop":
        assert dv.counts["quarantined_by_code"] == {"too_long": 1} and not long
    else:
        assert dv.counts["truncated"] == 1 and long and long[0]["completion"] == "balance"
        from tailorlm.data.lengths import shared_tokens, token_lengths

        # the budget counts the example's own part: the shared instruction and label list are not in it
        own = token_lengths(long, spec.objective, dv.labels, tokenizer)[0] - shared_tokens(spec.objective, dv.labels, tokenizer)
        assert 100 < own <= 128


def test_bad_inputs_lose_nothing(tmp_path, tokenizer):
    rows = messages(40)
    latin = "text,intent\n" + "".join(f"Ma carte {i} a été volée à la gare de Zürich,card_lost\n" for i in range(12))
    (tmp_path / "latin.csv").write_bytes(latin.encode("latin-1"))
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "ragged.csv").write_text("text,intent\nok then,balance\ntoo,many,cells\n")
    big = {"id": "big", "text": "lorem ipsum " * 450_000, "intent": "balance"}  # ~5 MB
    lines = [json.dumps(r) for r in rows] + [json.dumps(big)]
    spec, ws = project(tmp_path, lines, {"pii": {"enabled": False}, "sources": [
        {"path": "msgs.jsonl"}, {"path": "latin.csv"}, {"path": "empty.jsonl"}, {"path": "ragged.csv"}]})
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    c = dv.counts
    assert c["records_in"] == 41 + 12 + 0 + 2
    assert c["records_in"] == c["kept"] + c["quarantined"] + c["duplicates"] + c["filtered"]
    assert c["filtered_by_name"] == {"max_chars": 1}
    assert c["quarantined_by_code"] == {"ragged_row": 1}
    manifest = json.loads((ws.datasets / "t" / dv.version / "manifest.json").read_text())
    warn = {s["path"]: " ".join(s["warnings"]) for s in manifest["sources"]}
    assert "converted to UTF-8" in warn["latin.csv"] and "empty" in warn["empty.jsonl"]
    texts = [r["prompt"] for s in ("train", "validation", "test") for r in pq.read_table(dv.split_path(s)).to_pylist()]
    assert any("été volée à la gare de Zürich" in t for t in texts)


def test_binary_source_fails_with_the_file_name(tmp_path, tokenizer):
    spec, ws = project(tmp_path, [json.dumps(r) for r in messages(20)])
    (tmp_path / "msgs.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 10)
    with pytest.raises(DataError, match="msgs.jsonl: looks like a binary file"):
        prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)


def test_chat_and_preference_records(tmp_path, tokenizer):
    chats = [{"id": f"c{i}", "messages": [{"role": "system", "content": "be nice"},
                                          {"role": "user", "content": f"question number {i} about {WORDS[i % 20]}"},
                                          {"role": "assistant", "content": f"answer {i} on {WORDS[(i * 3) % 20]}"}]}
             for i in range(15)]
    prefs = [{"id": f"p{i}", "prompt": f"rate plan {i} for {WORDS[i % 20]}", "chosen": f"good plan {i} {WORDS[i % 7]}",
              "rejected": f"bad plan {i}"} for i in range(12)]
    prefs.append({"id": "same", "prompt": "x", "chosen": "y", "rejected": "y"})
    spec, ws = project(tmp_path, [json.dumps(r) for r in chats + prefs], {"pii": {"enabled": False}})
    spec.objective.task = "chat"
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    rows = [r for s in ("train", "validation", "test") for r in pq.read_table(dv.split_path(s)).to_pylist()]
    kinds = {r["kind"] for r in rows}
    assert kinds == {"sft", "preference"} and dv.labels == []
    assert dv.counts["quarantined_by_code"] == {"identical_pair": 1}
    pref = next(r for r in rows if r["kind"] == "preference")
    assert pref["chosen"].startswith("good plan") and pref["rejected"].startswith("bad plan")


def test_keep_mode_clusters_stay_in_one_split(tmp_path, tokenizer):
    rows = messages(40)
    for k in range(12):  # a family of near-identical messages
        rows.append({"id": f"near{k}", "intent": "balance",
                     "text": f"what is the balance on my joint account after the salary payment {k}"})
    spec, ws = project(tmp_path, [json.dumps(r) for r in rows],
                       {"pii": {"enabled": False}, "dedup": {"near_action": "keep", "threshold": 0.7}})
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    assert dv.counts["duplicates_near"] == 0
    split_of = {}
    for s in ("train", "validation", "test"):
        for r in pq.read_table(dv.split_path(s)).to_pylist():
            split_of.setdefault(r["cluster"], set()).add(s)
    near_cluster = [c for c, ss in split_of.items() if c.startswith("near")]
    assert near_cluster == ["near0"]
    assert all(len(ss) == 1 for ss in split_of.values())
    card = (ws.datasets / "t" / dv.version / "card.md").read_text()
    assert "(action `keep`)" in card


def test_example_project_catches_everything_planted(tmp_path, tokenizer):
    """The support template's generator plants PII, duplicates and malformed lines with ground truth."""
    import shutil

    from tailorlm.templates.support import generate

    shutil.copy(Path(generate.__file__).with_name("tailor.yaml"), tmp_path / "tailor.yaml")
    planted = generate.write_corpus(tmp_path, n_messages=600, seed=5)
    spec = load_spec(tmp_path / "tailor.yaml")
    ws = Workspace.for_spec(spec)
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    out = ws.datasets / spec.project / dv.version
    c = dv.counts
    assert c["records_in"] == planted["n_lines"]
    assert c["records_in"] == c["kept"] + c["quarantined"] + c["duplicates"] + c["filtered"]
    quarantined = {json.loads(x)["line"] for x in (out / "quarantine.jsonl").read_text().splitlines()}
    assert set(planted["malformed_lines"]) <= quarantined
    removed = {json.loads(x)["id"] for x in (out / "removed.jsonl").read_text().splitlines()}
    assert set(planted["exact_duplicate_ids"]) | set(planted["near_duplicate_ids"]) <= removed
    kept = {r["id"]: json.loads(r["prompt"])[0]["content"]
            for s in ("train", "validation", "test") for r in pq.read_table(dv.split_path(s)).to_pylist()}
    leaks = [(rid, v) for rid, items in planted["pii_by_record"].items() if rid in kept
             for _, v in items if v.lower() in kept[rid].lower()]
    assert leaks == []
    found = json.loads((out / "manifest.json").read_text())["pii"]["found_all"]
    for entity in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "ACCOUNT_NUMBER"):
        assert found.get(entity, 0) == planted["pii"][entity], entity
    # The card says so, with the exact counts.
    card = (out / "card.md").read_text()
    assert (f"Reconciliation: {c['records_in']} in = {c['kept']} kept + {c['quarantined']} quarantined + "
            f"{c['duplicates']} duplicates + {c['filtered']} filtered: **OK**") in card
    assert f"| exact duplicates removed | {c['duplicates_exact']} |" in card
    assert f"| near duplicates removed | {c['duplicates_near']} |" in card
    for code, n in c["quarantined_by_code"].items():
        assert f"| quarantined: {code} | {n} |" in card
