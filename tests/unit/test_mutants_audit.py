"""Mutation check: with the HMAC check removed, the whole-chain rewrite test fails."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mutants import run_with_mutant  # noqa: E402

pytest_plugins = ["pytester"]

NO_HMAC_CHECK = """
import tailorlm.registry.audit_key as k
k.Keyring.check = lambda self, kid, row_hash, sig: True  # every signature "matches"
"""


def test_chain_rewrite_test_fails_when_the_hmac_check_is_removed(pytester, monkeypatch):
    result = run_with_mutant(
        pytester, monkeypatch,
        "unit/test_audit_signatures.py::test_consistent_rewrite_of_the_whole_chain_fails_at_the_first_rewritten_row[sqlite]",
        NO_HMAC_CHECK)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert not result.ok*"])
