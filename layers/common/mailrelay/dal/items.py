"""Conversions between JSON-shaped dicts and DynamoDB items (which want Decimal, not float)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from mailrelay.errors import BadRequest


def conditional(write: Callable[[], object]) -> bool:
    """Run one conditional write: True when it happened, False when its ConditionExpression did not hold."""
    try:
        write()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def timestamp(seconds: float) -> Decimal:
    """An epoch time as DynamoDB stores ours: a Decimal with microseconds."""
    return Decimal(f"{seconds:.6f}")


def scan_page(table, limit: int, cursor: str | None, key_names: set[str]) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a scan and the opaque cursor of the next (None at the end)."""
    kwargs: dict[str, Any] = {"Limit": limit}
    start = decode_cursor(cursor, key_names)
    if start:
        kwargs["ExclusiveStartKey"] = start
    response = table.scan(**kwargs)
    return [from_item(i) for i in response.get("Items", [])], encode_cursor(response.get("LastEvaluatedKey"))


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data), parse_float=Decimal)


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(item)


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(from_item(last_key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_names: set[str]) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("cursor is not one this API returned", error="invalid_cursor") from exc
    if not isinstance(key, dict) or set(key) != key_names or not all(isinstance(v, str) for v in key.values()):
        raise BadRequest("cursor is not one this API returned", error="invalid_cursor")
    return key
