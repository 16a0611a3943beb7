"""Rows of several LoRA versions in one forward pass (:mod:`tailorlm.inference.lora_rows`): each row
decodes what its version decodes alone and what PEFT's own per-row selection decodes, with versions
of different ranks, scalings and target layers; anything but plain LoRA is left to PEFT; a deleted
adapter's stacks go; giving an adapter back never waits for a forward pass."""

from __future__ import annotations

import threading

import pytest
import torch
from engine_helpers import build_lively_llama, build_lora_version

from tailorlm.inference import batcher, lora_rows
from tailorlm.serve.adapters import AdapterPool

PROMPTS = ["My card was stolen yesterday and", "hi", "How do I raise my daily transfer limit?"]
STEPS = 6


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-rows")
    base = build_lively_llama(root / "base")
    return base, [build_lora_version(base, root / "v1", seed=1),
                  build_lora_version(base, root / "v2", seed=2, r=8, lora_alpha=4,
                                     target_modules=["q_proj", "o_proj", "up_proj", "down_proj"])]


def _pool(versions, max_adapters: int = 4):
    pool = AdapterPool("cpu", "float32", max_adapters=max_adapters)
    got = [pool.get(f"v{i}", str(p)) for i, p in enumerate(versions[1])]
    return pool, got[0][0], [name for _, name in got]


def _decode(model, prompts: list[list[int]], adapters: list, ours: bool = True) -> tuple[list, torch.Tensor]:
    """Greedy tokens per row for STEPS steps, and the first step's logits, of one running batch."""
    old = batcher.LORA_ROWS
    batcher.LORA_ROWS = ours
    try:
        batch = batcher.RunningBatch(model)
        with torch.inference_mode():
            (pre, idx), = batcher.prefill_many(model, prompts, adapters, None, pad_id=0)
            batch.join(pre, pre.logits.argmax(-1), idx, adapters)
            tokens = [batch.nxt.tolist()]
            first = None
            for _ in range(STEPS):
                logits = batch.step()
                first = logits.clone() if first is None else first
                batch.nxt = logits.argmax(-1)
                tokens.append(batch.nxt.tolist())
    finally:
        batcher.LORA_ROWS = old
    return [[t[r] for t in tokens] for r in range(len(prompts))], first


def test_a_mixed_batch_decodes_each_row_as_its_version_does_alone(versions):
    pool, loaded, (a, b) = _pool(versions)
    tok = loaded.tokenizer
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    prompts = [ids[0], ids[0], ids[0], ids[1], ids[2], ids[1]]
    adapters = [a, b, None, b, a, None]
    with lora_rows.rows(loaded.model, adapters) as ours:
        assert ours  # plain LoRA: this path, not PEFT's
    mixed, logits = _decode(loaded.model, prompts, adapters)
    assert len({tuple(mixed[0]), tuple(mixed[1]), tuple(mixed[2])}) == 3  # one prompt, three different answers
    for i, (p, ad) in enumerate(zip(prompts, adapters)):
        alone, alone_logits = _decode(loaded.model, [p], [ad])
        assert mixed[i] == alone[0]
        torch.testing.assert_close(logits[i], alone_logits[0], rtol=1e-5, atol=1e-5)
    peft, peft_logits = _decode(loaded.model, prompts, adapters, ours=False)  # PEFT's adapter_names
    assert mixed == peft
    torch.testing.assert_close(logits, peft_logits, rtol=1e-5, atol=1e-5)


def test_anything_but_plain_lora_is_left_to_peft(versions, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = versions[0]
    plain = AutoModelForCausalLM.from_pretrained(base)
    with lora_rows.rows(plain, [None]) as ours:
        assert not ours  # no adapters at all
    dora = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                          LoraConfig(r=4, target_modules=["q_proj"], use_dora=True), adapter_name="d").eval()
    with lora_rows.rows(dora, ["d"]) as ours:
        assert not ours
    saved = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"]),
                           adapter_name="s").eval()
    with lora_rows.rows(saved, ["s"]) as ours:
        assert not ours  # lm_head picks its adapter elsewhere
    pool, loaded, names = _pool(versions)
    loaded.model.train()
    try:
        with lora_rows.rows(loaded.model, names) as ours:
            assert not ours
    finally:
        loaded.model.eval()


def test_an_evicted_adapter_takes_its_stacks_with_it(versions):
    pool, loaded, (a, b) = _pool(versions, max_adapters=1)
    tok = loaded.tokenizer
    ids = tok(PROMPTS[0], add_special_tokens=False)["input_ids"]
    _decode(loaded.model, [ids, ids], [a, b])

    def stacked() -> set:
        return {n for m in loaded.model.modules() for key in m.__dict__.get("_tailorlm_stacks", {}) for n in key}

    assert stacked() == {a, b}
    pool.release(a)  # free and past the bound: deleted
    assert a not in loaded.model.peft_config and pool.loaded == ["v1"]
    assert stacked() == set()  # the only stack held both
    assert _decode(loaded.model, [ids], [b])[0] == _decode(loaded.model, [ids], [b], ours=False)[0]
    assert stacked() == {b}


def test_giving_an_adapter_back_never_waits_for_a_forward_pass(versions):
    pool, loaded, (a, b) = _pool(versions)
    held, done = threading.Event(), threading.Event()

    def forward_pass() -> None:  # the engine holds the pool's lock around every forward pass
        with pool.lock:
            held.set()
            done.wait(60)

    engine = threading.Thread(target=forward_pass)
    engine.start()
    try:
        assert held.wait(60)
        calls = threading.Thread(target=lambda: (pool.release(a), pool.get("v1", str(versions[1][1]))))
        calls.start()
        calls.join(60)
        assert not calls.is_alive()  # returned while the "forward pass" still held the lock
    finally:
        done.set()
        engine.join(60)
