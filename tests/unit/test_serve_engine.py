"""The serving engine end to end: two LoRA versions on one base decode in one batch and answer
exactly as each does alone; a burst past the queue gives only 200s and 429s; /metrics shows it."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from engine_helpers import build_lively_llama, build_lora_version
from prometheus_client.parser import text_string_to_metric_families
from serve_helpers import start_server
from test_registry_helpers import fake_dataset, fake_eval, make_spec

from tailorlm.results import TrainRun
from tailorlm.workspace import Workspace

V1, V2 = "support-bot@1", "support-bot@2"


def _project(root, base):
    from tailorlm.registry import register_model

    spec = make_spec(root, None)
    spec.model.base, spec.model.device, spec.model.dtype = str(base), "cpu", "float32"
    spec.data.pii.ner = False
    ws = Workspace.for_spec(spec)
    dataset = fake_dataset(spec, ws)
    for i in (1, 2):
        art = build_lora_version(base, ws.runs / f"run-{i}" / "model", seed=i)
        run = TrainRun(run_id=f"run-{i}", path=str(art.parent), model_path=str(art), method="lora", base_ref="tiny",
                       base_path=str(base), base_weight_hash="c" * 64, dataset_version="ds0001")
        register_model(spec, ws, dataset, run, fake_eval())
    return spec, ws


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    base = build_lively_llama(tmp_path_factory.mktemp("lively"))
    return _project(tmp_path_factory.mktemp("serve-engine"), base)


def _complete(url: str, model: str, prompt: str = "My card was stolen yesterday and") -> httpx.Response:
    return httpx.post(url + "/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": 10,
                                                     "temperature": 0}, timeout=120)


def _metric(url: str, name: str) -> dict:
    """{(sample name, labels): value} of one metric family on /metrics."""
    text = httpx.get(url + "/metrics").text
    fam = next(f for f in text_string_to_metric_families(text) if f.name == name)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in fam.samples}


def _lined_up(live, n_waiting: int, fire, n_answered: int = 0) -> list:
    """Pause the engine, fire the requests from threads, resume once ``n_waiting`` are queued and
    ``n_answered`` have their answer (the refused ones)."""
    engine = live.app.state.tailorlm.engine
    engine.pause()
    results: list = [None] * len(fire)
    threads = [threading.Thread(target=lambda i=i, f=f: results.__setitem__(i, f())) for i, f in enumerate(fire)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while engine.queue_depth < n_waiting or sum(r is not None for r in results) < n_answered:
        threads[0].join(0.02)
        if time.monotonic() > deadline:  # a request that never reached the queue: say what it got
            engine.resume()
            got = [(r.status_code, r.text[:300]) if r is not None else None for r in results]
            pytest.fail(f"requests not lined up after 60 s: queue depth {engine.queue_depth}, answers {got}")
    engine.resume()
    for t in threads:
        t.join(120)
    return results


def test_two_versions_in_one_batch_answer_exactly_as_each_does_alone(project):
    spec, ws = project
    live = start_server(spec, ws, open_local=True, max_queue=8, max_batch=8)
    try:
        alone = {v: _complete(live.url, v) for v in (V1, V2)}
        for v, r in alone.items():
            assert r.status_code == 200 and r.headers["X-Tailorlm-Batch-Versions"] == v
        texts = {v: r.json()["choices"][0]["text"] for v, r in alone.items()}
        assert texts[V1] and texts[V2] and texts[V1] != texts[V2]  # two different versions, real answers
        together = _lined_up(live, 2, [lambda: _complete(live.url, V1), lambda: _complete(live.url, V2)])
        for v, r in zip((V1, V2), together):
            assert r.status_code == 200
            assert r.headers["X-Tailorlm-Batch-Versions"] == f"{V1},{V2}"  # they shared decoding steps
            assert r.json()["choices"][0]["text"] == texts[v]
        hist = _metric(live.url, "tailorlm_batch_versions")
        one = hist[("tailorlm_batch_versions_bucket", (("le", "1.0"),))]
        assert hist[("tailorlm_batch_versions_count", ())] > one  # some steps mixed two versions
        tokens = _metric(live.url, "tailorlm_completion_tokens")
        assert tokens[("tailorlm_completion_tokens_total", (("version", V1),))] == 20  # alone + together
        pool = live.app.state.tailorlm.catalog.adapters
        assert sorted(pool.loaded) == [V1, V2] and pool.loads == 2  # one base, two adapters on it
    finally:
        live.stop()


def test_the_least_recently_used_adapter_is_evicted_unless_in_use(project):
    spec, ws = project
    from tailorlm.serve.catalog import Catalog

    cat = Catalog(spec, ws, max_adapters=1)
    s1, s2 = cat.resolve(V1), cat.resolve(V2)
    loaded, a1, _ = cat.acquire(s1)
    _, a2, _ = cat.acquire(s2)  # v1 is in use: kept beyond the bound
    assert cat.adapters.loaded == [V1, V2] and cat.adapters.evictions == 0
    cat.release(a1)  # free now, and past the bound: it goes
    assert cat.adapters.loaded == [V2] and cat.adapters.evictions == 1
    cat.release(a2)
    _, a1, _ = cat.acquire(s1)  # v1 loads again; v2 (free, least recent) goes
    assert cat.adapters.loaded == [V1] and cat.adapters.evictions == 2 and cat.adapters.loads == 3
    assert set(loaded.model.peft_config) == {a1}  # the adapter really left the base model


def test_a_burst_of_four_times_the_queue_gives_only_200s_and_429s(project):
    spec, ws = project
    live = start_server(spec, ws, open_local=True, max_queue=2, max_batch=1)
    try:
        _complete(live.url, V1)  # loaded before the burst
        burst = _lined_up(live, 2, [lambda: _complete(live.url, V1)] * 8, n_answered=6)
        codes = sorted(r.status_code for r in burst)
        assert codes == [200] * 2 + [429] * 6
        refused = [r for r in burst if r.status_code == 429]
        assert all(int(r.headers["Retry-After"]) >= 1 and r.json()["error"]["code"] == "queue_full" for r in refused)
        assert _complete(live.url, V2).status_code == 200  # it answers normally afterwards
        assert _metric(live.url, "tailorlm_rejected")[("tailorlm_rejected_total", ())] == 6
        assert _metric(live.url, "tailorlm_queue_depth")[("tailorlm_queue_depth", ())] == 0
    finally:
        live.stop()
