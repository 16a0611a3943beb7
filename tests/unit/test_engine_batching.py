"""Continuous batching (tailorlm.inference.engine): jobs join and leave the running batch between
steps, and every greedy answer is the one evaluation's engine gives for the same prompt alone."""

from __future__ import annotations

import asyncio

import pytest

SYSTEM = "You are a support assistant for a bank. Answer in one short sentence, politely and precisely."
QUESTIONS = ["I lost my card", "How do I reset my online banking password today?", "hi",
             "Can I raise my daily transfer limit for a house deposit next week?"]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from engine_helpers import build_lively_llama

    from tailorlm.models import load_base

    return load_base(str(build_lively_llama(tmp_path_factory.mktemp("lively"))), "cpu", "float32")


def _prompts(loaded):
    from tailorlm.inference import encode_chats

    return encode_chats(loaded.tokenizer, [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]
                                           for q in QUESTIONS])


async def _collect(stream) -> tuple[list[int], int]:
    text, tokens = "", 0
    async for deltas in stream:
        for d in deltas:
            text += d.text
            tokens = d.completion_tokens
    return text, tokens


def test_jobs_that_join_a_running_batch_answer_as_evaluation_does_alone(loaded):
    from tailorlm.inference import generate
    from tailorlm.inference.decode import SamplingParams
    from tailorlm.inference.engine import BatchEngine, Job

    prompts = _prompts(loaded)
    budgets = [12, 5, 9, 12]  # different lengths: rows leave the batch at different steps
    alone = [generate(loaded, [p], max_new_tokens=b, progress=False)[0] for p, b in zip(prompts, budgets)]
    seen: list[int] = []

    async def scenario():
        engine = BatchEngine(max_queue=8, max_batch=8, observer=lambda versions, rows: seen.append(rows))
        engine.pause()  # line the first three up so they join together
        jobs = [Job(loaded, p, SamplingParams(max_tokens=b, temperature=0), version=f"v{i}")
                for i, (p, b) in enumerate(zip(prompts, budgets))]
        streams = [engine.submit(j) for j in jobs[:3]]
        engine.resume()
        first = await streams[0].__anext__()  # job 0 is decoding: job 3 joins the running batch
        streams.append(engine.submit(jobs[3]))
        results = await asyncio.gather(_collect(streams[0]), *(_collect(s) for s in streams[1:]))
        engine.close()
        return first, results, jobs

    first, results, jobs = asyncio.run(scenario())
    texts = [first[0].text + results[0][0]] + [r[0] for r in results[1:]]
    tokens = [r[1] for r in results]
    assert [t.strip() for t in texts] == [g.text for g in alone]
    assert len({g.text for g in alone}) == len(alone) and all(g.text for g in alone)  # real, different answers
    assert tokens == [g.completion_tokens for g in alone]
    assert max(seen) >= 3 and jobs[0].batch_rows >= 3  # they really decoded together
    assert {"v0", "v1", "v2"} <= jobs[0].batch_versions


def test_rows_leaving_the_batch_free_places_for_waiting_jobs(loaded):
    from tailorlm.inference import generate
    from tailorlm.inference.decode import SamplingParams
    from tailorlm.inference.engine import BatchEngine, Job

    prompts = _prompts(loaded)
    alone = [generate(loaded, [p], max_new_tokens=6, progress=False)[0] for p in prompts]
    seen: list[int] = []

    async def scenario():
        engine = BatchEngine(max_queue=8, max_batch=2, observer=lambda versions, rows: seen.append(rows))
        engine.pause()
        streams = [engine.submit(Job(loaded, p, SamplingParams(max_tokens=6, temperature=0))) for p in prompts]
        engine.resume()
        out = await asyncio.gather(*(_collect(s) for s in streams))
        engine.close()
        return out

    out = asyncio.run(scenario())
    assert [t.strip() for t, _ in out] == [g.text for g in alone]
    assert max(seen) == 2  # never more rows than max_batch, and two did share steps


def test_the_system_prompt_cache_is_reused_across_requests(loaded):
    from tailorlm.inference.batcher import PrefixCache, prefill
    import torch

    prompts = _prompts(loaded)
    cache = PrefixCache(min_len=8)
    with torch.inference_mode():
        plain = [prefill(loaded.model, p, None, 1, None).logits for p in prompts]
        cached = [prefill(loaded.model, p, None, 1, cache).logits for p in prompts]
    assert cache.hits == len(prompts) - 2  # the second request stores the shared prefix, later ones reuse it
    for a, b in zip(plain, cached):
        assert torch.equal(a.argmax(-1), b.argmax(-1))
        assert torch.allclose(a, b, atol=1e-4)


def test_the_cache_grows_into_spare_columns_and_decodes_as_concatenation_does(loaded, monkeypatch):
    """Rows join and leave a running batch whose cache appends into spare columns (a small
    ``KV_ROOM``, so buffers fill up and are replaced too): the same tokens and logits as a cache
    concatenated every step."""
    import torch

    from tailorlm.inference import batcher

    prompts = _prompts(loaded)
    model = loaded.model

    def run(room: int) -> tuple[list, list]:
        monkeypatch.setattr(batcher, "KV_ROOM", room)
        batch, tokens, logits, reused = batcher.RunningBatch(model), [], [], 0
        with torch.inference_mode():
            for step in range(12):
                if step in (0, 3, 5):  # rows join: two, then one, then one
                    new = prompts[:2] if step == 0 else [prompts[2 if step == 3 else 3]]
                    (pre, idx), = batcher.prefill_many(model, new, [None] * len(new), None, pad_id=0)
                    batch.join(pre, pre.logits.argmax(-1), [f"r{step}.{i}" for i in idx], [None] * len(new))
                if step == 7:
                    batch.keep([0, 2, 3])  # a row leaves
                out = batch.step()
                layer = batch.cache.layers[0]
                reused += bool(room and layer._room is not None and layer.keys.data_ptr() == layer._room[0].data_ptr())
                batch.nxt = out.argmax(-1)
                tokens.append((list(batch.owners), batch.nxt.tolist()))
                logits.append(out)
        assert bool(room) == (reused == 12)  # every step wrote into a buffer, none was a plain concatenation
        return tokens, logits

    roomy, roomy_logits = run(3)
    plain, plain_logits = run(0)
    assert roomy == plain
    for a, b in zip(roomy_logits, plain_logits):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
