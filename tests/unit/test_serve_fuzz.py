"""Schemathesis, a property-based fuzzer, against the live server's /openapi.json: no 5xx anywhere.

Bounded: a dozen generated requests per operation (both the valid and the malformed kind), with the
server's limits set small (``serve.max_tokens`` 8) so each generation is quick.
"""

from __future__ import annotations

import pytest
from serve_helpers import project_with_version, start_server

schemathesis = pytest.importorskip("schemathesis")


def test_fuzzing_the_openapi_schema_finds_no_server_error(tmp_path, tiny_model_dir):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tailorlm.serve.keys import create_key

    spec, ws = project_with_version(tmp_path, tiny_model_dir, max_tokens=8, max_n=2, default_max_tokens=8)
    key, _ = create_key(ws, "fuzz", "admin")
    live = start_server(spec, ws)
    try:
        schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
        seen, failures, statuses = [], [], []
        modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
        for result in schema.get_all_operations():
            op = result.ok()
            seen.append(f"{op.method.upper()} {op.path}")

            cases = st.one_of([op.as_strategy(m) for m in modes])

            @given(case=cases, real_model=st.booleans())
            @settings(max_examples=12, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def check(case, real_model):
                if real_model and isinstance(case.body, dict) and "model" in case.body:
                    case.body = {**case.body, "model": "support-bot@1"}  # reach generation, not only the 404
                resp = case.call(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
                statuses.append((case.path, resp.status_code))
                if resp.status_code >= 500:
                    failures.append((case.method, case.formatted_path, case.body, resp.status_code, resp.text[:300]))

            check()
        assert {"POST /v1/chat/completions", "POST /v1/completions", "GET /v1/models"} <= set(seen)
        assert failures == []
        ok = {p for p, code in statuses if code == 200}
        bad = {p for p, code in statuses if code == 400}
        assert {"/v1/chat/completions", "/v1/completions"} <= ok & bad  # both real answers and refusals
    finally:
        live.stop()
