"""One DynamoDB table through the low-level client, and conversions between JSON-shaped dicts and items.

The low-level client, not boto3's resource layer: the resource loads its own model and wraps every call in a
transformation pass (measured: more cold start and more of our own time per call), and nothing here needs it. Items go
in and out as plain dicts; floats are stored as Decimal numbers and come back as int or float.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from mailrelay import aws
from mailrelay.errors import BadRequest

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


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


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(dict(item))


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimals(v) for v in value]
    return value


def wire(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values (floats anywhere become Decimal numbers) -> DynamoDB's typed wire format."""
    return {k: _SERIALIZER.serialize(_decimals(v)) for k, v in values.items()}


def unwire(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed wire format -> plain values (numbers as Decimal)."""
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


class Table:
    """The calls our stores make on one table, in plain values (conditions are expression strings)."""

    def __init__(self, name: str):
        self.name = name
        self.client = aws.client("dynamodb")

    def get(self, key: Mapping[str, Any], consistent: bool = False) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.name, Key=wire(key), ConsistentRead=consistent).get("Item")
        return unwire(item) if item else None

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.client.put_item(TableName=self.name, Item=wire(item), **_expression(condition, values, names))

    def update(
        self,
        key: Mapping[str, Any],
        expression: str,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        condition: str | None = None,
        returns: str = "NONE",
    ) -> dict[str, Any]:
        response = self.client.update_item(
            TableName=self.name,
            Key=wire(key),
            UpdateExpression=expression,
            ReturnValues=returns,
            **_expression(condition, values, names),
        )
        return unwire(response.get("Attributes", {}))

    def delete(
        self,
        key: Mapping[str, Any],
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        return_old: bool = False,
    ) -> dict[str, Any] | None:
        response = self.client.delete_item(
            TableName=self.name,
            Key=wire(key),
            ReturnValues="ALL_OLD" if return_old else "NONE",
            **_expression(condition, values, names),
        )
        return unwire(response["Attributes"]) if "Attributes" in response else None

    def scan(self, limit: int | None = None, start: Mapping[str, Any] | None = None) -> tuple[list[dict], dict | None]:
        kwargs: dict[str, Any] = {"TableName": self.name}
        if limit:
            kwargs["Limit"] = limit
        if start:
            kwargs["ExclusiveStartKey"] = wire(start)
        response = self.client.scan(**kwargs)
        last = response.get("LastEvaluatedKey")
        return [unwire(i) for i in response.get("Items", [])], unwire(last) if last else None


def _expression(
    condition: str | None, values: Mapping[str, Any] | None, names: Mapping[str, str] | None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if condition:
        kwargs["ConditionExpression"] = condition
    if values:
        kwargs["ExpressionAttributeValues"] = wire(values)
    if names:
        kwargs["ExpressionAttributeNames"] = dict(names)
    return kwargs


def scan_page(table: Table, limit: int, cursor: str | None, key_names: set[str]) -> tuple[list[dict], str | None]:
    """One page of a scan and the opaque cursor of the next (None at the end)."""
    items, last = table.scan(limit, decode_cursor(cursor, key_names))
    return [from_item(i) for i in items], encode_cursor(last)


def scan_all(table: Table) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    start = None
    while True:
        page, start = table.scan(start=start)
        items.extend(from_item(i) for i in page)
        if start is None:
            return items


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
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
