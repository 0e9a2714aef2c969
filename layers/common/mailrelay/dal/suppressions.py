"""Suppressions table: one item per suppressed address (normalised to lower case), shared by every provider."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mailrelay.dal.items import Table, from_item, scan_page, unwire, wire


class SuppressionStore:
    def __init__(self, table_name: str):
        self.table_name = table_name
        self._table = Table(table_name)

    def get(self, address: str) -> dict[str, Any] | None:
        item = self._table.get({"address": address}, consistent=True)
        return from_item(item) if item else None

    def put_if_absent(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """Add; None when added, else the entry already there (kept), as the refused write saw it: a second read
        could find it deleted in between."""
        try:
            self._table.client.put_item(
                TableName=self.table_name,
                Item=wire(item),
                ConditionExpression="attribute_not_exists(#a)",
                ExpressionAttributeNames={"#a": "address"},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return from_item(unwire(exc.response["Item"]))
        return None

    def delete(self, address: str) -> bool:
        return self._table.delete({"address": address}, return_old=True) is not None

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return scan_page(self._table, limit, cursor, {"address"})
