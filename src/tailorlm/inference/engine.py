"""The engine interface and its continuous-batching implementation on the prefix-cached decoder.

The server only talks to an :class:`Engine`: ``submit`` a :class:`Job` and read its deltas as an
async stream, ``close`` when the server stops. :class:`BatchEngine` runs a scheduler thread:

1. between decoding steps, waiting jobs join while the batch has room (``max_batch`` rows; a job
   with ``n`` choices takes ``n`` rows): the jobs joining together are prefilled in one forward
   pass (:func:`~tailorlm.inference.batcher.prefill_many`), each from its version's shared system
   prompt key/value cache when there is one (:class:`~tailorlm.inference.batcher.PrefixCache`),
   and their rows join the model's :class:`~tailorlm.inference.batcher.RunningBatch`;
2. one decoding step runs for every row of every model that has rows; rows of different LoRA
   versions on one base share the step (:mod:`~tailorlm.inference.lora_rows`: every row's LoRA
   delta in a few tensor operations per layer; PEFT's per-row ``adapter_names`` for anything but
   plain LoRA);
3. finished and cancelled jobs leave at once, freeing their rows for the next waiting job.

Sampling, stop strings, logprobs and constraints are the per-request logic of
:class:`~tailorlm.inference.decode.Decoder`, so a greedy answer is the one ``Decoder.run`` and
:func:`tailorlm.inference.generate` give (unit-tested). Classifier-head and prompt-learning
versions (which own their key/value cache) run alone through ``Decoder.run``, between steps.

The waiting queue is bounded (``max_queue``): a full queue raises :class:`EngineBusy` at once
(the server answers 429 with ``Retry-After``). Evaluation drives the same engine without an event
loop (:func:`run_jobs`): jobs queue with a blocking put and their deltas go to a callback.

Compute share: each forward pass's wall time is split among the jobs in it, in proportion to the
tokens each one computed in that pass (its own prompt tokens in a prefill, one per row in a
decoding step); ``Job.compute_s`` sums a job's shares (evaluation reports it as latency).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Protocol

import time

import torch

from . import autocast_context
from .batcher import PrefixCache, RunningBatch, prefill_many
from .decode import Constraint, Decoder, Delta, SamplingParams, _Row

log = logging.getLogger(__name__)


class EngineBusy(Exception):
    """The waiting queue is full; retry after a moment."""


@dataclass
class Job:
    """One generation request: token ids of the prompt, how to sample, optional constraint.

    ``version`` names what answers (for batch composition and metrics); ``adapter`` is the LoRA
    adapter to select on a shared base (None: the model as loaded). The engine fills in
    ``batch_versions`` / ``batch_rows``: the versions and the most rows that shared a step with it.
    """

    loaded: Any  # a tailorlm.models.LoadedModel
    prompt: list[int]
    params: SamplingParams
    constraint: Constraint | None = None
    autocast: str | None = "off"  # eval.bf16_autocast: the same precision as evaluation
    version: str = ""
    adapter: str | None = None
    adapter_path: str | None = None  # the adapter's folder (backends that load adapters themselves)
    lock: Any = None  # held around forward passes (adapters load and unload under it)
    steps: int = 0  # decoding steps done so far (a cancelled job stops counting early)
    compute_s: float = 0.0  # this job's share of the forward passes' wall time (module docstring)
    batch_versions: set[str] = field(default_factory=set)
    batch_rows: int = 0
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class Engine(Protocol):
    """What the HTTP layer needs from a generation backend."""

    def submit(self, job: Job) -> AsyncIterator[list[Delta]]:
        """Queue ``job`` and return its deltas step by step; raises :class:`EngineBusy` when full."""
        ...

    def close(self, drain: bool = True) -> None:
        """Stop taking jobs; with ``drain``, finish the queued ones first."""
        ...


StepObserver = Callable[[list[str], int], None]  # (version of each row, rows) after every step


@dataclass(eq=False)  # hashed by identity: one per job
class _Seq:
    """A job in the running batch: its choices' rows and the decoder that picks their tokens."""

    job: Job
    loop: asyncio.AbstractEventLoop | None
    out: Any  # an asyncio.Queue (loop set) or a callable (loop None: run_jobs)
    decoder: Decoder
    rows: list[_Row]
    gen: torch.Generator | None


_END = object()


class _Group:
    """Everything running on one model object: its batch and its prefix caches."""

    def __init__(self, model: Any, autocast_of: Any, prefix_cache: bool = True):
        self.batch = RunningBatch(model)
        self.prefixes = PrefixCache() if prefix_cache else None
        self.autocast_of = autocast_of  # () -> a fresh autocast context


def _send(loop: asyncio.AbstractEventLoop | None, out: Any, item: Any) -> None:
    if loop is None:  # run_jobs: a callback on this (the scheduler) thread
        out(item)
        return
    try:
        loop.call_soon_threadsafe(out.put_nowait, item)
    except RuntimeError:  # the event loop is gone (server stopped): nobody is listening
        pass


class BatchEngine:
    """Continuous batching on a scheduler thread; up to ``max_queue`` jobs wait for a place."""

    def __init__(self, max_queue: int = 16, max_batch: int = 8, observer: StepObserver | None = None,
                 prefix_cache: bool = True, min_join: int = 1):
        """``min_join``: waiting jobs join a running batch only once that many rows are free (1: at
        once, the server's choice for the time to first token; evaluation joins in larger groups,
        fewer and fuller prefill passes)."""
        self.max_batch = max(1, max_batch)
        self.min_join = max(1, min(min_join, self.max_batch))
        self.observer = observer
        self.prefix_cache = prefix_cache
        self._jobs: queue.Queue = queue.Queue(maxsize=max_queue)
        self._held: collections.deque = collections.deque()  # taken from the queue, waiting for rows
        self._groups: dict[int, _Group] = {}
        self._open = threading.Event()  # cleared by pause(): no job joins until resume()
        self._open.set()
        self._closed = False
        self._running = 0
        self._thread = threading.Thread(target=self._work, name="tailorlm-engine", daemon=True)
        self._thread.start()

    # ----- the caller's side (event loop) -----

    def submit(self, job: Job) -> AsyncIterator[list[Delta]]:
        if self._closed:
            raise EngineBusy("the server is shutting down")
        loop = asyncio.get_running_loop()
        out: asyncio.Queue = asyncio.Queue()
        try:
            self._jobs.put_nowait((job, loop, out))
        except queue.Full:
            raise EngineBusy(f"{self._jobs.maxsize} requests are already waiting") from None
        return self._drain(job, out)

    def put(self, job: Job, callback: Callable[[Any], None]) -> None:
        """Queue ``job`` without an event loop, waiting while the queue is full; ``callback`` gets
        each step's deltas, then ``None`` at the end (or the exception that failed the job), on the
        scheduler thread."""
        if self._closed:
            raise EngineBusy("the engine is closed")
        self._jobs.put((job, None, lambda item: callback(None if item is _END else item)))

    async def _drain(self, job: Job, out: asyncio.Queue) -> AsyncIterator[list[Delta]]:
        try:
            while True:
                item = await out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancel()  # the reader stopped (done, error or client gone): stop decoding

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for a place in the batch."""
        return self._jobs.qsize() + len(self._held)

    @property
    def running(self) -> int:
        """Jobs in the running batch."""
        return self._running

    def pause(self) -> None:
        """Let no waiting job join until :meth:`resume` (tests use it to line requests up)."""
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    def close(self, drain: bool = True) -> None:
        self._closed = True
        self._open.set()
        if not drain:
            while True:
                try:
                    job, loop, out = self._jobs.get_nowait()
                except queue.Empty:
                    break
                job.cancel()
                _send(loop, out, EngineBusy("the server is shutting down"))
        self._jobs.put(None)
        self._thread.join(timeout=60)

    # ----- the scheduler thread -----

    def _rows(self) -> int:
        return sum(len(g.batch) for g in self._groups.values())

    def _next(self, block: bool) -> Any:
        if self._held:
            return self._held.popleft()
        try:
            return self._jobs.get(block=block, timeout=0.05 if block else None)
        except queue.Empty:
            return False

    def _work(self) -> None:
        stopping = False
        while True:
            idle = not self._groups
            if idle and stopping and not self._held and self._jobs.empty():
                return
            if not self._open.wait(timeout=0.05):
                if idle:
                    continue
            else:
                stopping = self._admit(block=idle) or stopping
            for key in list(self._groups):
                try:
                    self._step(key)
                except Exception as exc:  # never let the scheduler die: fail that model's jobs
                    log.exception("the engine failed a batch")
                    self._fail(key, exc)

    def _admit(self, block: bool) -> bool:
        """Let waiting jobs join while rows are free; True once the close sentinel was seen."""
        taken, free, stop = [], self.max_batch - self._rows(), False
        if self._groups and free < self.min_join:
            return False
        while True:
            item = self._next(block=block and not self._groups and not taken)
            if item is False:
                break
            if item is None:
                stop = True
                break
            if not self._open.is_set():  # paused while this call waited for a job: hold it back
                self._held.appendleft(item)
                break
            rows = max(1, item[0].params.n)
            if (self._groups or taken) and rows > free:
                self._held.appendleft(item)
                break
            taken.append(item)
            free -= rows
        if taken:
            self._start(taken)
        return stop

    def _start(self, items: list[tuple]) -> None:
        """Prefill the joining jobs together (per model) and put their rows in its batch; jobs whose
        model owns its key/value cache run alone (see the module doc)."""
        by_model: dict[int, list[_Seq]] = {}
        for job, loop, out in items:
            if job.cancelled:
                _send(loop, out, _END)
                continue
            try:
                decoder = Decoder(job.loaded, job.autocast)
                if not decoder.cached:  # classifier head, prompt learning: alone, to the end
                    self._run_alone(job, decoder, loop, out)
                    continue
                gen = None
                if job.params.temperature > 0:
                    gen = torch.Generator(device="cpu")
                    gen.manual_seed(job.params.seed) if job.params.seed is not None else gen.seed()
                seq = _Seq(job, loop, out, decoder, [_Row() for _ in range(max(1, job.params.n))], gen)
                by_model.setdefault(id(job.loaded.model), []).append(seq)
            except Exception as exc:  # handed to the request that asked; the engine keeps going
                log.exception("prefill failed")
                _send(loop, out, exc)
        for seqs in by_model.values():
            try:
                self._join(seqs)
            except Exception as exc:
                log.exception("prefill failed")
                for seq in seqs:
                    _send(seq.loop, seq.out, exc)

    def _run_alone(self, job: Job, decoder: Decoder, loop: Any, out: Any) -> None:
        with job.lock or _nolock():
            for deltas in decoder.run(job.prompt, job.params, job.cancel_event.is_set, job.constraint):
                job.steps += 1
                _send(loop, out, deltas)
        _send(loop, out, _END)

    def _join(self, seqs: list[_Seq]) -> None:
        """One prefill pass (per shared-prefix length) for jobs on one model, then their rows join."""
        first = seqs[0].job
        model = first.loaded.model
        group = self._groups.get(id(model))
        if group is None:
            group = _Group(model, lambda: autocast_context(first.loaded, first.autocast), self.prefix_cache)
        tok = first.loaded.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        t0 = time.perf_counter()
        with torch.inference_mode(), group.autocast_of(), first.lock or _nolock():
            passes = prefill_many(model, [s.job.prompt for s in seqs], [s.job.adapter for s in seqs],
                                  group.prefixes, pad)
        wall = time.perf_counter() - t0
        own = [len(s.job.prompt) - pre.start for pre, idx in passes for s in (seqs[i] for i in idx)]
        total = float(sum(own)) or 1.0
        for pre, idx in passes:
            members = [seqs[i] for i in idx]
            for s in members:
                s.job.compute_s += wall * (len(s.job.prompt) - pre.start) / total
            rows = [k for k, s in enumerate(members) for _ in s.rows]  # n choices: the prompt's row n times
            if len(rows) > len(members):
                pre = pre.select(rows)
            keep, firsts, owners, adapters, start = [], [], [], [], 0
            for s in members:
                n = len(s.rows)
                nxt = self._emit(s, pre.logits[start:start + n])
                if nxt is not None:
                    keep += range(start, start + n)
                    firsts.append(nxt)
                    owners += [s] * n
                    adapters += [s.job.adapter] * n
                    self._running += 1
                start += n
            if not keep:
                continue
            if len(keep) < start:
                pre = pre.select(keep)
            group.batch.join(pre, torch.cat(firsts), owners, adapters)
            self._groups[id(model)] = group

    def _emit(self, seq: _Seq, logits: torch.Tensor) -> torch.Tensor | None:
        """Pick each row's next token, send the deltas; None when the job is over (done or cancelled)."""
        job = seq.job
        if job.cancelled:
            _send(seq.loop, seq.out, _END)
            return None
        nxt, chosen = seq.decoder._choose(logits, job.prompt, seq.rows, job.params, seq.gen, job.constraint)
        job.steps += 1
        deltas = seq.decoder._advance(seq.rows, nxt, chosen, job.params, last=job.steps >= job.params.max_tokens)
        _send(seq.loop, seq.out, deltas)
        if all(r.finish for r in seq.rows):
            _send(seq.loop, seq.out, _END)
            return None
        return nxt

    def _fail(self, key: int, exc: Exception) -> None:
        group = self._groups.pop(key, None)
        seqs = list(dict.fromkeys(group.batch.owners)) if group else []
        for s in seqs:
            _send(s.loop, s.out, exc)
        self._running -= len(seqs)

    def _step(self, key: int) -> None:
        """One decoding step for every row on one model; finished jobs leave the batch."""
        group = self._groups[key]
        batch = group.batch
        seqs = list(dict.fromkeys(batch.owners))  # in row order; a job's rows are contiguous
        versions = [s.job.version for s in batch.owners]
        t0 = time.perf_counter()
        try:
            lock = seqs[0].job.lock or _nolock()
            with torch.inference_mode(), group.autocast_of(), lock:
                logits = batch.step()  # (B, V)
        except Exception as exc:
            log.exception("decoding step failed")
            self._fail(key, exc)
            return
        if self.observer is not None:
            self.observer(versions, len(batch))
        keep, start = [], 0
        for s in seqs:
            n = len(s.rows)
            s.job.batch_versions.update(versions)
            s.job.batch_rows = max(s.job.batch_rows, len(batch))
            nxt = self._emit(s, logits[start:start + n])
            if nxt is None:
                self._running -= 1
            else:
                batch.nxt[start:start + n] = nxt.to(batch.nxt.device)
                keep += range(start, start + n)
            start += n
        share = (time.perf_counter() - t0) / len(batch)  # one token per row: equal shares
        for s in seqs:
            s.job.compute_s += share * len(s.rows)
        if len(keep) < len(batch):
            batch.keep(keep)
        if not len(batch):
            del self._groups[key]


class _nolock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_jobs(jobs: list[Job], max_batch: int, prefix_cache: bool = True,
             on_done: Callable[[int], None] | None = None, min_join: int | None = None) -> list[list[Delta]]:
    """Run ``jobs`` to the end on a fresh :class:`BatchEngine` (no event loop), in order of
    submission; returns each job's last delta per choice (its finish reason and token count).

    ``on_done(i)`` is called (on the scheduler thread) when job ``i`` ends; ``min_join`` (default a
    quarter of ``max_batch``) as in :class:`BatchEngine`. Raises the first error a job met.
    """
    min_join = max(1, max_batch // 4) if min_join is None else min_join
    engine = BatchEngine(max_queue=max(1, 2 * max_batch), max_batch=max_batch, prefix_cache=prefix_cache,
                         min_join=min_join)
    last: list[dict[int, Delta]] = [{} for _ in jobs]
    text: list[dict[int, str]] = [{} for _ in jobs]
    errors: list[BaseException] = []
    remaining = threading.Semaphore(0)

    def callback(i: int) -> Callable[[Any], None]:
        def take(item: Any) -> None:
            if item is None or isinstance(item, BaseException):
                if isinstance(item, BaseException):
                    errors.append(item)
                if on_done is not None:
                    on_done(i)
                remaining.release()
                return
            for d in item:
                text[i][d.index] = text[i].get(d.index, "") + d.text
                last[i][d.index] = d
        return take

    try:
        engine.pause()  # the first batch joins together: one prefill pass, as in a static batch
        for i, job in enumerate(jobs):
            if i == max_batch:
                engine.resume()
            engine.put(job, callback(i))
        engine.resume()
        for _ in jobs:
            remaining.acquire()
    finally:
        engine.close(drain=False)
    if errors:
        raise errors[0]
    return [[Delta(index=k, text=text[i][k], finish_reason=d.finish_reason, completion_tokens=d.completion_tokens)
             for k, d in sorted(last[i].items())] for i in range(len(jobs))]
