"""The store under the registry: migrations, exact timestamps, locks, friendly connection errors."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
from sqlalchemy import text
from test_registry_helpers import make_spec, project, store_url  # noqa: F401

from tailorlm.errors import UserError
from tailorlm.store import MIGRATIONS, Store, normalize_url
from tailorlm.workspace import Workspace


def test_migrations_are_recorded_once(project):
    _, ws = project
    with ws.store.engine.connect() as conn:
        names = [n for (n,) in conn.execute(text("SELECT name FROM _migrations ORDER BY name"))]
    assert names == [name for name, _ in MIGRATIONS]
    assert ws.store.migrate() == []  # nothing left to apply
    assert Store(ws.store.url).migrate() == []  # a second process opening the same store


def test_epoch_timestamps_round_trip_exactly(project):
    _, ws = project
    now = round(time.time(), 6)
    with ws.store.engine.begin() as conn:
        conn.execute(text("INSERT INTO aliases (name, alias, version, updated_at) VALUES ('m', 'a', 1, :t)"), {"t": now})
    with ws.store.engine.connect() as conn:
        stored = conn.execute(text("SELECT updated_at FROM aliases")).scalar()
    assert float(stored) == now  # PostgreSQL REAL (4 bytes) would be off by minutes; m002 widens it


def test_locked_sections_do_not_interleave(project):
    _, ws = project
    with ws.store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    with ws.store.locked("counter") as conn:
        n = conn.execute(text("SELECT n FROM counter")).scalar()
        conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
    with ws.store.engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar() == 1


def test_plain_postgres_urls_use_psycopg3():
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_unreachable_server_is_a_user_error_without_the_password():
    pytest.importorskip("psycopg")
    with pytest.raises(UserError) as exc:
        Store("postgresql://tailor:s3cret@127.0.0.1:1/tailorlm")
    assert "s3cret" not in str(exc.value) and "workspace.store_url" in str(exc.value)


def _open_store(root: str, url, barrier) -> None:
    from pathlib import Path

    barrier.wait(timeout=60)
    assert Workspace.for_spec(make_spec(Path(root), url)).store.dialect


def test_two_processes_migrating_a_new_store_at_once(tmp_path, store_url):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_open_store, args=(str(tmp_path), store_url, barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with Workspace.for_spec(make_spec(tmp_path, store_url)).store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM _migrations")).scalar() == len(MIGRATIONS)
