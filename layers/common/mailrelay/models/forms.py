"""Public contact-form settings of a channel, and what a form submission may hold."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from mailrelay.models.common import Email, HeaderText, Seconds, Strict

ORIGIN_PATTERN = r"^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$"
CAPTCHA_FIELDS = {
    "turnstile": "cf-turnstile-response",
    "hcaptcha": "h-captcha-response",
    "recaptcha": "g-recaptcha-response",
}


class Captcha(Strict):
    provider: Literal["turnstile", "hcaptcha", "recaptcha"]
    secret: Annotated[str, Field(min_length=1, max_length=512)]


class FormSettings(Strict):
    allowed_origins: list[Annotated[str, Field(pattern=ORIGIN_PATTERN)]] = Field(
        default_factory=list,
        max_length=20,
        description="origins (scheme://host[:port]) whose pages may post; `*` for any. Requests without an Origin "
        "header (not from a browser) are not subject to it.",
    )
    allow_list: list[Email] | None = Field(
        default=None, max_length=50, description="addresses a submitter may pick as `to` (default: the recipients)"
    )
    require_nonce: bool = Field(default=False, strict=True, description="needs `secret`")
    secret: Annotated[str, Field(min_length=16, max_length=256)] | None = Field(
        default=None, description="shared with the page; hash = sha256(nonce + secret), lowercase hex"
    )
    per_ip_min_period: Seconds = Field(default=0.0, ge=0, le=86_400)
    # No white space or control character anywhere: it goes into a Location header as it is
    redirect_url: Annotated[str, Field(pattern=r"^https?://[^\s\x00-\x1f\x7f]+$", max_length=2048)] | None = None
    honeypot_field: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "_gotcha"
    captcha: Captcha | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _lowercase(cls, origins: list[str]) -> list[str]:
        return [o.lower() for o in origins]

    @model_validator(mode="after")
    def _secret_with_nonce(self) -> FormSettings:
        if self.require_nonce and not self.secret:
            raise ValueError("require_nonce needs a secret (shared with the page) to check the hash")
        return self


class FormSettingsView(BaseModel):
    """Form settings as the API shows them: the page secret and the CAPTCHA secret are never returned."""

    allowed_origins: list[str]
    allow_list: list[str] | None = None
    require_nonce: bool
    per_ip_min_period: float
    redirect_url: str | None = None
    honeypot_field: str
    captcha_provider: str | None = None


class FormSubmission(BaseModel):
    """The fields the relay understands; any other field is listed in the mail body."""

    model_config = {"extra": "allow"}

    email: Email = Field(description="the submitter's address: becomes Reply-To")
    name: Annotated[HeaderText, Field(max_length=256)] | None = None
    subject: Annotated[HeaderText, Field(max_length=998)] | None = None
    message: Annotated[str, Field(min_length=1, max_length=50_000)]
    to: Email | None = None
    nonce: Annotated[str, Field(max_length=256)] | None = None
    hash: Annotated[str, Field(max_length=128)] | None = None
    next: Annotated[str, Field(max_length=2048)] | None = Field(default=None, alias="_next")


class NonceResponse(BaseModel):
    nonce: str
    expires_at: str


class FormAccepted(BaseModel):
    ok: bool
    id: str
