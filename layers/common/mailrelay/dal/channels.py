"""Channels table: one item per channel, keyed by descriptor."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr

from mailrelay import aws
from mailrelay.dal.items import conditional, from_item, scan_page, to_item


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
        return conditional(lambda: self._table.put_item(Item=to_item(record), ConditionExpression=condition))

    def delete(self, descriptor: str) -> bool:
        response = self._table.delete_item(Key={"descriptor": descriptor}, ReturnValues="ALL_OLD")
        return "Attributes" in response

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return scan_page(self._table, limit, cursor, {"descriptor"})

    def all(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            response = self._table.scan(**kwargs)
            items.extend(from_item(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
