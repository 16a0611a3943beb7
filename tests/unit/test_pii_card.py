"""The data stage keeps template slots and class names, and the data card counts the slots."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import yaml

from tailorlm.data.prepare import prepare_dataset
from tailorlm.spec import load_spec
from tailorlm.workspace import Workspace

INTENTS = ["address_update", "track_order", "refund"]
TEXTS = {
    "address_update": "address update: please change it on {{{{Website Name}}}} for account {i}",
    "track_order": "Dear <CUSTOMER_NAME>, where is order <ORDER_ID> number {i}? purchase 3707955617{i:02d}",
    "refund": "Hi [name], the refund {i} for [order number] is on its way, Maria Lopez",
}


def test_slots_and_labels_survive_the_data_stage_and_the_card_counts_slots(tmp_path, tokenizer):
    rows = [{"id": f"r{i}", "text": TEXTS[INTENTS[i % 3]].format(i=i), "intent": INTENTS[i % 3]} for i in range(30)]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = {"project": "t", "objective": {"task": "classification"},
            "data": {"sources": [{"path": "m.jsonl"}], "fields": {"input": "text", "label": "intent", "id": "id"},
                     "dedup": {"near": False}}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(spec))
    spec = load_spec(tmp_path / "tailor.yaml")
    ws = Workspace.for_spec(spec)
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    out = [r for s in ("train", "validation", "test") for r in pq.read_table(dv.split_path(s)).to_pylist()]
    texts = {r["id"]: json.loads(r["prompt"])[0]["content"] for r in out}
    for rid, text in texts.items():
        i = int(rid[1:])
        original = TEXTS[INTENTS[i % 3]].format(i=i)
        if i % 3 == 2:  # the real name goes; the slots stay byte for byte
            assert "Maria Lopez" not in text and text.startswith("Hi [name], the refund") and "[order number]" in text
        else:
            assert text == original, (original, text)
    manifest = json.loads((ws.datasets / "t" / dv.version / "manifest.json").read_text())
    slots_per_text = {"address_update": 1, "track_order": 2, "refund": 2}
    expected = sum(slots_per_text[INTENTS[int(r["id"][1:]) % 3]] for r in out)
    assert manifest["counts"]["template_slots"] == expected
    assert "TEMPLATE_SLOT" not in manifest["counts"]["pii"]
    card = (ws.datasets / "t" / dv.version / "card.md").read_text()
    assert f"Template slots found and kept as they are (never redacted or split): {expected}" in card
