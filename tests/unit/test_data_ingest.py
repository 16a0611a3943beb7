"""Ingest and record formats: every file format, encodings, and bad inputs that must lose nothing."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tailorlm.data.errors import DataError, RecordProblem
from tailorlm.data.formats import check_messages, record_id, to_example
from tailorlm.data.ingest import SourceFile, detect_encoding, expand_sources, iter_rows
from tailorlm.spec.data import FieldMap, SourceSpec


def _rows(path, fmt):
    sf = SourceFile(path, path.name, fmt)
    detect_encoding(sf)
    return sf, [r for _, r in iter_rows([sf])]


def test_jsonl_broken_line_in_10000_keeps_the_rest(tmp_path):
    lines = [json.dumps({"id": i, "text": f"message {i}"}) for i in range(10_000)]
    lines[4321] = '{"id": 4321, "text": "cut off'
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    _, rows = _rows(tmp_path / "d.jsonl", "jsonl")
    assert len(rows) == 10_000
    bad = [r for r in rows if r.code]
    assert [(r.line, r.code) for r in bad] == [(4322, "unparsable")]
    assert "d.jsonl:4322" in bad[0].message
    assert sum(r.raw is not None for r in rows) == 9_999


def test_utf8_bom_is_stripped(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbftext,label\nhello,greet\n")
    sf, rows = _rows(p, "csv")
    assert sf.encoding == "utf-8-sig"
    assert json.loads(rows[0].raw) == {"text": "hello", "label": "greet"}


def test_latin1_csv_is_detected_and_converted(tmp_path):
    p = tmp_path / "latin.csv"
    body = "text,label\n" + "".join(f"Le café {i} était fermé à Zürich,closed\n" for i in range(30))
    p.write_bytes(body.encode("latin-1"))
    sf, rows = _rows(p, "csv")
    assert sf.encoding.lower().replace("_", "-") in {"latin-1", "iso-8859-1", "cp1252", "windows-1252", "iso-8859-15"}
    assert any("converted to UTF-8" in w for w in sf.warnings)
    assert json.loads(rows[0].raw)["text"] == "Le café 0 était fermé à Zürich"
    assert len(rows) == 30


def test_binary_file_is_rejected_with_a_clear_message(tmp_path):
    p = tmp_path / "export.jsonl"
    p.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(DataError, match="binary file"):
        detect_encoding(SourceFile(p, p.name, "jsonl"))


def test_empty_file_warns_and_yields_nothing(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_text("")
    sf, rows = _rows(p, "jsonl")
    assert rows == []
    assert any("empty" in w for w in sf.warnings)


def test_ragged_csv_rows_are_quarantined_not_dropped(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text('text,label\nok one,a\ntoo,many,fields\n"quoted, comma",b\nshort\n')
    _, rows = _rows(p, "csv")
    assert [(r.line, r.code) for r in rows] == [(2, ""), (3, "ragged_row"), (4, ""), (5, "ragged_row")]
    assert "3 fields but the header has 2" in rows[1].message
    assert json.loads(rows[2].raw)["text"] == "quoted, comma"


def test_tsv_parquet_json_and_text_folder(tmp_path):
    (tmp_path / "a.tsv").write_text("text\tlabel\nhi there\tgreet\n")
    pq.write_table(pa.table({"text": ["x", "y"], "label": ["a", "b"]}), tmp_path / "b.parquet")
    (tmp_path / "c.json").write_text(json.dumps({"data": [{"text": "j1"}, {"text": "j2"}, 5]}))
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "one.txt").write_text("first document")
    (docs / "sub" / "two.md").write_text("# second")
    (docs / "skip.bin").write_bytes(b"\x00")
    specs = [SourceSpec(path=p) for p in ("a.tsv", "b.parquet", "c.json", "docs")]
    files = expand_sources(specs, tmp_path)
    assert [f.format for f in files] == ["tsv", "parquet", "json", "text_file", "text_file"]
    for f in files:
        detect_encoding(f)
    rows = [r for _, r in iter_rows(files)]
    assert len(rows) == 1 + 2 + 3 + 2
    assert [r.code for r in rows if r.code] == ["not_an_object"]
    assert json.loads(rows[-1].raw) == {"text": "# second"}


def test_five_megabyte_record_is_read_whole(tmp_path):
    big = "word " * 1_000_000  # 5 MB
    p = tmp_path / "big.jsonl"
    p.write_text(json.dumps({"text": big, "label": "x"}) + "\n" + json.dumps({"text": "small", "label": "y"}) + "\n")
    _, rows = _rows(p, "jsonl")
    assert len(rows) == 2 and len(json.loads(rows[0].raw)["text"]) == len(big)


def test_a_few_invalid_utf8_lines_are_quarantined(tmp_path):
    p = tmp_path / "mixed.jsonl"
    good = [json.dumps({"text": f"line {i}"}).encode() for i in range(200)]
    good[7] = b'{"text": "bad \xff byte"}'
    p.write_bytes(b"\n".join(good) + b"\n")
    sf, rows = _rows(p, "jsonl")
    assert sf.encoding == "utf-8"
    assert [(r.line, r.code) for r in rows if r.code] == [(8, "bad_encoding")]


FIELDS = FieldMap(input="text", label="intent")


@pytest.mark.parametrize(
    "record, kind, prompt, completion",
    [
        ({"text": "lost card", "intent": "card_lost"}, "sft", "lost card", "card_lost"),
        ({"prompt": "2+2?", "completion": "4"}, "sft", "2+2?", "4"),
        ({"instruction": "Sum", "input": "2 and 2", "output": "4"}, "sft", "Sum\n\n2 and 2", "4"),
        ({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"},
                       {"role": "assistant", "content": "hello"}]}, "sft", "hi", "hello"),
        ({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}, "sft", "hi", "yo"),
        ({"prompt": "p", "chosen": "good", "rejected": "bad"}, "preference", "p", "good"),
    ],
)
def test_record_formats(record, kind, prompt, completion):
    ex = to_example(record, "auto", FIELDS, "generation")
    assert ex["kind"] == kind
    assert ex["prompt"][-1]["content"] == prompt and ex["prompt"][-1]["role"] == "user"
    assert all(m["role"] != "system" for m in ex["prompt"])
    assert ex["completion"] == completion


def test_classification_label_and_text_kind():
    ex = to_example({"text": "lost card", "intent": " card_lost "}, "auto", FIELDS, "classification")
    assert ex["label"] == ex["completion"] == "card_lost"
    assert to_example({"text": "raw doc"}, "text", FIELDS, "continued_pretraining")["text"] == "raw doc"


@pytest.mark.parametrize(
    "record, code",
    [
        ({"text": "x"}, "missing_field"),
        ({"text": "x", "intent": 3}, "non_string_field"),
        ({"text": "x", "intent": "  "}, "empty_field"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]}, "empty_field"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]}, "unknown_role"),
        ({"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}, "bad_role_order"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "bad_role_order"),
        ({"prompt": "p", "chosen": "same", "rejected": "same "}, "identical_pair"),
        ({"foo": "bar"}, "unknown_format"),
    ],
)
def test_validation_errors_have_codes(record, code):
    with pytest.raises(RecordProblem) as info:
        to_example(record, "auto", FIELDS, "classification")
    assert info.value.code == code


def test_messages_need_final_assistant_and_ids_fall_back():
    with pytest.raises(RecordProblem, match="end with an assistant"):
        check_messages([{"role": "user", "content": "hi"}])
    assert record_id({"id": 7}, FIELDS, "a.jsonl", 3) == "7"
    assert record_id({"text": "x"}, FIELDS, "a.jsonl", 3) == "a.jsonl:3"


SECRET = "Jane Roe 078-05-1120"


@pytest.mark.parametrize(
    "record, code, says",
    [
        ({"text": "x", "intent": 78051120}, "non_string_field", "field 'intent' is an int"),
        ({"text": {"name": SECRET}, "intent": "a"}, "non_string_field", "field 'text' is a dict with 1 key"),
        ({"text": [SECRET, SECRET], "intent": "a"}, "non_string_field", "is a list of 2 items"),
        ({"messages": [{"role": SECRET, "content": "a"}]}, "unknown_role", "a role (a str of 20 characters)"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "Bot", "content": "b"}]}, "unknown_role",
         "ShareGPT role 'bot'; in 'messages' write 'assistant'"),
        ({"messages": [{"role": "User ", "content": "a"}]}, "unknown_role", "write exactly 'user'"),
        ({"messages": [{"role": "user", "content": 78051120}]}, "non_string_field", "content is an int"),
        ({"conversations": [{"from": SECRET, "value": "a"}]}, "unknown_role", "a 'from' (a str of 20 characters)"),
    ],
)
def test_problem_messages_never_quote_record_values(record, code, says):
    """quarantine.jsonl holds no record text: messages give the type and size, or a word of our own vocabulary."""
    with pytest.raises(RecordProblem) as info:
        to_example(record, "auto", FIELDS, "classification")
    assert info.value.code == code
    assert says in info.value.message
    assert SECRET not in info.value.message and "Jane" not in info.value.message
    assert "78051120" not in info.value.message


def test_unknown_label_names_the_allowed_set_not_the_value():
    from tailorlm.data.steps import unknown_label_message

    msg = unknown_label_message("Card_Lost", ["card_lost", "balance"])
    assert "Card_Lost" not in msg and "a str of 9 characters" in msg
    assert "(card_lost, balance)" in msg and "closest allowed label is 'card_lost'" in msg
    msg = unknown_label_message(SECRET, ["card_lost", "balance"])
    assert SECRET not in msg and "closest" not in msg and "objective.labels" in msg


def test_quarantined_unknown_label_keeps_the_value_out():
    from tailorlm.data.steps import convert_batch
    from tailorlm.spec.data import DedupSpec, FilterSpec

    raw = [json.dumps({"text": "hi there", "intent": SECRET}), json.dumps({"text": "hi again", "intent": "card_lost"})]
    batch = {"idx": [0, 1], "source": ["a.jsonl"] * 2, "line": [1, 2], "raw": raw, "status": ["", ""],
             "message": ["", ""]}
    out = convert_batch(batch, records={}, fields=FIELDS, task="classification", clean_steps=["whitespace"],
                        filters=FilterSpec(), known_labels=["card_lost"], dedup=DedupSpec(near=False))
    assert out["status"] == ["quarantine:unknown_label", ""]
    assert SECRET not in out["message"][0] and "objective.labels (card_lost)" in out["message"][0]
