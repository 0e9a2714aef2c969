"""Circuit breaker: after repeated provider-side failures, skip that provider for a cool-down.

The state lives on the rate table (shared by every container). A container remembers what it read for
`cache_seconds` (CIRCUIT_CACHE_SECONDS, 2 s), so a warm send reads it at most every couple of seconds, and then
inside the send's one BatchGetItem (`stale` names what to fetch, `learn` takes it in). The price: a circuit another
container opened is noticed here up to that long late, i.e. a few more tries of a provider that is failing anyway.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from mailrelay.dal.circuit import CircuitStore
from mailrelay.observability import MetricUnit, logger, metrics

_KNOWN: dict[tuple[str, str], tuple[float, float]] = {}  # (table, provider) -> (open_until, read at, monotonic)


@dataclass(frozen=True)
class BreakerSettings:
    failure_threshold: int = 3
    window_seconds: float = 60.0
    cooldown_seconds: float = 60.0
    cache_seconds: float = 2.0


class Breaker:
    def __init__(self, store: CircuitStore, settings: BreakerSettings, clock=time.time, monotonic=time.monotonic):
        self._store = store
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic

    def stale(self, providers: Iterable[str]) -> list[str]:
        """The providers whose state this container has not read in the last `cache_seconds`."""
        now, fresh = self._monotonic(), self._settings.cache_seconds
        return [p for p in providers if now - _KNOWN.get((self._store.table_name, p), (0.0, -1e9))[1] >= fresh]

    def learn(self, provider: str, open_until: float) -> None:
        _KNOWN[(self._store.table_name, provider)] = (open_until, self._monotonic())

    def open_until(self, provider: str) -> float | None:
        """When the provider's circuit closes again, or None when it is closed now. Uses what this send's lookup
        learnt (even if it turned stale meanwhile); reads the store only when nothing is known."""
        if (self._store.table_name, provider) not in _KNOWN:
            self.learn(provider, self._store.open_until(provider))
        until = _KNOWN[(self._store.table_name, provider)][0]
        return until if until > self._clock() else None

    def failed(self, provider: str) -> None:
        now = self._clock()
        failures = self._store.count_failure(provider, now, self._settings.window_seconds)
        if failures < self._settings.failure_threshold:
            return
        until = now + self._settings.cooldown_seconds
        self.learn(provider, until)  # whoever opened it, it is open until about then
        if self._store.open(provider, now, until):
            metrics.add_metric(name="CircuitOpened", unit=MetricUnit.Count, value=1)
            logger.warning(
                "circuit opened",
                extra={"provider": provider, "failures": failures, "cooldown_s": self._settings.cooldown_seconds},
            )


def forget() -> None:
    """Drop what this container remembers (tests, and the local stack when its faults change)."""
    _KNOWN.clear()
