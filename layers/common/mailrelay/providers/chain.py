"""Try providers in order; stop at the first success or at a message-side rejection. Every attempt is reported.

- provider-side failure -> next provider (and the failure counts toward that provider's circuit breaker);
- channel-side failure (e.g. SES: this sender is not verified) -> next provider, the circuit is not touched;
- message-side rejection -> stop: the caller must change the message, another provider would refuse it too;
- unknown outcome (read timeout after sending) -> stop, unless the channel accepts duplicates (`at_least_once`);
- a provider whose circuit is open is skipped, unless it is the last one left and nothing was tried yet;
- a provider this deployment has not configured (Mailgun without a key) is listed as skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from mailrelay.models.messages import Attempt
from mailrelay.observability import MetricUnit, logger, metrics, without_addresses
from mailrelay.providers.base import Deadline, Failure, Outgoing, Provider, ProviderError
from mailrelay.providers.circuit import Breaker

_OUTCOME = {
    Failure.MESSAGE: "rejected",
    Failure.PROVIDER: "failed",
    Failure.CHANNEL: "failed",
    Failure.UNKNOWN: "unknown",
}


class Delivered:
    def __init__(self, provider: str, attempts: list[Attempt]):
        self.provider = provider
        self.attempts = attempts


class Undelivered(Exception):
    def __init__(self, failure: Failure, attempts: list[Attempt]):
        super().__init__(failure.value)
        self.failure = failure
        self.attempts = attempts


def send(
    providers: Sequence[Provider],
    message: Outgoing,
    deadline: Deadline,
    breaker: Breaker | None = None,
    at_least_once: bool = False,
) -> Delivered:
    attempts: list[Attempt] = []
    usable = [p for p in providers if p.configured()]
    for provider in providers:
        if provider not in usable:
            attempts.append(Attempt(provider=provider.name, outcome="skipped", error="not configured"))
            continue
        last = provider is usable[-1]
        open_until = breaker.open_until(provider.name) if breaker else None
        tried = any(a.outcome != "skipped" for a in attempts)
        if open_until is not None and not (last and not tried):
            until = datetime.fromtimestamp(open_until, UTC).isoformat(timespec="seconds")
            attempts.append(Attempt(provider=provider.name, outcome="skipped", error=f"circuit open until {until}"))
            metrics.add_metric(name="ProviderFailover", unit=MetricUnit.Count, value=1)
            continue
        try:
            provider_message_id = provider.send(message, deadline)
        except ProviderError as exc:
            logger.warning(
                "provider failed",
                extra={
                    "provider": provider.name,
                    "failure": exc.failure.value,
                    "reason": without_addresses(exc.reason),
                },
            )
            attempts.append(Attempt(provider=provider.name, outcome=_OUTCOME[exc.failure], error=exc.reason))
            if exc.failure is Failure.MESSAGE:
                raise Undelivered(exc.failure, attempts) from exc
            if breaker and exc.failure is not Failure.CHANNEL:  # one channel's set-up says nothing of SES's health
                breaker.failed(provider.name)
            if exc.failure is Failure.UNKNOWN and not at_least_once:
                raise Undelivered(exc.failure, attempts) from exc
            if not last:
                metrics.add_metric(name="ProviderFailover", unit=MetricUnit.Count, value=1)
            continue
        attempts.append(Attempt(provider=provider.name, outcome="sent", provider_message_id=provider_message_id))
        return Delivered(provider.name, attempts)
    # After an unknown outcome the message may be out there, even if a later provider failed for sure.
    maybe_sent = any(a.outcome == "unknown" for a in attempts)
    raise Undelivered(Failure.UNKNOWN if maybe_sent else Failure.PROVIDER, attempts)
