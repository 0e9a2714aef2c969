"""The time this invocation has left, so that no wait outlives it.

Lambda stops a function at its Timeout, and API Gateway answers 503 once the route's integration timeout passes; both
are set in template.yaml. A handler calls `start(context)` first; every wait after that (provider attempts, SES
identity lookups, DNS, CAPTCHA checks, the Idempotency-Key in-progress wait) asks `left()` how long it may take.
"""

from __future__ import annotations

import time
from typing import Any

# Kept back from every wait: time to record the outcome and write the answer after the last wait ends.
RESERVE_SECONDS = 1.5
_UNBOUNDED = 900.0  # no context (a script, a unit test): Lambda's own maximum

_deadline: float | None = None
_context: Any = None


def start(context: Any) -> None:
    """Begin timing an invocation from its Lambda context (anything with get_remaining_time_in_millis)."""
    global _deadline, _context
    _context = context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    _deadline = time.monotonic() + (remaining() / 1000 if callable(remaining) else _UNBOUNDED)


def context() -> Any:
    """The current invocation's Lambda context (None outside an invocation)."""
    return _context


def left(cap: float | None = None) -> float:
    """Seconds a wait may still take (the reserve already deducted; never negative), at most `cap`."""
    remaining = (_deadline - time.monotonic()) if _deadline is not None else _UNBOUNDED
    bounded = max(0.0, remaining - RESERVE_SECONDS)
    return bounded if cap is None else min(cap, bounded)
