"""Channels table: one item per channel, keyed by descriptor."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from mailrelay import aws
from mailrelay.dal.items import decode_cursor, encode_cursor, from_item, to_item


class ChannelStore:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def get(self, descriptor: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"descriptor": descriptor}, ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def create(self, record: dict[str, Any]) -> bool:
        """Insert; False when the descriptor exists already (a concurrent create won)."""
        return self._put_if(record, Attr("descriptor").not_exists())

    def replace(self, record: dict[str, Any]) -> bool:
        """Overwrite an existing channel; False when it is gone (deleted concurrently)."""
        return self._put_if(record, Attr("descriptor").exists())

    def _put_if(self, record: dict[str, Any], condition) -> bool:
        try:
            self._table.put_item(Item=to_item(record), ConditionExpression=condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete(self, descriptor: str) -> bool:
        response = self._table.delete_item(Key={"descriptor": descriptor}, ReturnValues="ALL_OLD")
        return "Attributes" in response

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {"Limit": limit}
        start = decode_cursor(cursor, {"descriptor"})
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._table.scan(**kwargs)
        items = [from_item(i) for i in response.get("Items", [])]
        return items, encode_cursor(response.get("LastEvaluatedKey"))

    def all(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            response = self._table.scan(**kwargs)
            items.extend(from_item(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
