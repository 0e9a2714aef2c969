"""Suppressions table: one item per suppressed address (normalised to lower case), shared by every provider."""

from __future__ import annotations

from typing import Any

from mailrelay.dal.items import Table, conditional, from_item, scan_page


class SuppressionStore:
    def __init__(self, table_name: str):
        self.table_name = table_name
        self._table = Table(table_name)

    def get(self, address: str) -> dict[str, Any] | None:
        item = self._table.get({"address": address}, consistent=True)
        return from_item(item) if item else None

    def put_if_absent(self, item: dict[str, Any]) -> bool:
        """Add; False (and the first entry kept) when the address is suppressed already."""
        return conditional(lambda: self._table.put(item, "attribute_not_exists(#a)", names={"#a": "address"}))

    def delete(self, address: str) -> bool:
        return self._table.delete({"address": address}, return_old=True) is not None

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return scan_page(self._table, limit, cursor, {"address"})
