"""``GET /metrics``: the server's Prometheus metrics (the official ``prometheus_client`` library).

Each app has its own registry (several servers in one process, as in the tests, do not collide).

| metric | kind | labels |
| --- | --- | --- |
| ``tailorlm_queue_depth`` | gauge: requests waiting for a place in the batch | |
| ``tailorlm_running_requests`` | gauge: requests in the running batch | |
| ``tailorlm_time_to_first_token_seconds`` | histogram | ``version`` |
| ``tailorlm_request_latency_seconds`` | histogram: end to end | ``version`` |
| ``tailorlm_prompt_tokens_total``, ``tailorlm_completion_tokens_total`` | counters | ``version`` |
| ``tailorlm_batch_versions`` | histogram: distinct versions per decoding step | |
| ``tailorlm_batch_rows`` | histogram: rows per decoding step | |
| ``tailorlm_rejected_total`` | counter: 429s because the queue was full | |
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_SMALL = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64)


class Metrics:
    """The server's metrics; :meth:`observe_step` is the engine's step observer."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, engine: Any = None):
        r = self.registry = CollectorRegistry()
        self.queue_depth = Gauge("tailorlm_queue_depth", "Requests waiting for a place in the batch", registry=r)
        self.running = Gauge("tailorlm_running_requests", "Requests in the running batch", registry=r)
        self.ttft = Histogram("tailorlm_time_to_first_token_seconds", "Time to first token", ["version"],
                              buckets=_LATENCY, registry=r)
        self.latency = Histogram("tailorlm_request_latency_seconds", "End-to-end request latency", ["version"],
                                 buckets=_LATENCY, registry=r)
        self.prompt_tokens = Counter("tailorlm_prompt_tokens", "Prompt tokens", ["version"], registry=r)
        self.completion_tokens = Counter("tailorlm_completion_tokens", "Completion tokens", ["version"], registry=r)
        self.batch_versions = Histogram("tailorlm_batch_versions", "Distinct model versions per decoding step",
                                        buckets=_SMALL, registry=r)
        self.batch_rows = Histogram("tailorlm_batch_rows", "Rows per decoding step", buckets=_SMALL, registry=r)
        self.rejected = Counter("tailorlm_rejected", "Requests refused with 429 because the queue was full",
                                registry=r)
        if engine is not None:
            self.bind(engine)

    def bind(self, engine: Any) -> None:
        """Read the gauges from ``engine`` (``queue_depth`` / ``running`` attributes) at scrape time."""
        self.queue_depth.set_function(lambda: float(getattr(engine, "queue_depth", 0)))
        self.running.set_function(lambda: float(getattr(engine, "running", 0)))

    def observe_step(self, versions: list[str], rows: int) -> None:
        self.batch_versions.observe(len(set(versions)))
        self.batch_rows.observe(rows)

    def request_done(self, version: str, seconds: float, prompt_tokens: int, completion_tokens: int) -> None:
        self.latency.labels(version).observe(seconds)
        self.prompt_tokens.labels(version).inc(prompt_tokens)
        self.completion_tokens.labels(version).inc(completion_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)
