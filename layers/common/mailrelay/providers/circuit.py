"""Circuit breaker: after repeated provider-side failures, skip that provider for a cool-down."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mailrelay.dal.circuit import CircuitStore
from mailrelay.observability import MetricUnit, logger, metrics


@dataclass(frozen=True)
class BreakerSettings:
    failure_threshold: int = 3
    window_seconds: float = 60.0
    cooldown_seconds: float = 60.0


class Breaker:
    def __init__(self, store: CircuitStore, settings: BreakerSettings, clock=time.time):
        self._store = store
        self._settings = settings
        self._clock = clock

    def open_until(self, provider: str) -> float | None:
        """When the provider's circuit closes again, or None when it is closed now."""
        until = self._store.open_until(provider)
        return until if until > self._clock() else None

    def failed(self, provider: str) -> None:
        now = self._clock()
        failures = self._store.count_failure(provider, now, self._settings.window_seconds)
        if failures < self._settings.failure_threshold:
            return
        if self._store.open(provider, now, now + self._settings.cooldown_seconds):
            metrics.add_metric(name="CircuitOpened", unit=MetricUnit.Count, value=1)
            logger.warning(
                "circuit opened",
                extra={"provider": provider, "failures": failures, "cooldown_s": self._settings.cooldown_seconds},
            )
