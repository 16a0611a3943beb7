"""Run one real test of this suite in a fresh pytest process with a deliberate bug planted, to
show the test notices it (the acceptance's "mutation checks").

The bug is planted by a ``sitecustomize.py`` put first on ``PYTHONPATH``: Python imports it at the
start of every process, so it also reaches the subprocesses a test starts (the trainer).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_with_mutant(pytester, monkeypatch, test_id: str, patch: str):
    """Run ``tests/<test_id>`` with ``patch`` (Python source) applied at interpreter start."""
    plant = pytester.mkdir("mutant")
    (plant / "sitecustomize.py").write_text(textwrap.dedent(patch))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plant), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    return pytester.runpytest_subprocess(str(REPO / "tests" / test_id), "-p", "no:cacheprovider", "-q",
                                         "--rootdir", str(REPO), "-x")
