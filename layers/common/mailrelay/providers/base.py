"""The provider interface, the error classification every provider reports in, and the time budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    """A message ready to hand over: the MIME bytes (no Bcc header) and the envelope."""

    sender: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    raw: bytes
    message_id: str = ""
    domain: str | None = None  # the channel's sending domain (Mailgun), if it names one
    tags: dict[str, str] = field(default_factory=dict)
    suppressed: list[str] = field(default_factory=list)  # dropped from the envelope (reported, never sent to)

    @property
    def destinations(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


class Failure(Enum):
    MESSAGE = "message"  # the message itself was refused: tell the caller, try no other provider
    PROVIDER = "provider"  # the provider is unavailable or misconfigured: the next provider may succeed
    # The provider cannot send for this channel (SES: sender identity not verified, sandbox recipient, no sending
    # authorisation): the next provider may succeed, but the provider itself is healthy - its circuit stays closed.
    CHANNEL = "channel"
    UNKNOWN = "unknown"  # the request went out and no answer came back: it may or may not have been sent


class ProviderError(Exception):
    def __init__(self, failure: Failure, reason: str):
        super().__init__(reason)
        self.failure = failure
        self.reason = reason


class Deadline:
    """What is left of the time the providers may use for one request (API Gateway gives up at ~29 s)."""

    def __init__(self, seconds: float, clock=time.monotonic):
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())


class Provider(Protocol):
    name: str

    def configured(self) -> bool:
        """False when this deployment has not set the provider up (it is then skipped, not counted as failing)."""
        ...

    def send(self, message: Outgoing, deadline: Deadline) -> str:
        """Hand the message over; return the provider's message id or raise ProviderError."""
        ...
