"""Minimum-period limiter on the rate table: one item per key holding the earliest time of the next slot.

Taking a slot is a single conditional write, so N concurrent requests inside one period give exactly one winner.
A slot can be given back (the request was rejected after all) without clobbering a later winner's slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from mailrelay import aws
from mailrelay.dal.items import conditional, timestamp

# Items outlive their period a little so a slow clock in one container cannot resurrect an old slot early.
_TTL_SLACK_SECONDS = 300


@dataclass(frozen=True)
class Slot:
    key: str
    next_at: Decimal
    previous_next_at: Decimal | None


class Busy(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class MinPeriodLimiter:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def take(self, key: str, period: float, now: float) -> Slot:
        """Take the slot for `key` or raise Busy with the whole seconds to wait."""
        next_at = timestamp(now + period)
        try:
            response = self._table.update_item(
                Key={"key": key},
                UpdateExpression="SET next_at = :next, expires_at = :exp",
                ConditionExpression=Attr("next_at").not_exists() | Attr("next_at").lte(timestamp(now)),
                ExpressionAttributeValues={":next": next_at, ":exp": math.ceil(now + period) + _TTL_SLACK_SECONDS},
                ReturnValues="UPDATED_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self._table.get_item(Key={"key": key}, ConsistentRead=True).get("Item", {})
            # A concurrent winner read the clock a moment after us, so its slot may end a hair past now + period.
            wait = min(float(current.get("next_at", 0)) - now, period)
            raise Busy(max(1, math.ceil(wait))) from None
        previous = response.get("Attributes", {}).get("next_at")
        return Slot(key=key, next_at=next_at, previous_next_at=previous)

    def give_back(self, slot: Slot) -> None:
        """Undo `take` unless somebody else has taken the key since (then their slot stands)."""
        if slot.previous_next_at is None:
            conditional(
                lambda: self._table.delete_item(
                    Key={"key": slot.key}, ConditionExpression=Attr("next_at").eq(slot.next_at)
                )
            )
        else:
            conditional(
                lambda: self._table.update_item(
                    Key={"key": slot.key},
                    UpdateExpression="SET next_at = :previous",
                    ConditionExpression=Attr("next_at").eq(slot.next_at),
                    ExpressionAttributeValues={":previous": slot.previous_next_at},
                )
            )


class WindowCounter:
    """At most `limit` hits per key in each fixed window of `window` seconds (one atomic ADD per hit)."""

    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def hit(self, key: str, limit: int, window: float, now: float) -> None:
        index = math.floor(now / window)
        window_end = (index + 1) * window
        response = self._table.update_item(
            Key={"key": f"{key}#{index}"},
            UpdateExpression="ADD hits :one SET expires_at = :exp",
            ExpressionAttributeValues={":one": 1, ":exp": math.ceil(window_end) + _TTL_SLACK_SECONDS},
            ReturnValues="UPDATED_NEW",
        )
        if int(response["Attributes"]["hits"]) > limit:
            raise Busy(max(1, math.ceil(window_end - now)))


def first_use(table_name: str, key: str, ttl_seconds: int, now: float) -> bool:
    """Remember `key` for `ttl_seconds`; True the first time only (a replay cache in one conditional write)."""
    return conditional(
        lambda: aws.table(table_name).put_item(
            Item={"key": key, "expires_at": math.ceil(now + ttl_seconds), "valid_until": timestamp(now + ttl_seconds)},
            ConditionExpression=Attr("key").not_exists() | Attr("valid_until").lt(timestamp(now)),
        )
    )
