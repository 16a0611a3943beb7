"""Continued pretraining is scored by language-model loss on held-out text, not by generation.

``eval_loss`` is the mean next-token cross-entropy (nats per token) over every test token;
``perplexity`` is ``exp(eval_loss)``. Texts are cut to the model's context (``data.max_seq_len``).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Sequence

import torch

from ..systems import BASE_WEIGHTS, CANDIDATE, TRAINED_WEIGHTS
from .scoring import SystemScore, latency_metrics

if TYPE_CHECKING:
    from ..results import TrainRun
    from ..spec import TailorSpec


def token_loss(loaded: Any, texts: Sequence[str], max_len: int, batch_size: int, progress: bool, desc: str,
               autocast: str = "off") -> tuple[float, int, list[float]]:
    """(summed loss in nats, counted tokens, per-text wall ms) over ``texts``."""
    from tqdm.auto import tqdm

    from ..models.precision import autocast_context

    tok, model = loaded.tokenizer, loaded.model
    model.eval()
    total, count, ms = 0.0, 0, []
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, disable=not progress, leave=False):
        chunk = [t or "" for t in texts[start:start + batch_size]]
        enc = tok(chunk, return_tensors="pt", padding=True, truncation=True, max_length=max_len,
                  padding_side="right")  # right padding: positions of real tokens start at 0
        ids, mask = enc["input_ids"].to(model.device), enc["attention_mask"].to(model.device)
        t0 = time.perf_counter()
        with torch.inference_mode(), autocast_context(loaded, autocast):
            logits = model(input_ids=ids, attention_mask=mask).logits.float()  # (B, T, V)
        # Position t predicts token t+1; padded targets are excluded.
        tgt = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), tgt, ignore_index=-100,
                                                 reduction="sum")
        total += float(loss)
        count += int((tgt != -100).sum())
        ms.extend([(time.perf_counter() - t0) * 1000.0 / len(chunk)] * len(chunk))
    return total, count, ms


def score_perplexity(spec: TailorSpec, run: TrainRun | None, systems: Sequence[str], rows: Sequence[dict[str, Any]],
                     progress: bool) -> dict[str, SystemScore]:
    """``eval_loss`` and ``perplexity`` per system (``base``, ``fine_tuned``) on the test texts."""
    from .runner import load_weights

    texts = [str(r.get("text") or r.get("completion") or "") for r in rows]
    out = {}
    for name in systems:
        loaded = load_weights(TRAINED_WEIGHTS if name == CANDIDATE else BASE_WEIGHTS, spec, run)
        total, count, ms = token_loss(loaded, texts, spec.data.max_seq_len, spec.eval.batch_size, progress,
                                      f"eval {name}", spec.eval.bf16_autocast)
        loss = total / max(count, 1)
        metrics = {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0))}
        metrics.update(latency_metrics(ms, [0] * len(ms), [0] * len(ms)))
        metrics["hallucination_rate"] = 0.0
        metrics["compliance_violation_rate"] = 0.0
        records = [{"system": name, "id": str(r.get("id")), "latency_ms": m} for r, m in zip(rows, ms)]
        out[name] = SystemScore(name, metrics, records, notes=[
            "continued pretraining: scored by token loss on the test texts; no generation, so hallucination "
            "and compliance are not applicable (reported as 0)."])
        del loaded
    return out
