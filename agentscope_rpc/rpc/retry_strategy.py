"""Retry strategies for idempotent operations (AgentScope v0 names).

Used for connecting to a server, fetching results and management reads —
never to run an agent call again (calls are executed at most once).  A
strategy is a description: `delays()` yields the wait before each retry.
"""
from __future__ import annotations

import random
from typing import Iterator


class RetryBase:
    """How often and how long to wait before retrying an idempotent operation."""

    def delays(self) -> Iterator[float]:
        """Seconds to wait before each retry; the operation fails once it is exhausted."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class RetryFixedTimes(RetryBase):
    """Retry up to `max_retries` times, `delay` seconds apart (with ±50% jitter)."""

    def __init__(self, max_retries: int = 10, delay: float = 5.0) -> None:
        if max_retries < 0 or delay < 0:
            raise ValueError("max_retries and delay must not be negative")
        self.max_retries = max_retries
        self.delay = delay

    def delays(self) -> Iterator[float]:
        for _ in range(self.max_retries):
            yield self.delay * (0.5 + random.random())


class RetryExponential(RetryBase):
    """Retry up to `max_retries` times, waiting `base_delay` doubled each time, at most `max_delay`."""

    def __init__(self, max_retries: int = 10, base_delay: float = 5.0, max_delay: float = 300.0) -> None:
        if max_retries < 0 or base_delay < 0 or max_delay < 0:
            raise ValueError("max_retries, base_delay and max_delay must not be negative")
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay

    def delays(self) -> Iterator[float]:
        delay = self.base_delay
        for _ in range(self.max_retries):
            yield min(delay * (0.5 + random.random()), self.max_delay)
            delay *= 2


# what idempotent operations use unless to_dist(retry_strategy=...) says otherwise:
# a server that is briefly unreachable (starting, restarting) is retried for a few seconds
DEFAULT = RetryExponential(max_retries=5, base_delay=0.05, max_delay=1.0)

__all__ = ["RetryBase", "RetryFixedTimes", "RetryExponential"]
