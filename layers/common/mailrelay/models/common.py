"""Field types shared by the request models: header-safe text and addresses checked with email-validator."""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

DESCRIPTOR_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
TIMESTAMP_DOC = "ISO 8601 timestamp, UTC"


# Every character str.splitlines() breaks a line at (mail software may too), and NUL.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00")


def _no_line_breaks(value: str) -> str:
    if not LINE_BREAKS.isdisjoint(value):
        raise ValueError("must not contain line breaks (CR, LF, VT, FF, U+2028, ...) or NUL characters")
    return value


def _email(value: str) -> str:
    _no_line_breaks(value)
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"invalid email address: {exc}") from exc


HeaderText = Annotated[str, AfterValidator(_no_line_breaks)]
Email = Annotated[str, Field(max_length=320, examples=["someone@example.com"]), AfterValidator(_email)]


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
