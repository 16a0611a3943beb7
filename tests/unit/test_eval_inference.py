"""The batched generation engine gives exactly the answers of one-at-a-time generation."""

from __future__ import annotations

import pytest
import torch

from tailorlm.inference import common_prefix_len, encode_chats, generate, generate_one_by_one


@pytest.fixture(scope="module")
def peaky_model(tokenizer):
    """A tiny random Llama with large weights, so greedy outputs differ between prompts
    (the default init gives near-uniform logits and the same token everywhere)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from tailorlm.models.loader import LoadedModel, ResolvedBase

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, initializer_range=0.5, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(cfg).eval()
    return LoadedModel(model, tokenizer, "cpu", False, ResolvedBase("tiny", "tiny", "none"))


def _prompts(tokenizer, n=14):
    chats = [[{"role": "system", "content": "Classify the message. Labels: a, b, c"},
              {"role": "user", "content": f"message {i} " + "wörd " * (i % 5)}] for i in range(n)]
    return encode_chats(tokenizer, chats)


def test_common_prefix_len_leaves_one_token_per_prompt():
    assert common_prefix_len([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert common_prefix_len([[1, 2], [1, 2]]) == 1
    assert common_prefix_len([[7]]) == 0
    assert common_prefix_len([]) == 0


def test_batched_and_prefix_cached_match_one_by_one(peaky_model, tokenizer):
    prompts = _prompts(tokenizer)
    single = generate_one_by_one(peaky_model, prompts, max_new_tokens=5, progress=False, autocast="off")
    padded = generate(peaky_model, prompts, max_new_tokens=5, batch_size=4, progress=False, prefix_cache=False,
                      autocast="off")
    cached = generate(peaky_model, prompts, max_new_tokens=5, batch_size=4, progress=False, prefix_cache=True,
                      autocast="off")
    texts = [g.text for g in single]
    assert len(set(texts)) > 5  # the check below would be vacuous if every answer were the same
    assert [g.text for g in padded] == texts
    assert [g.text for g in cached] == texts
    assert [g.prompt_tokens for g in cached] == [len(p) for p in prompts]


def test_latency_is_each_examples_share_of_the_forward_passes_it_was_in(peaky_model, tokenizer, monkeypatch):
    import types

    from tailorlm.inference import engine

    # A fake clock: every forward pass (prefill or decoding step) takes exactly 125 ms.
    ticks = iter(range(10_000))
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks) * 0.125))
    prompts = _prompts(tokenizer, 6)
    gens = generate(peaky_model, prompts, max_new_tokens=3, batch_size=6, progress=False, autocast="off",
                    prefix_cache=False)  # all six join at once: one prefill pass, then decoding steps
    counts = [g.completion_tokens for g in gens]
    assert all(1 <= c <= 3 for c in counts)
    own = [g.prompt_tokens for g in gens]  # no prefix cache: every prompt token is computed
    for g, c, n in zip(gens, counts, own):
        prefill_share = 125.0 * n / sum(own)  # the prefill pass, split by tokens computed
        step_shares = sum(125.0 / sum(1 for d in counts if d > k) for k in range(1, c))  # rows alive in step k
        assert g.latency_ms == pytest.approx(prefill_share + step_shares)
    passes = 1 + max(counts) - 1
    assert sum(g.latency_ms for g in gens) == pytest.approx(125.0 * passes)  # the shares add up to the wall time


def test_stops_at_eos(tokenizer):
    """A model that always predicts EOS yields empty, finished answers after one step."""
    from types import SimpleNamespace

    from tailorlm.models.loader import LoadedModel, ResolvedBase

    vocab = len(tokenizer)

    class AlwaysEOS(torch.nn.Module):
        device = torch.device("cpu")
        generation_config = SimpleNamespace(eos_token_id=tokenizer.eos_token_id)

        def forward(self, input_ids, past_key_values=None, logits_to_keep=0, **kw):
            logits = torch.zeros(input_ids.shape[0], 1, vocab)
            logits[..., tokenizer.eos_token_id] = 1.0
            return SimpleNamespace(logits=logits, past_key_values=past_key_values)

    lm = LoadedModel(AlwaysEOS(), tokenizer, "cpu", False, ResolvedBase("x", "x", "x"))
    prompts = _prompts(tokenizer, 3)
    from tailorlm.inference import generate_batch_prefixed

    class Cache:
        def batch_repeat_interleave(self, n):
            pass

    comps, counts, done = generate_batch_prefixed(lm.model, tokenizer, Cache(), 2, [p[2:] for p in prompts], 8,
                                                  [tokenizer.eos_token_id], torch.no_grad())
    assert comps == [[], [], []] and counts == [1, 1, 1] and done == [True, True, True]


def test_answering_in_bf16_casts_the_weights_once_and_off_keeps_fp32(tiny_model_dir):
    """``for_inference``: bf16 chosen -> bf16 weights and plain forward passes (no autocast re-casting
    each weight per pass); ``off`` -> the fp32 weights untouched; calling it again is harmless."""
    import contextlib

    import torch

    from tailorlm.models import load_base
    from tailorlm.models.precision import for_inference

    kept = for_inference(load_base(str(tiny_model_dir), device="cpu", dtype="float32"), "off")
    assert next(kept.model.parameters()).dtype == torch.float32 and not kept.inference_bf16
    cast = for_inference(load_base(str(tiny_model_dir), device="cpu", dtype="float32"), "on")
    assert {p.dtype for p in cast.model.parameters()} == {torch.bfloat16} and cast.inference_bf16
    assert isinstance(cast.autocast(), contextlib.nullcontext)
    assert for_inference(cast, "auto") is cast and next(cast.model.parameters()).dtype == torch.bfloat16
