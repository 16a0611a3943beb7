"""Skips are visible: under CI a skipped test fails the run, except a `cuda` test on a CPU machine."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]


def test_ci_fails_a_run_whose_service_tests_skip(pytester, monkeypatch):
    """With CI=true a skipped PostgreSQL/Chromium-style test fails the run; a `cuda` test may skip on CPU."""
    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    cuda: needs CUDA\n")
    pytester.makepyfile(test_skips='''
        import pytest

        def test_needs_postgres():
            pytest.skip("PostgreSQL variant: set TAILORLM_TEST_PG_URL")

        @pytest.mark.cuda
        @pytest.mark.skipif(True, reason="no CUDA here")
        def test_cuda_only():
            pass
    ''')
    monkeypatch.setenv("CI", "true")
    ci = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert ci.ret == 1
    ci.stdout.fnmatch_lines(["*skips not allowed under CI*", "*test_needs_postgres*PostgreSQL variant*"])
    assert "test_cuda_only" not in ci.stdout.str().split("skips not allowed under CI")[1]
    monkeypatch.delenv("CI")
    dev = pytester.runpytest_subprocess("-p", "no:cacheprovider")  # a developer's run: skips allowed
    assert dev.ret == 0
