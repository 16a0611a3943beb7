"""Label-constrained decoding: a generating model answers with a label, and a probability for each.

Every label is tokenized the way the chat template writes it after the assistant turn starts (the
label's tokens, then the end-of-turn token), and the token sequences are put in a trie. The
probability of a label is the product, over its tokens, of the model's softmax *renormalised over
the tokens the trie allows at that point*; a node with a single child contributes 1. Because every
label ends with the end-of-turn token, a label that is a prefix of another one (``card`` and
``card_lost``) is a separate branch (end token vs. ``_lost``), and the probabilities over the labels
sum to 1 by construction.

All labels are scored in ONE forward pass per batch, with no generation loop: the trie's internal
nodes are appended to each prompt as extra tokens, with a 4-D attention mask under which a node sees
the prompt and its own ancestors only (tree attention) and position ids equal to its depth after
the prompt. The hidden state at the prompt's last token and at every branching node is projected on
the allowed tokens only (a few hundred rows of the output embedding, not the whole vocabulary). The
shared prompt prefix (system prompt with the label list, few-shot turns) is computed once and its
key/value cache reused, as in :func:`tailorlm.inference.generate`. A unit test checks the result
against scoring each label separately with the plain model.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from .inference import (Generation, autocast_context, common_prefix_len, prefill_prefix, stop_token_ids,
                        supports_prefix_cache)
from .models.compat import cache_kwargs


@dataclass
class LabelPrediction(Generation):
    """A label answer (``text``) with its probability and the probability of every label.

    Attributes:
        probability: the answer's probability (the largest in ``probs``).
        probs: label -> probability, summing to 1.
    """

    probability: float = 0.0
    probs: dict[str, float] = field(default_factory=dict)


def label_token_ids(tokenizer: Any, label: str, stops: Sequence[int]) -> list[int]:
    """The tokens the chat template writes for ``label`` as an assistant turn, up to its end token.

    Found as training finds them (:func:`tailorlm.train.tokenize.encode_sft`): the template with the
    answer minus the template without it. A template that is not prefix-stable falls back to the
    label's plain tokens plus EOS.
    """
    def ids(messages: list[dict[str, str]], gen: bool) -> list[int]:
        out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen, return_dict=True)
        return list(out["input_ids"])

    user = [{"role": "user", "content": "?"}]
    prompt, full = ids(user, True), ids(user + [{"role": "assistant", "content": str(label)}], False)
    stop_set = set(stops)
    if full[:len(prompt)] == prompt:
        answer = full[len(prompt):]
        for j, t in enumerate(answer):
            if t in stop_set:
                return answer[:j + 1]
    return list(tokenizer.encode(str(label), add_special_tokens=False)) + [int(stops[0])]


@dataclass
class LabelTrie:
    """Token trie over the labels' sequences; node 0 is the root (the prompt's last token).

    Attributes:
        labels: the labels, in the order given.
        token / parent / depth: per node (the root has token -1, parent -1, depth 0).
        children: per node, token -> child node.
        leaf: node -> label index, for the node that ends each label.
    """

    labels: list[str]
    token: list[int] = field(default_factory=lambda: [-1])
    parent: list[int] = field(default_factory=lambda: [-1])
    depth: list[int] = field(default_factory=lambda: [0])
    children: list[dict[int, int]] = field(default_factory=lambda: [{}])
    leaf: dict[int, int] = field(default_factory=dict)

    @classmethod
    def build(cls, labels: Sequence[str], sequences: Sequence[Sequence[int]]) -> "LabelTrie":
        """Insert each label's token sequence; two labels with the same tokens are an error."""
        trie = cls(labels=list(labels))
        for li, seq in enumerate(sequences):
            node = 0
            for t in seq:
                if t not in trie.children[node]:
                    trie.children[node][t] = len(trie.token)
                    trie.token.append(int(t))
                    trie.parent.append(node)
                    trie.depth.append(trie.depth[node] + 1)
                    trie.children.append({})
                node = trie.children[node][t]
            if node in trie.leaf or trie.children[node]:
                other = trie.labels[trie.leaf[node]] if node in trie.leaf else "a longer label"
                raise ValueError(f"labels {labels[li]!r} and {other!r} have the same tokens, so they cannot be "
                                 "told apart; rename one of them.")
            trie.leaf[node] = li
        return trie

    @property
    def fed(self) -> list[int]:
        """The tokens appended to every prompt (parents first): each non-root node that is a decision
        node or an ancestor of one. A single-child chain below the last decision of a path needs no
        logits and no descendant attends to it, so it is not computed (the 72 bench labels: 32 of
        351 nodes are fed)."""
        keep: set[int] = set()
        for n in self.decisions:
            while n > 0 and n not in keep:
                keep.add(n)
                n = self.parent[n]
        return sorted(keep)

    @property
    def decisions(self) -> list[int]:
        """Nodes with two or more children: the only places where the model's choice matters."""
        return [n for n in range(len(self.token)) if len(self.children[n]) >= 2]

    def path(self, label_index: int) -> list[int]:
        """The nodes from the root's child down to the label's last node."""
        node = next(n for n, li in self.leaf.items() if li == label_index)
        out = []
        while node > 0:
            out.append(node)
            node = self.parent[node]
        return out[::-1]


@dataclass
class _Plan:
    """Index tensors derived from the trie once per scoring call."""

    fed: list[int]
    ancestors: torch.Tensor  # (N, N) bool: fed node i may attend fed node j (j is i or an ancestor)
    depth: torch.Tensor  # (N,) long
    decisions: list[int]
    union: torch.Tensor  # (U,) token ids allowed at some decision node
    allowed: torch.Tensor  # (K, U) bool
    gather: torch.Tensor  # (L, D) indices into the flattened (K*U + 1) log-probs (pad -> the zero column)


def _plan(trie: LabelTrie) -> _Plan:
    fed = trie.fed
    col = {n: i for i, n in enumerate(fed)}
    anc = torch.zeros(len(fed), len(fed), dtype=torch.bool)
    for i, n in enumerate(fed):
        m = n
        while m > 0:
            anc[i, col[m]] = True
            m = trie.parent[m]
    decisions = trie.decisions
    union_tokens = sorted({t for n in decisions for t in trie.children[n]})
    upos = {t: u for u, t in enumerate(union_tokens)}
    allowed = torch.zeros(len(decisions), len(union_tokens), dtype=torch.bool)
    kpos = {n: k for k, n in enumerate(decisions)}
    for k, n in enumerate(decisions):
        for t in trie.children[n]:
            allowed[k, upos[t]] = True
    pad = len(decisions) * len(union_tokens)
    rows = []
    for li in range(len(trie.labels)):
        path = trie.path(li)
        idx = [kpos[trie.parent[n]] * len(union_tokens) + upos[trie.token[n]]
               for n in path if trie.parent[n] in kpos]
        rows.append(idx)
    width = max([len(r) for r in rows] + [1])
    gather = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
    return _Plan(fed, anc, torch.tensor([trie.depth[n] for n in fed], dtype=torch.long), decisions,
                 torch.tensor(union_tokens, dtype=torch.long), allowed, gather)


def _tree_batch(suffixes: list[list[int]], plan: _Plan, trie: LabelTrie, prefix_len: int, pad_id: int):
    """Input ids, 4-D boolean mask and position ids for ``[prefix] [pad.. suffix] [trie nodes]`` rows."""
    bsz, n = len(suffixes), len(plan.fed)
    width = max(len(s) for s in suffixes)
    ids = torch.full((bsz, width + n), pad_id, dtype=torch.long)
    smask = torch.zeros((bsz, width), dtype=torch.bool)
    for b, s in enumerate(suffixes):
        ids[b, width - len(s):width] = torch.tensor(s, dtype=torch.long)
        smask[b, width - len(s):] = True
    ids[:, width:] = torch.tensor([trie.token[x] for x in plan.fed], dtype=torch.long)
    q = width + n
    mask = torch.zeros((bsz, 1, q, prefix_len + q), dtype=torch.bool)
    mask[:, :, :, :prefix_len] = True
    causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
    mask[:, 0, :width, prefix_len:prefix_len + width] = causal & smask[:, None, :]
    eye = torch.eye(width, dtype=torch.bool)
    mask[:, 0, :width, prefix_len:prefix_len + width] |= eye  # a pad row sees itself (never an empty row)
    mask[:, 0, width:, prefix_len:prefix_len + width] = smask[:, None, :].expand(bsz, n, width)
    mask[:, 0, width:, prefix_len + width:] = plan.ancestors
    lens = smask.sum(1)  # (B,)
    pos = torch.empty((bsz, q), dtype=torch.long)
    pos[:, :width] = (prefix_len + smask.long().cumsum(1) - 1).clamp(min=prefix_len)
    pos[:, width:] = prefix_len + lens[:, None] - 1 + plan.depth[None, :]
    return ids, mask, pos, width


def _label_logprobs(model: Any, ids, mask, pos, width: int, plan: _Plan, cache: Any) -> torch.Tensor:
    """(B, L) log-probability of every label for one batch (one forward pass of the decoder)."""
    from .models.compat import _underlying

    core = _underlying(model)
    decoder, head = core.get_decoder(), core.get_output_embeddings()
    dev = next(core.parameters()).device
    if getattr(core.config, "_attn_implementation", "sdpa") != "sdpa":  # eager: an additive float mask
        fmask = torch.zeros(mask.shape, dtype=next(core.parameters()).dtype)
        mask = fmask.masked_fill(~mask, torch.finfo(fmask.dtype).min)
    kwargs = {"input_ids": ids.to(dev), "attention_mask": mask.to(dev), "position_ids": pos.to(dev)}
    if cache is not None:
        kwargs.update(use_cache=True, **cache_kwargs(decoder, cache))
    else:
        kwargs["use_cache"] = False
    hidden = decoder(**kwargs).last_hidden_state  # (B, S + N, H)
    col = {n: width + i for i, n in enumerate(plan.fed)}
    cols = torch.tensor([width - 1 if n == 0 else col[n] for n in plan.decisions], device=dev)
    h = hidden[:, cols, :].float()  # (B, K, H)
    w = head.weight[plan.union.to(dev)].float()  # (U, H)
    logits = h @ w.T  # (B, K, U)
    if getattr(head, "bias", None) is not None:
        logits = logits + head.bias[plan.union.to(dev)].float()
    logits = logits.masked_fill(~plan.allowed.to(dev), float("-inf")).log_softmax(-1)
    flat = torch.cat([logits.flatten(1).nan_to_num(neginf=0.0), torch.zeros(logits.shape[0], 1, device=dev)], 1)
    return flat[:, plan.gather.to(dev)].sum(-1).cpu()  # (B, L)


def score_labels(loaded: Any, prompts: Sequence[list[int]], labels: Sequence[str], *, batch_size: int = 32,
                 progress: bool = True, desc: str = "score labels", prefix_cache: bool = True,
                 autocast: str | bool | None = None) -> list[LabelPrediction]:
    """The most probable label for every prompt (token ids from :func:`~tailorlm.inference.encode_chats`).

    Args:
        loaded: a ``LoadedModel`` whose model is a causal LM (PEFT adapters merged).
        prompts: token ids per example, ending with the assistant turn's header.
        labels: the allowed answers.
        batch_size / progress / desc / prefix_cache / autocast: as in :func:`tailorlm.inference.generate`.

    Returns:
        One :class:`LabelPrediction` per prompt, in input order; ``latency_ms`` shares each batch's
        wall time by the tokens each row computed.
    """
    from tqdm.auto import tqdm

    model, tok = loaded.model, loaded.tokenizer
    model.eval()
    stops = stop_token_ids(tok, model)
    labels = list(dict.fromkeys(str(x) for x in labels))
    seqs = [label_token_ids(tok, lab, stops) for lab in labels]
    trie = LabelTrie.build(labels, seqs)
    plan = _plan(trie)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
    ctx = lambda: autocast_context(loaded, autocast)  # noqa: E731 - a fresh context per batch
    plen = common_prefix_len(prompts) if prefix_cache and supports_prefix_cache(model) else 0
    cache = prefill_prefix(model, prompts[0][:plen], ctx()) if plen > 0 else None
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[LabelPrediction | None] = [None] * len(prompts)
    bar = tqdm(total=len(prompts), desc=desc, unit="ex", disable=not progress, leave=False)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        t0 = time.perf_counter()
        ids, mask, pos, width = _tree_batch([list(prompts[i][plen:]) for i in idx], plan, trie, plen, pad_id)
        batch_cache = None
        if cache is not None:
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(idx))
        with torch.inference_mode(), ctx():
            lp = _label_logprobs(model, ids, mask, pos, width, plan, batch_cache)
        wall_ms = (time.perf_counter() - t0) * 1000.0
        work = [len(prompts[i]) - plen for i in idx]
        total = float(sum(work)) or 1.0
        probs = lp.exp()
        for k, i in enumerate(idx):
            best = int(probs[k].argmax())
            results[i] = LabelPrediction(
                text=labels[best], prompt_tokens=len(prompts[i]), completion_tokens=len(seqs[best]),
                latency_ms=wall_ms * work[k] / total, finished=True, probability=float(probs[k, best]),
                probs={lab: float(p) for lab, p in zip(labels, probs[k].tolist())})
        bar.update(len(idx))
    bar.close()
    return [r for r in results if r is not None]


def supports_constrained(model: Any) -> bool:
    """Whether :func:`score_labels` can run this model (prompt-learning PEFT models cannot: their
    virtual tokens own the key/value cache and the input embeddings)."""
    return supports_prefix_cache(model)
