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
    if has_lone_surrogates(value):
        raise ValueError("must not contain lone surrogates (\\ud800-\\udfff): they are not text")
    return value


def has_lone_surrogates(text: str) -> bool:
    """JSON's \\ud800 escapes decode to lone surrogates: no UTF-8 text holds one, and no mail can carry it."""
    return not text.isascii() and any("\ud800" <= char <= "\udfff" for char in text)


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


# The spec states the rule as a pattern; the validator gives the clearer message.
LINE_BREAK_ESCAPES = "".join(f"\\u{ord(c):04x}" for c in sorted(LINE_BREAKS))  # for a regex character class
NO_LINE_BREAKS = f"^[^{LINE_BREAK_ESCAPES}]*$"
HeaderText = Annotated[str, AfterValidator(_no_line_breaks), Field(json_schema_extra={"pattern": NO_LINE_BREAKS})]
EMAIL_MAX = 254  # RFC 5321's path limit, which email-validator enforces
Email = Annotated[
    str,
    Field(
        max_length=EMAIL_MAX,
        examples=["someone@example.com"],
        description="an address in a special-use domain (RFC 6761: .test, .invalid, .localhost, .local, .onion, .arpa) "
        "or with non-ASCII characters before the @ is refused",
        json_schema_extra={"format": "email"},
    ),
    AfterValidator(_email),
]


def _whole_number(value: object) -> object:
    """JSON has one number type: 300.0 is the integer 300 (as JSON Schema says), 300.5 and true are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _microseconds(value: float) -> float:
    """Seconds as the tables keep them: DynamoDB refuses a number as small as 1e-200 (and nothing here is finer)."""
    return round(value, 6)


# Seconds: a JSON number (not a bool, not a string), kept to the microsecond
Seconds = Annotated[float, Field(strict=True), AfterValidator(_microseconds)]

# An integer field that takes no bool and no string (pydantic's lax mode would take true as 1 and "5" as 5).
WholeNumber = Annotated[int, BeforeValidator(_whole_number), Field(strict=True)]


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
