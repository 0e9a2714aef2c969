"""Messages table: one status record per accepted message, expired by TTL after the retention period."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr

from mailrelay import aws
from mailrelay.dal.items import conditional, from_item, to_item


class MessageStore:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def create(self, record: dict[str, Any]) -> None:
        self._table.put_item(Item=to_item(record), ConditionExpression=Attr("id").not_exists())

    def finish(self, message_id: str, fields: dict[str, Any]) -> None:
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": v for k, v in to_item(fields).items()}
        self._table.update_item(
            Key={"id": message_id},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get(self, message_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"id": message_id}, ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def mark(self, message_id: str, status: str) -> bool:
        """Set a known message's status (bounced / complained); False when there is no such message."""
        return conditional(
            lambda: self._table.update_item(
                Key={"id": message_id},
                UpdateExpression="SET #s = :s",
                ConditionExpression=Attr("id").exists(),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": status},
            )
        )
