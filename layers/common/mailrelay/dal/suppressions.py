"""Suppressions table: one item per suppressed address (normalised to lower case), shared by every provider."""

from __future__ import annotations

from typing import Any

from mailrelay import aws
from mailrelay.dal.items import conditional, from_item, scan_page

_BATCH = 100  # BatchGetItem's limit


class SuppressionStore:
    def __init__(self, table_name: str):
        self._name = table_name
        self._table = aws.table(table_name)

    def get(self, address: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"address": address}, ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def put_if_absent(self, item: dict[str, Any]) -> bool:
        """Add; False (and the first entry kept) when the address is suppressed already."""
        return conditional(lambda: self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(address)"))

    def delete(self, address: str) -> bool:
        return "Attributes" in self._table.delete_item(Key={"address": address}, ReturnValues="ALL_OLD")

    def which(self, addresses: list[str]) -> set[str]:
        """The subset of `addresses` that is suppressed (one BatchGetItem per 100)."""
        found: set[str] = set()
        unique = sorted(set(addresses))
        client = self._table.meta.client  # the resource's client: takes and gives plain Python values
        for start in range(0, len(unique), _BATCH):
            request = {
                self._name: {
                    "Keys": [{"address": a} for a in unique[start : start + _BATCH]],
                    "ProjectionExpression": "address",
                    "ConsistentRead": True,
                }
            }
            while request:
                response = client.batch_get_item(RequestItems=request)
                found.update(i["address"] for i in response["Responses"].get(self._name, []))
                request = response.get("UnprocessedKeys") or None
        return found

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return scan_page(self._table, limit, cursor, {"address"})
