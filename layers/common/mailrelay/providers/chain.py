"""Try providers in order; stop at the first success or at a message-side rejection. Every attempt is reported."""

from __future__ import annotations

from collections.abc import Sequence

from mailrelay.models.messages import Attempt
from mailrelay.observability import logger
from mailrelay.providers.base import Failure, Outgoing, Provider, ProviderError

_OUTCOME = {Failure.MESSAGE: "rejected", Failure.PROVIDER: "failed", Failure.UNKNOWN: "unknown"}


class Delivered:
    def __init__(self, provider: str, attempts: list[Attempt]):
        self.provider = provider
        self.attempts = attempts


class Undelivered(Exception):
    def __init__(self, failure: Failure, attempts: list[Attempt]):
        super().__init__(failure.value)
        self.failure = failure
        self.attempts = attempts


def send(providers: Sequence[Provider], message: Outgoing) -> Delivered:
    attempts: list[Attempt] = []
    for provider in providers:
        try:
            provider_message_id = provider.send(message)
        except ProviderError as exc:
            logger.warning("provider failed", extra={"provider": provider.name, "failure": exc.failure.value})
            attempts.append(Attempt(provider=provider.name, outcome=_OUTCOME[exc.failure], error=exc.reason))
            if exc.failure is not Failure.PROVIDER:
                raise Undelivered(exc.failure, attempts) from exc
            continue
        attempts.append(Attempt(provider=provider.name, outcome="sent", provider_message_id=provider_message_id))
        return Delivered(provider.name, attempts)
    raise Undelivered(Failure.PROVIDER, attempts)
