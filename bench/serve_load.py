"""Load test: our server vs a peer OpenAI-compatible server, same weights, prompts and max_tokens.

One command sets everything up and runs the whole comparison on the default model:

    python bench/serve_load.py --setup-default /tmp/serve-bench

(``tailorlm init --template support`` + ``data prepare``, 4 random-LoRA versions registered as real
ones, version 1 exported merged, see ``bench/serve_setup.py``; then ``tailorlm serve`` and
``transformers serve --continuous-batching`` on the merged weights are started, measured and
stopped). Against servers already running:

    python bench/serve_load.py --ours http://127.0.0.1:8000 --ours-model support-bot@1 \\
        --peer http://127.0.0.1:8001 --peer-model /tmp/merged \\
        --mix support-bot@1,support-bot@2,support-bot@3,support-bot@4

At 1, 4 and 16 concurrent clients (``--clients``) each server gets the same ``--requests`` text
completions (streamed, greedy, ``--max-tokens``); per line: completion tokens/s, p50/p95 latency
and p50/p95 time to first token, ``ours / peer / ratio``. The prompts (``--workload support``) are
the support bot's chat prompts, templated to text the same way for both servers: the version's
system prompt (instruction and labels) and a customer message; ``--workload plain`` sends short
text continuations instead. Then our throughput with the ``--mix`` versions in the load against
one of them alone, and the time our server takes to answer 429 when its queue is full
(``bench/serve_refusal.py``: ``--fill`` long requests, more than ``--max-batch`` + ``--max-queue``,
stay in flight until ``/metrics`` shows the queue full; then ``--probe-rounds`` rounds of
``--probe-conns`` concurrent probes on already-open keep-alive connections, so it times the
server, not TCP setup; ``--max-batch`` and ``--max-queue`` must be the server's). Exits 1 on a missed aim (16 clients: at least 2x the peer's tokens/s at no worse
p95; the mix at least 80% of one LoRA version's throughput on the same server; 429 p95 within
50 ms); ``--no-check``
only reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

import httpx

from serve_refusal import pct, refusal_times

PLAIN = ["My card was stolen yesterday and", "How do I reset the password of my online banking",
         "I want to raise my daily transfer limit because", "There is a payment on my statement that I",
         "Can I open a savings account for my daughter", "The app crashes every time I try to"]
MESSAGES = ["My card was stolen yesterday, please block it", "How do I reset the password of my online banking?",
            "I want to raise my daily transfer limit for a house deposit", "There is a payment on my statement I "
            "do not recognise", "Can I open a savings account for my daughter?", "The app crashes every time I "
            "try to log in", "What is my current balance?", "I want to close my account and move my money"]


def support_prompts(project: str) -> list[str]:
    """The support bot's prompts as text: the version's system prompt + a message, chat-templated."""
    from tailorlm.cli.common import load
    from tailorlm.models.loader import load_tokenizer, resolve_base
    from tailorlm.prompting import build_messages

    from tailorlm.cli.common import workspace
    from tailorlm.store.datasets import latest_dataset_path
    from tailorlm.train.__main__ import dataset_from_folder

    spec = load(f"{project}/tailor.yaml", check_files=False)
    tok = load_tokenizer(resolve_base(spec.model.base).path)
    path = latest_dataset_path(workspace(spec).store, spec.project)
    labels = list(spec.objective.labels or (dataset_from_folder(path).labels if path else []))
    out = []
    for m in MESSAGES:
        chat = build_messages({"prompt": json.dumps([{"role": "user", "content": m}])}, spec.objective, labels)
        out.append(tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))
    return out


async def one(client: httpx.AsyncClient, url: str, model: str, prompt: str, max_tokens: int,
              stream: bool = True) -> dict:
    """One completion (streamed: latency, time to first token, completion tokens from the stream)."""
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    t0 = time.perf_counter()
    ttft, tokens, chunks = None, None, 0
    async with client.stream("POST", url + "/v1/completions", json=body) as r:
        if r.status_code != 200 or not stream:
            await r.aread()
            return {"status": r.status_code, "latency": time.perf_counter() - t0, "ttft": 0.0, "tokens": 0}
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                tokens = data["usage"]["completion_tokens"]
            if data.get("choices") and data["choices"][0].get("text"):
                chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - t0
    return {"status": 200, "latency": time.perf_counter() - t0, "ttft": ttft or 0.0,
            "tokens": tokens if tokens is not None else chunks}


async def load(url: str, models: list[str], clients: int, requests: int, max_tokens: int, prompts: list[str]) -> dict:
    """``requests`` completions from ``clients`` concurrent clients; models and prompts round-robin."""
    todo = list(range(requests))
    results: list[dict] = []

    async def client_loop(c: httpx.AsyncClient) -> None:
        while todo:
            i = todo.pop()
            results.append(await one(c, url, models[i % len(models)], prompts[i % len(prompts)], max_tokens))

    async with httpx.AsyncClient(timeout=600) as c:
        await asyncio.gather(*(c.get(url + "/health") for _ in range(clients)))  # connections open first
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for _ in range(clients)))
        wall = time.perf_counter() - t0
    ok = [r for r in results if r["status"] == 200]
    lat, ttft = [r["latency"] for r in ok], [r["ttft"] for r in ok]
    return {"tok_s": sum(r["tokens"] for r in ok) / wall, "p50": pct(lat, 0.5), "p95": pct(lat, 0.95),
            "ttft": pct(ttft, 0.5), "ttft_p95": pct(ttft, 0.95), "errors": len(results) - len(ok),
            "tokens": sum(r["tokens"] for r in ok)}


def line(name: str, ours: float, peer: float | None, unit: str) -> str:
    if peer is None:
        return f"{name:<34} {ours:10.3f} {unit}"
    ratio = ours / peer if peer else float("inf")
    return f"{name:<34} {ours:10.3f} / {peer:10.3f} {unit}  ratio {ratio:5.2f}"


def compare(a: argparse.Namespace, prompts: list[str]) -> list[str]:
    """The whole comparison; returns the missed aims."""
    missed: list[str] = []
    print(f"workload {a.workload}: {len(prompts)} prompts, {a.requests} requests per point, max_tokens "
          f"{a.max_tokens}\nclients  metric                      ours / peer", flush=True)
    top = None
    for k in (int(x) for x in a.clients.split(",")):
        ours = asyncio.run(load(a.ours, [a.ours_model], k, a.requests, a.max_tokens, prompts))
        peer = asyncio.run(load(a.peer, [a.peer_model], k, a.requests, a.max_tokens, prompts)) if a.peer else None
        for key, unit in (("tok_s", "tok/s"), ("p50", "s"), ("p95", "s"), ("ttft", "s"), ("ttft_p95", "s")):
            print(line(f"{k:>3} clients {key}", ours[key], peer[key] if peer else None, unit), flush=True)
        print(f"    completion tokens: ours {ours['tokens']}, peer {peer['tokens'] if peer else '-'}; errors: ours "
              f"{ours['errors']}, peer {peer['errors'] if peer else '-'}", flush=True)
        top = (k, ours, peer)
    if top and top[2] and top[0] >= 16:
        _, ours, peer = top
        if ours["tok_s"] < 2 * peer["tok_s"] or ours["p95"] > peer["p95"]:
            missed.append("16 clients: under 2x the peer's tokens/s or a worse p95")
    if a.mix:
        # The mix ratio: the versions mixed in one load against the first of them alone, both LoRA
        # adapters on the same shared base of the same server (and, for scale, against the merged
        # weights at 16 clients above, when --setup-default served them as --ours-model).
        mix = a.mix.split(",")
        single = asyncio.run(load(a.ours, mix[:1], 16, a.requests, a.max_tokens, prompts))  # one version alone
        mixed = asyncio.run(load(a.ours, mix, 16, a.requests, a.max_tokens, prompts))
        print(line(f"{len(mix)}-version mix vs one (LoRA), 16 clients", mixed["tok_s"], single["tok_s"], "tok/s"))
        print(line("  p95 latency, mix vs one", mixed["p95"], single["p95"], "s"), flush=True)
        if top and top[0] == 16 and getattr(a, "ours_merged", False):
            print(line("  one LoRA version vs merged weights", single["tok_s"], top[1]["tok_s"], "tok/s"))
            print(line("  the mix vs merged weights", mixed["tok_s"], top[1]["tok_s"], "tok/s"), flush=True)
        if mixed["tok_s"] < 0.8 * single["tok_s"]:
            missed.append("the version mix is under 80% of one LoRA version's throughput")
    ref = asyncio.run(refusal_times(a.ours, a.ours_model, a.max_queue, a.fill, a.probe_conns, a.probe_rounds,
                                    prompts[0]))
    if not ref["full"]:
        print(f"429: the queue never filled ({a.fill} long requests in flight, deepest queue {ref['depth']:.0f} of "
              f"{a.max_queue}); nothing timed", flush=True)
        missed.append("429 not measured: the queue never filled")
    else:
        print(f"429 with the queue full ({a.fill} long requests in flight; {a.probe_rounds} rounds of {a.probe_conns} "
              f"concurrent probes on open connections; statuses {ref['statuses']}): p50 {ref['p50'] * 1000:.1f} ms, "
              f"p95 {ref['p95'] * 1000:.1f} ms, max {ref['max'] * 1000:.1f} ms", flush=True)
        if not ref["p95"] <= 0.05:
            missed.append("429 p95 not within 50 ms")
    return missed


def args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--setup-default", metavar="DIR", help="set up the default-model comparison in DIR and run it")
    ap.add_argument("--ours")
    ap.add_argument("--ours-model")
    ap.add_argument("--peer")
    ap.add_argument("--peer-model")
    ap.add_argument("--mix", default="", help="comma-separated versions for the mixed load")
    ap.add_argument("--workload", choices=["support", "plain"], default="support")
    ap.add_argument("--project", help="the project whose system prompt --workload support uses (setup: its own)")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--max-batch", type=int, default=16, help="our server's --max-batch (setup: set to this)")
    ap.add_argument("--max-queue", type=int, default=32, help="our server's --max-queue (setup: set to this)")
    ap.add_argument("--fill", type=int, default=0,
                    help="long requests kept in flight to fill the queue (0: max-batch + max-queue + 4)")
    ap.add_argument("--probe-conns", type=int, default=4, help="open connections the 429 probes use, concurrently")
    ap.add_argument("--probe-rounds", type=int, default=10)
    ap.add_argument("--peer-mode", choices=["continuous-batching", "plain"], default="continuous-batching",
                    help="setup: how the peer runs (plain: transformers serve without continuous batching)")
    ap.add_argument("--peer-kv-tokens", type=int, default=16384,
                    help="setup: tokens the peer's paged KV cache holds (about 46 KB each for SmolLM2-135M)")
    ap.add_argument("--no-check", action="store_true")
    a = ap.parse_args(argv)
    a.fill = a.fill or a.max_batch + a.max_queue + 4
    if not a.setup_default and not (a.ours and a.ours_model):
        ap.error("give --setup-default DIR, or --ours URL and --ours-model MODEL")
    if a.workload == "support" and not (a.project or a.setup_default):
        ap.error("--workload support needs --project (the project folder) or --setup-default")
    return a


def main(argv: list[str] | None = None) -> int:
    a = args(argv)
    if a.setup_default:
        from serve_servers import run_with_setup

        missed = run_with_setup(a, compare, support_prompts)
    else:
        missed = compare(a, support_prompts(a.project) if a.workload == "support" else PLAIN)
    for m in missed:
        print("MISSED:", m)
    return 1 if missed and not a.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
