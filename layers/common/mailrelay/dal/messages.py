"""Messages table: one status record per accepted message, expired by TTL after the retention period."""

from __future__ import annotations

from typing import Any

from mailrelay.dal.items import Table, conditional, from_item


class MessageStore:
    def __init__(self, table_name: str):
        self._table = Table(table_name)

    def put(self, record: dict[str, Any]) -> None:
        """Record a message once its outcome is known (ids are fresh UUIDs: nothing is overwritten)."""
        self._table.put(record, "attribute_not_exists(#id)", names={"#id": "id"})

    def get(self, message_id: str) -> dict[str, Any] | None:
        item = self._table.get({"id": message_id}, consistent=True)
        return from_item(item) if item else None

    def mark(self, message_id: str, status: str) -> bool:
        """Set a known message's status (bounced / complained); False when there is no such message."""
        return conditional(
            lambda: self._table.update(
                {"id": message_id},
                "SET #s = :s",
                {":s": status},
                {"#s": "status", "#id": "id"},
                condition="attribute_exists(#id)",
            )
        )
