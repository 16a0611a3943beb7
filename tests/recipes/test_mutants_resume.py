"""Mutation check: with ``--resume`` replaced by a fresh start, the kill-and-resume test fails.

The mutant keeps everything else (same run folder, same seed), so a seeded restart from step 0
reproduces the uninterrupted run's weights: only a test that checks the step it resumed from
notices.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mutants import run_with_mutant  # noqa: E402

pytest_plugins = ["pytester"]

FRESH_START = """
import tailorlm.train.run as r
_real = r.run_loop
def fresh(*args, resume_from=None, **kwargs):
    return _real(*args, resume_from=None, **kwargs)  # ignore the checkpoint: start from step 0
r.run_loop = fresh
"""


def test_resume_test_fails_when_resume_restarts_from_step_0(pytester, monkeypatch):
    result = run_with_mutant(
        pytester, monkeypatch,
        "recipes/test_train_resume.py::test_sigkill_then_resume_continues_from_the_checkpoint", FRESH_START)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert f\"resumed from {ckpt} at step {step}\" in res.stderr*"])
