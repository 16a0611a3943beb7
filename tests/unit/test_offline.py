"""Offline is enforced by the library, not assumed: hub flags on at every model load, one named
download only when the spec says ``model.download: true``, and the suite's own network guard."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tailorlm import offline
from tailorlm.models import loader
from tailorlm.spec import parse_spec

pytest_plugins = ["pytester"]


@pytest.fixture()
def hub_calls(monkeypatch, tmp_path):
    """Replace snapshot_download by a recorder of (repo id, hub offline at call time)."""
    import huggingface_hub

    calls = []
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "config.json").write_text("{}")
    (snap / "model.safetensors").write_bytes(b"x")

    def fake(repo_id, **_):
        calls.append((repo_id, offline.is_offline()))
        return str(snap)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    yield calls
    offline.enforce()


def test_library_load_goes_offline_even_if_the_environment_said_online(hub_calls, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as if imported online
    loader.resolve_base("org/some-model")
    assert hub_calls == [("org/some-model", True)]  # looked in the cache only
    assert offline.is_offline()
    import os
    assert all(os.environ[f] == "1" for f in offline.FLAGS)


def test_download_true_opens_the_hub_for_the_named_model_only(hub_calls):
    loader.resolve_base("org/wanted", download=True)
    assert hub_calls == [("org/wanted", False)]
    assert offline.is_offline()  # closed again right after the fetch
    import datasets.config

    assert datasets.config.HF_HUB_OFFLINE and datasets.config.HF_DATASETS_OFFLINE


def test_download_key_defaults_to_false_and_parses(tmp_path):
    base = {"project": "p", "data": {"sources": [{"path": "x.jsonl"}]}}
    assert parse_spec(base, tmp_path).model.download is False
    spec = parse_spec({**base, "model": {"base": "org/m", "download": True}}, tmp_path)
    assert spec.model.download is True


def test_missing_model_offline_says_how_to_allow_the_download(monkeypatch):
    import huggingface_hub

    def offline_miss(repo_id, **_):
        raise huggingface_hub.errors.LocalEntryNotFoundError("not in cache")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline_miss)
    with pytest.raises(loader.ModelNotFound, match="model.download: true"):
        loader.resolve_base("org/not-cached")


def test_a_test_that_opens_a_socket_to_the_network_fails(pytester):
    """The guard in tests/conftest.py, run on a throw-away suite: a non-loopback connect fails its
    test even when the code swallows the error; loopback and Unix sockets pass."""
    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makepyfile(test_net='''
        import socket, tempfile, os

        def test_reaches_out():
            try:
                socket.create_connection(("192.0.2.1", 80), timeout=0.5)  # TEST-NET-1, never routed
            except OSError:
                pass  # swallowed: the guard still fails this test

        def test_loopback_is_allowed():
            srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
            socket.create_connection(srv.getsockname(), timeout=2).close(); srv.close()

        def test_unix_socket_is_allowed():
            path = os.path.join(tempfile.mkdtemp(), "s")
            srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(1)
            c = socket.socket(socket.AF_UNIX); c.connect(path); c.close(); srv.close()
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_reaches_out*", "*tried to reach the network (192.0.2.1:80)*"])


def test_a_child_process_that_reaches_out_fails_the_test(pytester):
    """The guard reaches the Python processes a test starts: the test fails even if the child's
    error is ignored."""
    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makepyfile(test_child='''
        import subprocess, sys

        CODE = "import socket\\ntry:\\n    socket.create_connection(('192.0.2.1', 80), timeout=0.5)\\nexcept OSError:\\n    pass"

        def test_child_reaches_out():
            subprocess.run([sys.executable, "-c", CODE], check=True)
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*192.0.2.1:80 (pid *) in a child process*"])
