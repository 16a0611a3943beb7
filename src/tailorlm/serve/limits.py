"""Per-key limits: requests per minute and tokens per minute, over a moving one-minute window.

Built on the ``limits`` library (moving-window strategy, in-memory storage: the limits hold per
server process). A request's tokens are counted when it is admitted, as its prompt tokens plus its
``max_tokens`` budget for every choice (the same estimate OpenAI applies), so a burst cannot overshoot.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute, storage, strategies

from .errors import APIError
from .keys import Identity


class RateLimiter:
    def __init__(self):
        self._window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def _refuse(self, item, who: Identity, what: str, limit: int, kind: str) -> APIError:
        reset = self._window.get_window_stats(item, kind, who.name).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        return APIError(429, f"rate limit reached for key {who.name!r}: {limit} {what} per minute; retry in {wait} s",
                        code="rate_limit_exceeded", headers={"Retry-After": str(wait)})

    def request(self, who: Identity) -> None:
        """Count one request against the key's rpm; raises a 429 :class:`APIError` when over."""
        if who.rpm:
            item = RateLimitItemPerMinute(who.rpm)
            if not self._window.hit(item, "rpm", who.name):
                raise self._refuse(item, who, "requests", who.rpm, "rpm")

    def tokens(self, who: Identity, n: int) -> None:
        """Count ``n`` tokens against the key's tpm; raises a 429 :class:`APIError` when over."""
        if who.tpm:
            if n > who.tpm:
                raise APIError(429, f"request too large for key {who.name!r}: it needs {n} tokens (prompt + max_tokens x n) "
                               f"but the key allows {who.tpm} tokens per minute; lower max_tokens or n",
                               code="rate_limit_exceeded", headers={"Retry-After": "60"})
            item = RateLimitItemPerMinute(who.tpm)
            if not self._window.hit(item, "tpm", who.name, cost=n):
                raise self._refuse(item, who, "tokens", who.tpm, "tpm")
