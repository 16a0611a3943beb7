"""Load test: our server vs a peer OpenAI-compatible server, same weights, prompts and max_tokens.

Start both servers first, on the same merged weights:

    tailorlm models export support-bot@production --merge --out /tmp/merged
    tailorlm serve --open-local --port 8000 --max-batch 16 --max-queue 64      # ours
    transformers serve --continuous-batching --port 8001 /tmp/merged            # the peer

then

    python bench/serve_load.py --ours http://127.0.0.1:8000 --ours-model support-bot@production \\
        --peer http://127.0.0.1:8001 --peer-model /tmp/merged \\
        --mix support-bot@1,support-bot@2,support-bot@3,support-bot@4

At 1, 4 and 16 concurrent clients (``--clients``) each server gets the same ``--requests`` text
completions (streamed, greedy, ``--max-tokens``); per line: completion tokens/s, p50/p95 latency
and p50 time to first token, ``ours / peer / ratio``. Then: the time our server takes to answer 429
when its queue is full (``--burst`` requests at once, the fastest 429), and our throughput with the
``--mix`` versions in the load, against single-version throughput. Exits 1 on a missed aim (16
clients: at least 2x the peer's tokens/s at no worse p95; the mix at least 80% of single-version
throughput; 429 within 50 ms); ``--no-check`` only reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

import httpx

PROMPTS = ["My card was stolen yesterday and", "How do I reset the password of my online banking",
           "I want to raise my daily transfer limit because", "There is a payment on my statement that I",
           "Can I open a savings account for my daughter", "The app crashes every time I try to"]


async def one(client: httpx.AsyncClient, url: str, model: str, prompt: str, max_tokens: int) -> dict:
    """One streamed completion: latency, time to first token, completion tokens (from the stream)."""
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    ttft, tokens, chunks = None, None, 0
    async with client.stream("POST", url + "/v1/completions", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return {"status": r.status_code, "latency": time.perf_counter() - t0}
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


async def load(url: str, models: list[str], clients: int, requests: int, max_tokens: int) -> dict:
    """``requests`` completions from ``clients`` concurrent clients; models taken round-robin."""
    todo = list(range(requests))
    results: list[dict] = []

    async def client_loop(c: httpx.AsyncClient) -> None:
        while todo:
            i = todo.pop()
            results.append(await one(c, url, models[i % len(models)], PROMPTS[i % len(PROMPTS)], max_tokens))

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as c:
        await asyncio.gather(*(client_loop(c) for _ in range(clients)))
    wall = time.perf_counter() - t0
    ok = [r for r in results if r["status"] == 200]
    lat = sorted(r["latency"] for r in ok) or [float("nan")]
    return {"tok_s": sum(r["tokens"] for r in ok) / wall, "p50": statistics.median(lat),
            "p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))], "ttft": statistics.median([r["ttft"] for r in ok] or [0]),
            "errors": len(results) - len(ok)}


async def burst_429(url: str, model: str, n: int, max_tokens: int) -> float:
    """Fire ``n`` requests at once; the fastest 429 answer in seconds (nan when none was refused)."""
    async with httpx.AsyncClient(timeout=600) as c:
        out = await asyncio.gather(*(one(c, url, model, PROMPTS[0], max_tokens) for _ in range(n)))
    refused = [r["latency"] for r in out if r["status"] == 429]
    bad = [r["status"] for r in out if r["status"] not in (200, 429)]
    if bad:
        print(f"  burst: unexpected statuses {sorted(set(bad))}")
    return min(refused) if refused else float("nan")


def line(name: str, ours: float, peer: float | None, unit: str) -> str:
    if peer is None:
        return f"{name:<34} {ours:10.3f} {unit}"
    ratio = ours / peer if peer else float("inf")
    return f"{name:<34} {ours:10.3f} / {peer:10.3f} {unit}  ratio {ratio:5.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours", required=True)
    ap.add_argument("--ours-model", required=True)
    ap.add_argument("--peer")
    ap.add_argument("--peer-model")
    ap.add_argument("--mix", default="", help="comma-separated versions for the mixed load")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--burst", type=int, default=64)
    ap.add_argument("--no-check", action="store_true")
    a = ap.parse_args(argv)
    missed: list[str] = []
    print("clients  metric                      ours / peer")
    top = None
    for k in (int(x) for x in a.clients.split(",")):
        ours = asyncio.run(load(a.ours, [a.ours_model], k, a.requests, a.max_tokens))
        peer = asyncio.run(load(a.peer, [a.peer_model], k, a.requests, a.max_tokens)) if a.peer else None
        for key, unit in (("tok_s", "tok/s"), ("p50", "s"), ("p95", "s"), ("ttft", "s")):
            print(line(f"{k:>3} clients {key}", ours[key], peer[key] if peer else None, unit))
        if ours["errors"] or (peer and peer["errors"]):
            print(f"    errors: ours {ours['errors']}, peer {peer['errors'] if peer else '-'}")
        top = (k, ours, peer)
    if top and top[2] and top[0] >= 16:
        _, ours, peer = top
        if ours["tok_s"] < 2 * peer["tok_s"] or ours["p95"] > peer["p95"]:
            missed.append("16 clients: under 2x the peer's tokens/s or a worse p95")
    if a.mix:
        mix = a.mix.split(",")
        single = asyncio.run(load(a.ours, mix[:1], 16, a.requests, a.max_tokens))  # one of the versions alone
        mixed = asyncio.run(load(a.ours, mix, 16, a.requests, a.max_tokens))
        print(line("mix of versions vs one, tok/s", mixed["tok_s"], single["tok_s"], "tok/s"))
        if mixed["tok_s"] < 0.8 * single["tok_s"]:
            missed.append("the version mix is under 80% of single-version throughput")
    t429 = asyncio.run(burst_429(a.ours, a.ours_model, a.burst, a.max_tokens))
    print(line("429 answer time (fastest)", t429 * 1000, None, "ms"))
    if not t429 <= 0.05:
        missed.append("429 not answered within 50 ms (or the burst was not refused)")
    for m in missed:
        print("MISSED:", m)
    return 1 if missed and not a.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
