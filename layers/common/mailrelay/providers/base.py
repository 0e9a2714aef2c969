"""The provider interface and the error classification every provider reports in."""

from __future__ import annotations

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
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def destinations(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


class Failure(Enum):
    MESSAGE = "message"  # the message itself was refused: tell the caller, try no other provider
    PROVIDER = "provider"  # the provider is unavailable or misconfigured: the next provider may succeed
    UNKNOWN = "unknown"  # the request went out and no answer came back: it may or may not have been sent


class ProviderError(Exception):
    def __init__(self, failure: Failure, reason: str):
        super().__init__(reason)
        self.failure = failure
        self.reason = reason


class Provider(Protocol):
    name: str

    def send(self, message: Outgoing) -> str:
        """Hand the message over; return the provider's message id or raise ProviderError."""
        ...
