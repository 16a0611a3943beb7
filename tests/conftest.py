"""Shared fixtures: a tiny random Llama (2 layers) with the real SmolLM2 tokenizer and chat template.

The tokenizer files in tests/fixtures/tokenizer come from SmolLM2-135M-Instruct (Apache-2.0), so
label masks and chat templates are tested on the real format while the model stays tiny and fast.

Two guards hold for the whole run: every ``connect`` to a non-loopback address fails the test that
made it (Unix sockets and 127.0.0.1/::1 stay allowed, for PostgreSQL and the server tests), and the
audit signing key lives in a per-run temporary file, never the developer's own key file.

Under CI (``CI=true``, as ``.ci/run`` sets) a skipped test fails the run, unless it is marked
``cuda`` and this machine has no CUDA: the PostgreSQL and Chromium tests must really run there.
A developer's ``make test`` without those services still skips them, and says so (``-rs``).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Set before any test runs (and inherited by the subprocesses tests start): a key file no test shares
# with the developer's ~/.config/tailorlm/audit.key.
os.environ["TAILORLM_AUDIT_KEY_FILE"] = str(Path(tempfile.mkdtemp(prefix="tailorlm-test-key-")) / "audit.key")
os.environ.pop("TAILORLM_AUDIT_KEY", None)

_BLOCKED: list[str] = []
_REAL_CONNECT, _REAL_CONNECT_EX = socket.socket.connect, socket.socket.connect_ex


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # a host name other than localhost: resolving it would already leave the machine
        return False


def _check_address(sock: socket.socket, address) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(address[0])):
        _BLOCKED.append(f"{address[0]}:{address[1]}")
        raise ConnectionRefusedError(f"tests may not reach the network: connect to {address[0]}:{address[1]} blocked")


def _guarded_connect(self, address):
    _check_address(self, address)
    return _REAL_CONNECT(self, address)


def _guarded_connect_ex(self, address):
    _check_address(self, address)
    return _REAL_CONNECT_EX(self, address)


# Installed at import, so collection-time imports are covered too; the fixture below fails the test.
socket.socket.connect, socket.socket.connect_ex = _guarded_connect, _guarded_connect_ex

# Python processes the tests start (the trainer, the CLI) get the same guard through a
# sitecustomize first on PYTHONPATH; they log blocked attempts to a file the fixture reads. A
# sitecustomize further down PYTHONPATH (the mutation checks plant one) still runs after it.
_CHILD_GUARD = """
import ipaddress, os, socket, sys

def _loopback(host):
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False

def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(str(address[0])):
        with open(os.environ["TAILORLM_TEST_NET_LOG"], "a") as log:
            log.write(f"{address[0]}:{address[1]} (pid {os.getpid()})\\n")
        raise ConnectionRefusedError(f"tests may not reach the network: connect to {address[0]}:{address[1]} blocked")

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
socket.socket.connect = lambda self, a: (_check(self, a), _connect(self, a))[1]
socket.socket.connect_ex = lambda self, a: (_check(self, a), _connect_ex(self, a))[1]

# Chain to the next sitecustomize after this one on sys.path (never back up: no loops).
_dirs = [os.path.abspath(_p or ".") for _p in sys.path]
_here = os.path.dirname(os.path.abspath(__file__))
for _d in (_dirs[_dirs.index(_here) + 1:] if _here in _dirs else []):
    _f = os.path.join(_d, "sitecustomize.py")
    if os.path.isfile(_f):
        exec(compile(open(_f).read(), _f, "exec"), {"__name__": "sitecustomize", "__file__": _f})
        break
"""
_GUARD_DIR = Path(tempfile.mkdtemp(prefix="tailorlm-test-netguard-"))
(_GUARD_DIR / "sitecustomize.py").write_text(_CHILD_GUARD)
_NET_LOG = _GUARD_DIR / "blocked.log"
_NET_LOG.touch()
os.environ["TAILORLM_TEST_NET_LOG"] = str(_NET_LOG)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(_GUARD_DIR), os.environ.get("PYTHONPATH", "")) if p)


_CHILD_LOG_SEEN = [0]  # bytes of the child log already reported


def _collect_child_attempts() -> None:
    with open(_NET_LOG, encoding="utf-8") as log:
        log.seek(_CHILD_LOG_SEEN[0])
        _BLOCKED.extend(f"{line.strip()} in a child process" for line in log if line.strip())
        _CHILD_LOG_SEEN[0] = log.tell()


def _fail_if_blocked() -> None:
    _collect_child_attempts()
    if _BLOCKED:
        attempts = ", ".join(_BLOCKED)
        del _BLOCKED[:]
        pytest.fail(f"this test tried to reach the network ({attempts}); tests must run offline", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """The test body fails (not only its teardown) when it tried to connect, even if it swallowed the error."""
    result = yield
    _fail_if_blocked()
    return result


@pytest.fixture(autouse=True)
def no_network():
    """Fail any test whose fixtures, or the Python processes it started, tried to connect to a
    non-loopback address."""
    del _BLOCKED[:]
    _CHILD_LOG_SEEN[0] = _NET_LOG.stat().st_size
    yield
    _fail_if_blocked()

FIXTURES = Path(__file__).parent / "fixtures"


def build_tiny_llama(out: Path, seed: int = 0) -> Path:
    """Write a 2-layer random Llama + the real tokenizer to ``out`` (a transformers folder)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(FIXTURES / "tokenizer")
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A folder holding a tiny random Llama that ``from_pretrained`` (and model.base) can load."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(FIXTURES / "tokenizer")


@pytest.fixture()
def tiny_model_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny model, for tests that write next to it."""
    dst = tmp_path / "tiny"
    shutil.copytree(tiny_model_dir, dst)
    return dst


_DISALLOWED_SKIPS: list[str] = []


def _strict_skips() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_runtest_logreport(report):
    """Remember skips that CI does not allow (anything but a ``cuda`` test on a machine without CUDA)."""
    if not report.skipped or not _strict_skips() or getattr(report, "wasxfail", None) is not None:
        return
    if "cuda" in report.keywords:
        import torch

        if not torch.cuda.is_available():
            return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    _DISALLOWED_SKIPS.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter):
    if _DISALLOWED_SKIPS:
        terminalreporter.section("skips not allowed under CI", sep="=", red=True)
        for line in _DISALLOWED_SKIPS:
            terminalreporter.line(line)


def pytest_sessionfinish(session, exitstatus):
    if _DISALLOWED_SKIPS and exitstatus == 0:
        session.exitstatus = 1  # CI=true: a test that should have run here did not
