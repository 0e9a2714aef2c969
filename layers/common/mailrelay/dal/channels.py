"""Channels table: one item per channel, keyed by descriptor."""

from __future__ import annotations

from typing import Any

from mailrelay.dal.items import Table, conditional, from_item, scan_all, scan_page

_NAME = {"#d": "descriptor"}  # DESCRIPTOR is a DynamoDB reserved word


class ChannelStore:
    def __init__(self, table_name: str):
        self._table = Table(table_name)

    def get(self, descriptor: str) -> dict[str, Any] | None:
        item = self._table.get({"descriptor": descriptor}, consistent=True)
        return from_item(item) if item else None

    def create(self, record: dict[str, Any]) -> bool:
        """Insert; False when the descriptor exists already (a concurrent create won)."""
        return conditional(lambda: self._table.put(record, "attribute_not_exists(#d)", names=_NAME))

    def replace(self, record: dict[str, Any]) -> bool:
        """Overwrite an existing channel; False when it is gone (deleted concurrently)."""
        return conditional(lambda: self._table.put(record, "attribute_exists(#d)", names=_NAME))

    def delete(self, descriptor: str) -> bool:
        return self._table.delete({"descriptor": descriptor}, return_old=True) is not None

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return scan_page(self._table, limit, cursor, {"descriptor"})

    def all(self) -> list[dict[str, Any]]:
        return scan_all(self._table)
