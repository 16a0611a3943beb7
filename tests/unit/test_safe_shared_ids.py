"""Issue 11, item 9: records sharing a source id are all kept, get unique ids, and keep the source id."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from test_data_prepare import messages, project

from tailorlm.data.ids import make_unique
from tailorlm.data.prepare import prepare_dataset
from tailorlm.registry import find_lineage


def test_make_unique_suffixes_repeats_in_order_and_avoids_taken_names():
    new, shared = make_unique(["a", "b", "a", "a#2", "a", "c"])
    assert new == ["a", "b", "a#3", "a#2", "a#4", "c"]
    assert len(set(new)) == len(new) and shared.records == 2 and shared.ids == 1


def test_ten_rows_sharing_one_id_are_kept_unique_and_traceable(tmp_path, tokenizer):
    rows = messages(40)
    for r in rows[:10]:
        r["id"] = "cust-1"  # a customer id on ten different messages
    spec, ws = project(tmp_path, [json.dumps(r) for r in rows], {"pii": {"enabled": False}})
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    out = [r for s in ("train", "validation", "test") for r in pq.read_table(f"{dv.path}/{s}.parquet").to_pylist()]
    ids = [r["id"] for r in out]
    assert len(ids) == len(set(ids)) == dv.counts["kept"]
    lineage = [json.loads(x) for x in open(f"{dv.path}/lineage.jsonl", encoding="utf-8")]
    kept_cust = [x for x in lineage if x["source_id"] == "cust-1"]
    assert len(kept_cust) == 10 and {x["id"] for x in kept_cust} == {"cust-1", *(f"cust-1#{k}" for k in range(2, 11))}
    assert dv.counts["shared_ids"] == {"records_renamed": 9, "ids": 1} and dv.counts["records_in"] == 40
    card = open(f"{dv.path}/card.md", encoding="utf-8").read()
    assert "share 1 id(s) (e.g. cust-1)" in card and "source id was shared" in card
    found = find_lineage(ws, "cust-1", root=spec.root)  # an erasure request for the customer id
    assert found["datasets"][0]["records"] == 10
    one = find_lineage(ws, "cust-1#3", root=spec.root)  # and each record on its own
    assert one["datasets"][0]["records"] == 1
