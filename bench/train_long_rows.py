"""One LoRA training step on ~256-token generation rows: LM head on the batch's union of answer positions
(``logits_to_keep``) against the head on each row's labelled positions only (``select``).

Rows mimic support answers: a 24-token shared header (the chat template's system turn), a 30-90
token prompt without loss and a 120-220 token answer with loss (about 2/3 of the tokens), grouped by
length into batches as training does. Time is the process's CPU time with one torch thread, so the
numbers compare the work of the two paths even on a machine shared with other jobs (wall time there
varies by 2-4x); both paths give the same loss (exact, see tests/unit/test_train_select.py).

    python bench/train_long_rows.py                           # default model, batch 4, 2 rounds
    python bench/train_long_rows.py --model /path/to/tiny --batch 8 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rows(vocab: int, n: int = 64, seed: int = 0):
    from tailorlm.train.tokenize import IGNORE, Encoded

    rng = random.Random(seed)
    header = [rng.randrange(100, vocab) for _ in range(24)]
    out = []
    for i in range(n):
        p, a = rng.randint(30, 90), rng.randint(120, 220)
        ids = header + [rng.randrange(100, vocab) for _ in range(p + a)]
        out.append(Encoded(ids, [IGNORE] * (24 + p) + ids[24 + p:], str(i)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)

    import torch

    from tailorlm.models import load_base
    from tailorlm.spec import TrainSpec
    from tailorlm.train.collate import collate, plan_batches
    from tailorlm.train.loop import forward_loss, selection_is_exact
    from tailorlm.train.methods import apply_method

    torch.set_num_threads(1)
    lm = load_base(args.model, "cpu", "auto")
    model = apply_method(lm.model, TrainSpec(method="lora"))
    model.train()
    exs = rows(model.get_output_embeddings().weight.shape[0])
    plan = plan_batches([len(e) for e in exs], args.batch, 0, 0, True)
    print(f"selection exact for this model: {selection_is_exact(model)}")

    def step(select: bool, k: int) -> tuple[float, int, float]:
        b = collate([[exs[i]] for i in plan[k % len(plan)]], lm.tokenizer.pad_token_id, False)
        t = time.process_time()
        loss = forward_loss(model, b, 0, "cpu", share_prefix=True, select=select)
        loss.backward()
        model.zero_grad(set_to_none=True)
        return time.process_time() - t, b.n_tokens, float(loss.detach())

    step(False, 0), step(True, 0)  # warm-up
    for r in range(args.rounds):
        for select in (False, True):
            dt, n, loss = step(select, r + 1)
            print(f"round {r} {'select' if select else 'union '} {n / dt:8.1f} tokens per CPU-second "
                  f"({dt:.2f} CPU-s, {n} tokens, loss {loss:.4f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
