"""Form bodies: JSON, application/x-www-form-urlencoded and multipart/form-data (parsed with Python's `email`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from functools import cache
from urllib.parse import parse_qsl

from mailrelay.errors import BadRequest, InvalidBody, UnsupportedMediaType
from mailrelay.limits import media_type
from mailrelay.models.common import has_lone_surrogates

MAX_FIELDS = 200


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str
    content_type: str
    data: bytes


def _merge(pairs: list[tuple[str, str]]) -> dict[str, str]:
    if len(pairs) > MAX_FIELDS:
        raise InvalidBody(f"at most {MAX_FIELDS} fields", error="too_many_fields")
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")  # json.loads takes NaN and Infinity; JSON (RFC 8259) does not


@cache
def _text_fields() -> frozenset[str]:
    """The fields the relay reads (FormSubmission's): a JSON post gives them as strings, as a form would; any other
    field may also be a number or a boolean, written into the mail as JSON writes it."""
    from mailrelay.models.forms import FormSubmission

    return frozenset(field.alias or name for name, field in FormSubmission.model_fields.items())


def _json(body: bytes) -> dict[str, str]:
    try:
        data = json.loads(body or b"null", parse_constant=_not_json)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise BadRequest("request body is not valid JSON", error="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidBody("the body must be a JSON object of fields")
    pairs = []
    text_only = _text_fields()
    for name, value in data.items():
        if isinstance(value, dict | list):
            raise InvalidBody(f"{name}: a form field must be a string, number or boolean")
        if name in text_only and not isinstance(value, str | None):
            raise InvalidBody(f"{name}: must be a string")
        if has_lone_surrogates(name) or (isinstance(value, str) and has_lone_surrogates(value)):
            raise InvalidBody(f"{name!r}: a lone surrogate (\\ud800-\\udfff) is not text", error="invalid_encoding")
        if value is not None:
            pairs.append((name, value if isinstance(value, str) else json.dumps(value)))
    return _merge(pairs)


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], list[Upload]]:
    try:
        return _multipart_parts(content_type, body)
    except (UnicodeError, RecursionError):  # e.g. a name*= that decodes to a lone surrogate: not a form a browser sends
        raise BadRequest("the multipart body cannot be read as a form", error="invalid_multipart") from None


def _multipart_parts(content_type: str, body: bytes) -> tuple[dict[str, str], list[Upload]]:
    message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise BadRequest("not a multipart/form-data body", error="invalid_multipart")
    pairs, uploads = [], []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            if data:
                uploads.append(Upload(str(name), filename, part.get_content_type(), data))
            continue
        try:
            pairs.append((str(name), data.decode(part.get_content_charset() or "utf-8")))
        except (LookupError, UnicodeDecodeError):
            raise BadRequest(f"{name}: not UTF-8 text", error="invalid_encoding") from None
    return _merge(pairs), uploads


def parse(content_type: str | None, body: bytes) -> tuple[dict[str, str], list[Upload]]:
    kind = media_type(content_type)
    if kind == "application/json" or kind.endswith("+json"):
        return _json(body), []
    if kind == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the form body is not UTF-8", error="invalid_encoding") from None
        try:
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS + 1)
        except ValueError:  # parse_qsl's answer to more fields than max_num_fields
            raise InvalidBody(f"at most {MAX_FIELDS} fields", error="too_many_fields") from None
        return _merge(pairs), []
    if kind == "multipart/form-data":
        return _multipart(content_type or "", body)
    raise UnsupportedMediaType(
        "send application/json, application/x-www-form-urlencoded or multipart/form-data",
        error="unsupported_media_type",
    )
