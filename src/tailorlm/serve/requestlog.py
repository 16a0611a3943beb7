"""The request log: one row per API request, PII-redacted by the data stage's scrubber, kept
``serve.request_log.retention_days`` days.

Rows are redacted and written on a background thread so a request never waits for Presidio or the
store. Each row holds the response id, the resolved model version, latency, token counts, finish
reason and the caller's key *name* (never the key). Prompts and answers are redacted with
:class:`tailorlm.privacy.pii.Scrubber` (the ``data.pii`` settings, or the defaults when that stage has
PII scrubbing off) unless ``serve.request_log.raw`` is on (an audited choice).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from . import tables

log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600.0


class RequestLog:
    """Background writer. ``add`` never blocks; ``flush`` waits until everything added is stored."""

    def __init__(self, ws: Any, pii_spec: Any, retention_days: int, raw: bool = False):
        self.ws, self.pii_spec, self.retention_days, self.raw = ws, pii_spec, retention_days, raw
        self._q: queue.Queue = queue.Queue()
        self._scrubber = None
        self._last_purge = 0.0
        self._thread = threading.Thread(target=self._work, name="tailorlm-request-log", daemon=True)
        self._thread.start()

    def purge(self) -> int:
        """Delete rows past the retention period now; returns how many."""
        self._last_purge = time.time()
        n = tables.purge_requests(self.ws, self.retention_days)
        if n:
            log.info("request log: deleted %d rows older than %d days", n, self.retention_days)
        return n

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row: ``request`` = {"messages"|"prompt": ...}, ``response`` = list of answer texts."""
        self._q.put(dict(row, ts=row.get("ts") or time.time()))

    def flush(self) -> None:
        self._q.join()

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=120)

    def _scrub(self, rows: list[dict[str, Any]]) -> None:
        if self.raw:
            return
        if self._scrubber is None:
            from ..privacy.pii import Scrubber

            self._scrubber = Scrubber.from_spec(self.pii_spec)
        records = [_texts(r) for r in rows]
        for r, (texts, _) in zip(rows, self._scrubber.scrub_records(records)):
            _put_texts(r, texts)
            r["redacted"] = True

    def _work(self) -> None:
        while True:
            try:
                first = self._q.get(timeout=60)
            except queue.Empty:
                first = False
            batch = [] if first is False else [first]
            while True:  # take what else is waiting: one Presidio batch, one transaction
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            rows = [r for r in batch if r]
            try:
                self._scrub(rows)
                tables.insert_requests(self.ws, rows)
                if time.time() - self._last_purge > PURGE_EVERY_S:
                    self.purge()
            except Exception:  # logging must never take the server down; say so loudly
                log.exception("request log: could not write %d rows", len(rows))
            finally:
                for _ in batch:
                    self._q.task_done()
            if stop:
                return


def _texts(row: dict[str, Any]) -> list[str]:
    req = row.get("request") or {}
    texts = [str(m.get("content") or "") for m in req.get("messages", [])]
    prompts = req.get("prompt")
    texts += [prompts] if isinstance(prompts, str) else [str(p) for p in prompts or []]
    texts += [str(t) for t in row.get("response") or []]
    return texts


def _put_texts(row: dict[str, Any], texts: list[str]) -> None:
    it = iter(texts)
    req = row.get("request") or {}
    for m in req.get("messages", []):
        m["content"] = next(it)
    if isinstance(req.get("prompt"), str):
        req["prompt"] = next(it)
    elif req.get("prompt"):
        req["prompt"] = [next(it) for _ in req["prompt"]]
    if row.get("response"):
        row["response"] = [next(it) for _ in row["response"]]
