"""Audit signatures: a whole-chain rewrite with every hash recomputed is caught without the key.

Threat: someone who can write the database (drops the triggers, rewrites rows, recomputes every
chain hash) but does not hold the HMAC key, which lives outside the store (a 0600 key file here).
"""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml
from sqlalchemy import text
from test_audit_chain import _drop_guards, _fill
from test_registry_helpers import project, raw_spec, store_url  # noqa: F401
from typer.testing import CliRunner

from tailorlm.cli.main import app
from tailorlm.registry import RegistryError, audit, audit_key


@pytest.fixture(autouse=True)
def own_key_file(tmp_path, monkeypatch):
    """Each test gets its own key file (and anchors file) under tmp_path."""
    monkeypatch.setenv(audit_key.ENV_KEY_FILE, str(tmp_path / "keys" / "audit.key"))
    monkeypatch.delenv(audit_key.ENV_KEY, raising=False)


def _rewrite_chain(ws, from_seq: int, edit) -> None:
    """Rewrite every row from ``from_seq`` consistently: apply ``edit``, recompute each hash and
    the next row's prev_hash, keep the old signatures (the attacker has no key to make new ones)."""
    _drop_guards(ws)
    with ws.store.engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY seq"))]
        prev = rows[from_seq - 2]["hash"] if from_seq > 1 else audit.GENESIS
        for row in rows[from_seq - 1:]:
            row = edit(row) if row["seq"] == from_seq else row
            fields = {k: row[k] for k in ("seq", "ts", "actor", "action", "subject", "details")}
            fields["prev_hash"] = prev
            new = audit.row_hash(**fields)
            conn.execute(text("UPDATE audit_log SET actor=:actor, details=:details, prev_hash=:p, hash=:h, sig=:sig "
                              "WHERE seq=:seq"), {**row, "p": prev, "h": new})
            prev = new


def _as_mallory(row: dict) -> dict:
    return {**row, "actor": "mallory", "details": json.dumps({"step": 999})}


def test_key_file_is_created_0600_outside_the_store(project, tmp_path):
    _, ws = project
    _fill(ws, 1)
    path = audit_key.key_file_path()
    assert path == tmp_path / "keys" / "audit.key" and path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not path.is_relative_to(ws.root / ".tailor")
    row = audit.rows(ws)[0]
    assert row["key_id"] == audit_key.key_id(audit_key.load().current)
    assert audit_key.load().check(row["key_id"], row["hash"], row["sig"])


def test_consistent_rewrite_of_the_whole_chain_fails_at_the_first_rewritten_row(project):
    _, ws = project
    _fill(ws, 5)
    _rewrite_chain(ws, 1, _as_mallory)
    assert audit.verify(ws, chain_only=True).ok  # the hash chain alone cannot see it
    result = audit.verify(ws)
    assert not result.ok and result.bad_seq == 1 and result.checked == 0
    assert "record 1 (train.start run-0)" in result.reason and "signature does not match" in result.reason


def test_rewrite_from_the_middle_names_that_row(project):
    _, ws = project
    _fill(ws, 5)
    _rewrite_chain(ws, 3, _as_mallory)
    result = audit.verify(ws)
    assert not result.ok and result.bad_seq == 3 and result.checked == 2


def test_rewrite_signed_with_the_attackers_own_key_is_caught(project):
    _, ws = project
    _fill(ws, 3)
    mallory = b"m" * 32

    def forge(row):
        row = _as_mallory(row)
        fields = {k: row[k] for k in ("seq", "ts", "actor", "action", "subject", "details", "prev_hash")}
        h = audit.row_hash(**fields)
        return {**row, "hash": h, "key_id": audit_key.key_id(mallory), "sig": audit_key.sign(mallory, h)}

    _drop_guards(ws)
    with ws.store.engine.begin() as conn:
        row = forge(dict(conn.execute(text("SELECT * FROM audit_log WHERE seq = 3")).first()._mapping))
        conn.execute(text("UPDATE audit_log SET actor=:actor, details=:details, hash=:hash, key_id=:key_id, sig=:sig "
                          "WHERE seq=3"), row)
    result = audit.verify(ws)
    assert not result.ok and result.bad_seq == 3 and "not held here" in result.reason


def test_stripped_signatures_are_tampering_not_legacy(project):
    _, ws = project
    _fill(ws, 4)
    _drop_guards(ws)
    with ws.store.engine.begin() as conn:  # strip every signature: the chain now looks pre-signing
        conn.execute(text("UPDATE audit_log SET sig = NULL, key_id = NULL"))
    result = audit.verify(ws)
    assert not result.ok and result.bad_seq == 1 and "signature was stripped" in result.reason


def test_rows_from_before_signing_are_unsigned_not_tampered(project):
    _, ws = project
    _fill(ws, 3)
    _drop_guards(ws)
    with ws.store.engine.begin() as conn:  # what a store upgraded from before m003 holds
        conn.execute(text("UPDATE audit_log SET sig = NULL, key_id = NULL"))
    audit_key.anchors_path().unlink()  # no signed row was ever written to it
    _fill(ws, 2)  # rows written after the upgrade are signed
    result = audit.verify(ws)
    assert result.ok and (result.checked, result.unsigned, result.signed) == (5, 3, 2)
    raw = {**raw_spec(), "workspace": {"store_url": ws.store_url}} if ws.store_url else raw_spec()
    (ws.root / "tailor.yaml").write_text(yaml.safe_dump(raw))
    res = CliRunner().invoke(app, ["audit", "verify", "--spec", str(ws.root / "tailor.yaml")])
    assert res.exit_code == 0 and "2 signed, 3 unsigned (written before audit signing" in " ".join(res.output.split())


def test_lost_key_is_a_clear_error_with_the_recovery_path(project):
    _, ws = project
    _fill(ws, 2)
    audit_key.key_file_path().unlink()
    with pytest.raises(RegistryError, match="Restore that key") as err:
        audit.verify(ws)
    assert "rotate-key" in str(err.value) and "--chain-only" in str(err.value)
    with pytest.raises(RegistryError, match="Restore that key"):  # no silent new key for new rows
        audit.record(ws, "eval", "x")
    assert audit.verify(ws, chain_only=True).ok
    rotated = audit.rotate_key(ws)  # recovery: sign new rows with a new key, recorded in the chain
    assert rotated["action"] == "audit.key_rotate" and rotated["seq"] == 3
    audit.record(ws, "eval", "after")
    result = audit.verify(ws)
    assert not result.ok and result.bad_seq == 1 and "not held here" in result.reason


def test_rotation_keeps_old_rows_verifiable(project):
    _, ws = project
    _fill(ws, 2)
    old_id = audit_key.key_id(audit_key.load().current)
    row = audit.rotate_key(ws)
    assert row["details"]["previous_key_id"] == old_id and len(audit_key.load().keys) == 2
    _fill(ws, 1)
    result = audit.verify(ws)
    assert result.ok and result.signed == 4
    assert {r["key_id"] for r in audit.rows(ws)} == {old_id, row["details"]["new_key_id"]}


def test_key_from_the_environment_for_servers(project, monkeypatch):
    _, ws = project
    monkeypatch.setenv(audit_key.ENV_KEY, "ab" * 32)
    _fill(ws, 2)
    assert not audit_key.key_file_path().exists()
    assert audit.verify(ws).ok
    monkeypatch.setenv(audit_key.ENV_KEY, "cd" * 32)  # a different secret: the rows do not verify
    assert "not held here" in audit.verify(ws).reason


def test_cli_lost_key_and_rotation_without_a_traceback(project):
    _, ws = project
    raw = {**raw_spec(), "workspace": {"store_url": ws.store_url}} if ws.store_url else raw_spec()
    (ws.root / "tailor.yaml").write_text(yaml.safe_dump(raw))
    spec = ["--spec", str(ws.root / "tailor.yaml")]
    _fill(ws, 2)
    audit_key.key_file_path().unlink()
    lost = CliRunner().invoke(app, ["audit", "verify", *spec])
    assert lost.exit_code == 2 and "Restore that key" in lost.output and "Traceback" not in lost.output
    chain = CliRunner().invoke(app, ["audit", "verify", "--chain-only", *spec])
    assert chain.exit_code == 0 and "signatures not checked" in chain.output
    rotated = CliRunner().invoke(app, ["audit", "rotate-key", *spec])
    assert rotated.exit_code == 0 and "new audit key" in rotated.output
    assert stat.S_IMODE(os.stat(audit_key.key_file_path()).st_mode) == 0o600
    after = CliRunner().invoke(app, ["audit", "verify", *spec])  # rows of the lost key stay unverifiable
    assert after.exit_code == 1 and "not held here" in " ".join(after.output.split())
