"""The time our server takes to answer 429 while its queue is really full (``bench/serve_load.py``).

:func:`refusal_times` keeps ``fill`` long streamed completions in flight (more than the server's
``--max-batch`` rows plus its ``--max-queue``; each one that ends, or is refused, is sent again),
waits until ``GET /metrics`` shows ``tailorlm_queue_depth`` at the queue's size, then times rounds
of probes on already-open keep-alive connections, so the time is the server's, not TCP setup's.
A probe that is queued instead of refused (a filler ended and freed a place just then) is given up
after ``PROBE_WAIT_S`` and counted as ``queued``, not timed.
"""

from __future__ import annotations

import asyncio
import time

import httpx

# A raw-text continuation that runs to max_tokens (an instruct model keeps counting), so the
# fillers hold their rows for the whole measurement.
COUNT = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,"
FILL_TOKENS = 1024
PROBE_WAIT_S = 5.0
FULL_WAIT_S = 180.0


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def queue_depth(client: httpx.AsyncClient, url: str) -> float:
    """``tailorlm_queue_depth`` from ``GET /metrics`` (NaN when the server has no such metric)."""
    r = await client.get(url + "/metrics")
    for line in r.text.splitlines():
        if line.startswith("tailorlm_queue_depth "):
            return float(line.split()[1])
    return float("nan")


async def _filler(client: httpx.AsyncClient, url: str, model: str, stop: asyncio.Event) -> None:
    body = {"model": model, "prompt": COUNT, "max_tokens": FILL_TOKENS, "temperature": 0, "stream": True}
    while not stop.is_set():
        try:
            async with client.stream("POST", url + "/v1/completions", json=body) as r:
                if r.status_code != 200:
                    await r.aread()
                    await asyncio.sleep(0.2)  # refused (the queue is full already): try again shortly
                    continue
                async for _ in r.aiter_lines():
                    if stop.is_set():
                        return
        except httpx.TransportError:
            await asyncio.sleep(0.2)


async def _probe(client: httpx.AsyncClient, url: str, model: str, prompt: str) -> tuple[str, float]:
    """(status, seconds from send to the whole answer) of one non-streamed 1-token completion."""
    body = {"model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0}
    t0 = time.perf_counter()
    try:
        r = await asyncio.wait_for(client.post(url + "/v1/completions", json=body), PROBE_WAIT_S)
    except asyncio.TimeoutError:
        return "queued", float("nan")
    except httpx.TransportError:  # a connection the server closed (keep-alive timeout): not a refusal
        return "closed", float("nan")
    return str(r.status_code), time.perf_counter() - t0


async def refusal_times(url: str, model: str, max_queue: int, fill: int, conns: int, rounds: int,
                        prompt: str) -> dict:
    """p50/p95/max seconds to a 429 on open connections with the queue full, and what the probes got.

    ``full`` is False (and nothing is timed) when the queue did not reach ``max_queue`` waiting
    requests within ``FULL_WAIT_S``; ``depth`` is the deepest queue seen.
    """
    stop = asyncio.Event()
    statuses: dict[str, int] = {}
    times: list[float] = []
    deepest = 0.0
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(timeout=None, limits=httpx.Limits(max_connections=fill + 2)) as fc, \
            httpx.AsyncClient(timeout=60, limits=limits) as pc:
        fillers = [asyncio.create_task(_filler(fc, url, model, stop)) for _ in range(fill)]
        try:
            deadline = time.perf_counter() + FULL_WAIT_S
            while time.perf_counter() < deadline:
                deepest = max(deepest, await queue_depth(pc, url))
                if deepest >= max_queue:
                    break
                await asyncio.sleep(0.1)
            if deepest >= max_queue:
                for _ in range(rounds):
                    # open and warm every connection (uvicorn closes idle keep-alive ones after 5 s)
                    await asyncio.gather(*(pc.get(url + "/health") for _ in range(conns)), return_exceptions=True)
                    if await queue_depth(pc, url) < max_queue:  # a filler just ended: let its retry queue
                        await asyncio.sleep(0.5)
                    for status, seconds in await asyncio.gather(*(_probe(pc, url, model, prompt) for _ in range(conns))):
                        statuses[status] = statuses.get(status, 0) + 1
                        if status == "429":
                            times.append(seconds)
        finally:
            stop.set()
            for f in fillers:
                f.cancel()
            await asyncio.gather(*fillers, return_exceptions=True)
    return {"full": deepest >= max_queue, "depth": deepest, "p50": pct(times, 0.5), "p95": pct(times, 0.95),
            "max": max(times, default=float("nan")), "n": len(times), "statuses": statuses}
