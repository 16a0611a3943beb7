"""The audit log: hash chain, tamper detection (edit, delete, truncate), filters, export, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
from sqlalchemy import text
from test_registry_helpers import make_spec, project, store_url  # noqa: F401

from tailorlm.registry import RegistryError, audit
from tailorlm.registry.audit import GENESIS
from tailorlm.workspace import Workspace


def _drop_guards(ws) -> None:
    """What an attacker with database access does first: remove the append-only triggers."""
    with ws.store.engine.begin() as conn:
        if ws.store.dialect == "postgresql":
            conn.execute(text("DROP TRIGGER audit_log_no_update ON audit_log"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))


def _fill(ws, n: int = 5) -> list[dict]:
    return [audit.record(ws, "train.start", f"run-{i}", {"step": i, "path": Path("/x")}, actor="alice") for i in range(n)]


def test_rows_chain_and_round_trip(project):
    _, ws = project
    written = _fill(ws, 3)
    assert [r["seq"] for r in written] == [1, 2, 3]
    assert written[0]["prev_hash"] == GENESIS
    assert written[1]["prev_hash"] == written[0]["hash"]
    assert written[2]["details"] == {"step": 2, "path": "/x"}  # Paths stored as strings
    stored = audit.rows(ws)
    assert [r["hash"] for r in stored] == [r["hash"] for r in written]
    result = audit.verify(ws)
    assert result.ok and result.checked == 3 and result.head == written[-1]["hash"]
    assert (result.signed, result.unsigned) == (3, 0)


def test_direct_update_is_blocked_by_trigger(project):
    _, ws = project
    _fill(ws, 1)
    with pytest.raises(Exception, match="append-only"):
        with ws.store.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    assert audit.verify(ws).ok


def test_edited_row_is_named_by_verify(project):
    _, ws = project
    _fill(ws, 5)
    _drop_guards(ws)
    with ws.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET details = :d WHERE seq = 3"), {"d": json.dumps({"step": 99})})
    result = audit.verify(ws)
    assert not result.ok
    assert result.bad_seq == 3 and result.checked == 2
    assert "record 3" in result.reason and "edited" in result.reason


def test_edit_with_recomputed_hash_is_caught_at_the_next_row(project):
    _, ws = project
    rows = _fill(ws, 4)
    _drop_guards(ws)
    r = rows[1]
    forged = audit.row_hash(r["seq"], r["ts"], "mallory", r["action"], r["subject"],
                            json.dumps(r["details"], sort_keys=True, separators=(",", ":")), r["prev_hash"])
    with ws.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 2"), {"h": forged})
    # The hash chain alone names the next row; the signature names the forged row itself.
    chain = audit.verify(ws, chain_only=True)
    assert not chain.ok and chain.bad_seq == 3 and "record 2 was altered" in chain.reason
    result = audit.verify(ws)
    assert not result.ok and result.bad_seq == 2 and "signature does not match" in result.reason


def test_deleted_row_and_truncation_are_detected(project):
    _, ws = project
    _fill(ws, 5)
    head = audit.verify(ws).head
    _drop_guards(ws)
    with ws.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    # Cutting the last row leaves a valid chain: only an anchored head reveals it.
    assert audit.verify(ws).ok
    cut = audit.verify(ws, expected_head=head)
    assert not cut.ok and cut.bad_seq == 5 and "removed from the end" in cut.reason
    with ws.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    gap = audit.verify(ws)
    assert not gap.ok and gap.bad_seq == 2 and "missing" in gap.reason


def test_filters_and_export(project, tmp_path):
    _, ws = project
    audit.record(ws, "train.start", "run-1", actor="alice")
    audit.record(ws, "train.end", "run-1", actor="alice")
    audit.record(ws, "register", "support-bot@1", actor="bob")
    audit.record(ws, "promote", "support-bot@1", {"to": "production"}, actor="bob")
    assert [r["action"] for r in audit.rows(ws, action="train")] == ["train.start", "train.end"]
    assert [r["action"] for r in audit.rows(ws, subject="support-bot")] == ["register", "promote"]
    assert [r["seq"] for r in audit.rows(ws, actor="bob", newest_first=True, limit=1)] == [4]
    out = tmp_path / "audit.jsonl"
    assert audit.export(ws, out) == 4
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4]
    assert lines[3]["details"] == {"to": "production"} and lines[3]["prev_hash"] == lines[2]["hash"]


def test_bad_action_is_refused(project):
    _, ws = project
    with pytest.raises(RegistryError, match="not valid"):
        audit.record(ws, "Drop Table", "x")


def _writer(root: str, store_url, barrier, n: int) -> None:
    ws = Workspace.for_spec(make_spec(Path(root), store_url))
    barrier.wait(timeout=60)
    for i in range(n):
        audit.record(ws, "eval", f"writer-{i}")


def test_concurrent_writers_keep_one_chain(tmp_path, store_url):
    ws = Workspace.for_spec(make_spec(tmp_path, store_url))
    assert ws.store.migrate() == []  # migrations applied before the writers race
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), store_url, barrier, 15)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    result = audit.verify(ws)
    assert result.ok and result.checked == 30
    assert [r["seq"] for r in audit.rows(ws)] == list(range(1, 31))
