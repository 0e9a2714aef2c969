"""Field types shared by the request models: header-safe text and addresses checked with email-validator."""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

DESCRIPTOR_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
TIMESTAMP_DOC = "ISO 8601 timestamp, UTC"


# Every character str.splitlines() breaks a line at (mail software may too), and NUL.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00")


def _no_line_breaks(value: str) -> str:
    if not LINE_BREAKS.isdisjoint(value):
        raise ValueError("must not contain line breaks (CR, LF, VT, FF, U+2028, ...) or NUL characters")
    return value


def sendable_email(value: str) -> ValidatedEmail:
    """An address mail can be sent to (EmailNotValidError otherwise): a domain may be international (it is sent in
    its IDNA form), the part before the @ may not, because that needs SMTPUTF8, which neither SES nor Mailgun's MIME
    API takes. The one rule for every address the API accepts, checks or suppresses."""
    return validate_email(value, check_deliverability=False, allow_smtputf8=False)


def _email(value: str) -> str:
    _no_line_breaks(value)
    try:
        return sendable_email(value).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"invalid email address: {exc}") from exc


HeaderText = Annotated[str, AfterValidator(_no_line_breaks)]
EMAIL_MAX = 254  # RFC 5321's path limit, which email-validator enforces
Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX, examples=["someone@example.com"], json_schema_extra={"format": "email"}),
    AfterValidator(_email),
]


class Strict(BaseModel):
    """Unknown fields are refused so that a typo (e.g. `to` instead of the channel's recipients) never passes."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Address(Strict):
    email: Email
    name: Annotated[HeaderText, Field(max_length=256)] | None = None


def _address_from_string(value: object) -> object:
    return {"email": value} if isinstance(value, str) else value


# An address may be given as "a@b.c" or {"email": "a@b.c", "name": "A"}; it is always returned as an object.
AddressIn = Annotated[Address, BeforeValidator(_address_from_string)]
