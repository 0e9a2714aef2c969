"""Circuit-breaker state on the rate table, shared by every Lambda container.

`circuit#<provider>` holds `open_until`; `failures#<provider>#<window>` counts provider-side failures in one
fixed window. Both expire through TTL.
"""

from __future__ import annotations

import math

from boto3.dynamodb.conditions import Attr

from mailrelay import aws
from mailrelay.dal.items import conditional, timestamp


class CircuitStore:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def open_until(self, provider: str) -> float:
        item = self._table.get_item(Key={"key": f"circuit#{provider}"}).get("Item")
        return float(item["open_until"]) if item and "open_until" in item else 0.0

    def count_failure(self, provider: str, now: float, window: float) -> int:
        index = math.floor(now / window)
        response = self._table.update_item(
            Key={"key": f"failures#{provider}#{index}"},
            UpdateExpression="ADD failures :one SET expires_at = :exp",
            ExpressionAttributeValues={":one": 1, ":exp": math.ceil((index + 2) * window)},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["failures"])

    def open(self, provider: str, now: float, until: float) -> bool:
        """Open the circuit; False when it is open already (another container opened it first)."""
        return conditional(
            lambda: self._table.update_item(
                Key={"key": f"circuit#{provider}"},
                UpdateExpression="SET open_until = :until, expires_at = :exp",
                ConditionExpression=Attr("open_until").not_exists() | Attr("open_until").lt(timestamp(now)),
                ExpressionAttributeValues={":until": timestamp(until), ":exp": math.ceil(until) + 3600},
            )
        )
