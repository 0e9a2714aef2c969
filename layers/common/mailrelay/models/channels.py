"""Channel models: what the admin sends, what the API returns (never a token hash)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

from mailrelay.models.common import DESCRIPTOR_PATTERN, AddressIn, Seconds, Strict, WholeNumber
from mailrelay.models.forms import FormSettings, FormSettingsView

DEFAULT_MAX_SIZE = 5_000_000
# A synchronous Lambda invocation carries at most 6 MB (request and response); leave room for the event envelope.
LAMBDA_MAX_SIZE = 5_500_000
MAX_DESTINATIONS = 50  # SES accepts at most 50 recipients (To + Cc + Bcc) per message
MAX_MIN_PERIOD = 86_400.0

Token = Annotated[
    str,
    Field(min_length=16, max_length=256, pattern=r"^[\x21-\x7e]+$", description="printable ASCII, no spaces"),
]


class ChannelSpec(Strict):
    sender: AddressIn = Field(description="verified sender; From of every message")
    recipients: list[AddressIn] = Field(
        min_length=1,
        max_length=MAX_DESTINATIONS,
        description=f"recipients, cc and bcc hold at most {MAX_DESTINATIONS} addresses together",
    )
    cc: list[AddressIn] = Field(default_factory=list, max_length=MAX_DESTINATIONS)
    bcc: list[AddressIn] = Field(default_factory=list, max_length=MAX_DESTINATIONS)
    # strict: JSON's true is not 1, 0 is not false and "5" is not 5 (pydantic's lax mode would take them)
    min_period: Seconds = Field(default=0.0, ge=0, le=MAX_MIN_PERIOD, description="seconds between accepted messages")
    max_size: WholeNumber = Field(
        default=DEFAULT_MAX_SIZE,
        ge=1,
        description="largest accepted request body, bytes",
        json_schema_extra={"maximum": LAMBDA_MAX_SIZE},  # documented here; _fits_lambda says why
    )
    domain: Annotated[str, Field(max_length=253, pattern=r"^[A-Za-z0-9.-]+$")] | None = None
    test_mode: bool = Field(default=False, strict=True, description="accept and record messages, send nothing")
    at_least_once: bool = Field(
        default=False,
        strict=True,
        description="when a provider times out after the message went out, try the next one anyway "
        "(may deliver twice; without it the answer is 502 with the attempt marked unknown)",
    )
    form: FormSettings | None = Field(default=None, description="makes the channel usable from public web forms")
    token: Token | None = Field(default=None, description="on create, generated when absent; on replace, kept")

    @field_validator("max_size")
    @classmethod
    def _fits_lambda(cls, value: int) -> int:
        if value > LAMBDA_MAX_SIZE:
            raise ValueError(
                f"max_size may be at most {LAMBDA_MAX_SIZE:,} bytes: a synchronous Lambda invocation carries "
                "at most 6 MB"
            )
        return value

    @model_validator(mode="after")
    def _destination_count(self) -> ChannelSpec:
        if len(self.recipients) + len(self.cc) + len(self.bcc) > MAX_DESTINATIONS:
            raise ValueError(f"recipients + cc + bcc may hold at most {MAX_DESTINATIONS} addresses")
        return self


class RelayeryChannelSpec(ChannelSpec):
    """mailgun-relayery's PUT /api/channel body: the descriptor travels in the body."""

    descriptor: Annotated[str, Field(pattern=DESCRIPTOR_PATTERN)]


class RotateTokenRequest(Strict):
    grace_seconds: WholeNumber = Field(default=0, ge=0, le=7 * 86_400, description="how long the old token stays valid")


class AddressOut(BaseModel):
    email: str
    name: str | None = None


class ChannelView(BaseModel):
    descriptor: str
    sender: AddressOut
    recipients: list[AddressOut]
    cc: list[AddressOut]
    bcc: list[AddressOut]
    min_period: float
    max_size: int
    domain: str | None = None
    test_mode: bool = False
    at_least_once: bool = False
    form: FormSettingsView | None = None
    created_at: str
    updated_at: str


class ChannelWithToken(ChannelView):
    token: str | None = Field(default=None, description="only present when this request set or generated it")
    warnings: list[str] | None = Field(
        default=None,
        description="what will stop this channel's mail at SES or at API Gateway (e.g. an unverified sender); "
        "the channel is saved all the same",
    )


class ChannelPage(BaseModel):
    channels: list[ChannelView]
    next_cursor: str | None


class RelayeryChannelPage(BaseModel):
    page: int
    page_count: int
    per_page: int
    channels: list[ChannelView]


class TokenResponse(BaseModel):
    token: str
    previous_token_valid_until: str | None = None
