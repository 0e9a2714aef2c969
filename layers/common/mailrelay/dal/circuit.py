"""Circuit-breaker state on the rate table, shared by every Lambda container.

`circuit#<provider>` holds `open_until`; `failures#<provider>#<window>` counts provider-side failures in one
fixed window. Both expire through TTL.
"""

from __future__ import annotations

import math

from mailrelay.dal.items import Table, conditional, timestamp


def circuit_key(provider: str) -> dict[str, str]:
    return {"key": f"circuit#{provider}"}


def open_until_of(item: dict | None) -> float:
    return float(item["open_until"]) if item and "open_until" in item else 0.0


class CircuitStore:
    def __init__(self, table_name: str):
        self.table_name = table_name
        self._table = Table(table_name)

    def open_until(self, provider: str) -> float:
        return open_until_of(self._table.get(circuit_key(provider)))

    def count_failure(self, provider: str, now: float, window: float) -> int:
        index = math.floor(now / window)
        attributes = self._table.update(
            {"key": f"failures#{provider}#{index}"},
            "ADD failures :one SET expires_at = :exp",
            {":one": 1, ":exp": math.ceil((index + 2) * window)},
            returns="UPDATED_NEW",
        )
        return int(attributes["failures"])

    def open(self, provider: str, now: float, until: float) -> bool:
        """Open the circuit; False when it is open already (another container opened it first)."""
        return conditional(
            lambda: self._table.update(
                circuit_key(provider),
                "SET open_until = :until, expires_at = :exp",
                {":until": timestamp(until), ":exp": math.ceil(until) + 3600, ":now": timestamp(now)},
                condition="attribute_not_exists(open_until) OR open_until < :now",
            )
        )
