"""Relay request and message-status models."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, field_serializer, model_validator

from mailrelay.models.common import LINE_BREAK_ESCAPES, Email, HeaderText, Strict

MAX_ATTACHMENTS = 20
TAG_PATTERN = r"^[A-Za-z0-9_-]{1,256}$"  # what SES accepts as a message tag name / value


def _decode_base64(value: str) -> str:
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("content must be standard base64") from exc
    return value


def _plain_filename(value: str) -> str:
    if "/" in value or "\\" in value:
        raise ValueError("filename must not contain a path")
    return value


# The validators' rules as the spec states them (whitespace inside base64 is allowed, as MIME wraps it)
FILENAME_PATTERN = f"^[^/\\\\{LINE_BREAK_ESCAPES}]+$"
_B64 = r"[A-Za-z0-9+/]\s*"
BASE64_PATTERN = rf"^\s*(?:(?:{_B64}){{4}})*(?:(?:{_B64}){{2}}=\s*=|(?:{_B64}){{3}}=)?\s*$"


class Attachment(Strict):
    filename: Annotated[
        HeaderText,
        Field(min_length=1, max_length=255, json_schema_extra={"pattern": FILENAME_PATTERN}),
        AfterValidator(_plain_filename),
    ]
    content_type: Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")] = (
        "application/octet-stream"
    )
    content: Annotated[
        str, AfterValidator(_decode_base64), Field(description="base64", json_schema_extra={"pattern": BASE64_PATTERN})
    ]

    def data(self) -> bytes:
        return base64.b64decode("".join(self.content.split()))


TagValue = Annotated[str, Field(pattern=TAG_PATTERN)]


class MessageRequest(Strict):
    # `_has_body` in the spec: text and/or html (text's aliases content and message are in its description)
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": [name], "properties": {name: {"type": "string"}}} for name in ("text", "html")]
        }
    )

    subject: Annotated[HeaderText, Field(min_length=1, max_length=998)]
    text: str | None = Field(
        default=None,
        validation_alias=AliasChoices("text", "content", "message"),
        description="plain-text body (aliases: content, message)",
    )
    html: str | None = None
    reply_to: Email | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    tags: dict[TagValue, TagValue] = Field(
        default_factory=dict,
        max_length=10,
        # pydantic states the key rule as patternProperties alone, which lets any other key through in JSON Schema
        json_schema_extra={"additionalProperties": False, "propertyNames": {"pattern": TAG_PATTERN}},
    )

    @model_validator(mode="after")
    def _has_body(self) -> MessageRequest:
        if self.text is None and self.html is None:
            raise ValueError("give text (or content / message) and/or html")
        return self


Outcome = Literal["sent", "failed", "rejected", "unknown", "skipped"]
Status = Literal["sent", "failed", "queued", "bounced", "complained"]


class Attempt(BaseModel):
    provider: str
    outcome: Outcome
    error: str | None = None
    provider_message_id: str | None = None


class MessageStatus(BaseModel):
    id: str
    status: Status
    provider_used: str | None
    providers: list[Attempt]
    created_at: str
    test_mode: bool = False
    suppressed: list[str] = Field(default_factory=list, description="recipients dropped: on the suppression list")

    @field_serializer("providers")
    def _compact(self, providers: list[Attempt]) -> list[dict]:
        return [p.model_dump(mode="json", exclude_none=True) for p in providers]
