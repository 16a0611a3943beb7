"""The generation engine behind the API, and the seam for the serving-engine work.

The server only talks to an :class:`Engine`: ``submit`` a :class:`Job` and read its deltas as an
async stream, ``cancel`` it (the client went away), ``close`` when the server stops. Today's
:class:`LocalEngine` runs one job at a time on a worker thread with a bounded waiting queue (full:
:class:`EngineBusy`, answered 429), decoding with :class:`tailorlm.serve.decode.Decoder`. A
continuous-batching engine or a vLLM backend implements the same three methods.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol

from .decode import Constraint, Decoder, Delta, SamplingParams


class EngineBusy(Exception):
    """The waiting queue is full; retry after a moment."""


@dataclass
class Job:
    """One generation request: token ids of the prompt, how to sample, optional constraint."""

    loaded: Any  # a tailorlm.models.LoadedModel
    prompt: list[int]
    params: SamplingParams
    constraint: Constraint | None = None
    autocast: str | None = "off"  # eval.bf16_autocast: the same precision as evaluation
    steps: int = 0  # decoding steps done so far (a cancelled job stops counting early)
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


_END = object()


class LocalEngine:
    """One job at a time on a worker thread; up to ``max_queue`` jobs wait their turn."""

    def __init__(self, max_queue: int = 16):
        self._jobs: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._work, name="tailorlm-engine", daemon=True)
        self._closed = False
        self._thread.start()

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

    @staticmethod
    def _send(loop: asyncio.AbstractEventLoop, out: asyncio.Queue, item: Any) -> None:
        try:
            loop.call_soon_threadsafe(out.put_nowait, item)
        except RuntimeError:  # the event loop is gone (server stopped): nobody is listening
            pass

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, loop, out = item
            try:
                if not job.cancelled:
                    decoder = Decoder(job.loaded, job.autocast)
                    for deltas in decoder.run(job.prompt, job.params, job.cancel_event.is_set, job.constraint):
                        job.steps += 1
                        self._send(loop, out, deltas)
                self._send(loop, out, _END)
            except Exception as exc:  # handed to the request that asked; the worker keeps going
                self._send(loop, out, exc)
            finally:
                self._jobs.task_done()

    def close(self, drain: bool = True) -> None:
        self._closed = True
        if not drain:
            while True:
                try:
                    job, loop, out = self._jobs.get_nowait()
                except queue.Empty:
                    break
                job.cancel()
                self._send(loop, out, EngineBusy("the server is shutting down"))
                self._jobs.task_done()
        self._jobs.put(None)
        self._thread.join(timeout=60)
