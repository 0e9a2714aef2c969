"""Minimum-period limiter on the rate table: one item per key holding the earliest time of the next slot.

Taking a slot is a single conditional write, so N concurrent requests inside one period give exactly one winner.
A slot can be given back (the request was rejected after all) without clobbering a later winner's slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from botocore.exceptions import ClientError

from mailrelay.dal.items import Table, conditional, timestamp

# Items outlive their period a little so a slow clock in one container cannot resurrect an old slot early.
_TTL_SLACK_SECONDS = 300
_KEY = {"#k": "key"}  # KEY is a DynamoDB reserved word


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
        self._table = Table(table_name)

    def take(self, key: str, period: float, now: float) -> Slot:
        """Take the slot for `key` or raise Busy with the whole seconds to wait.

        A refusal costs no second read: the failed condition returns the item it was checked against.
        """
        next_at = timestamp(now + period)
        try:
            response = self._table.client.update_item(
                TableName=self._table.name,
                Key={"key": {"S": key}},
                UpdateExpression="SET next_at = :next, expires_at = :exp",
                ConditionExpression="attribute_not_exists(next_at) OR next_at <= :now",
                ExpressionAttributeValues={
                    ":next": {"N": str(next_at)},
                    ":exp": {"N": str(math.ceil(now + period) + _TTL_SLACK_SECONDS)},
                    ":now": {"N": str(timestamp(now))},
                },
                ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            held = (exc.response.get("Item") or {}).get("next_at", {}).get("N")
            # A concurrent winner read the clock a moment after us, so its slot may end a hair past now + period.
            wait = min(float(held) - now, period) if held else period
            raise Busy(max(1, math.ceil(wait))) from None
        previous = response.get("Attributes", {}).get("next_at")
        return Slot(key=key, next_at=next_at, previous_next_at=Decimal(previous["N"]) if previous else None)

    def give_back(self, slot: Slot) -> None:
        """Undo `take` unless somebody else has taken the key since (then their slot stands)."""
        if slot.previous_next_at is None:
            conditional(lambda: self._table.delete({"key": slot.key}, "next_at = :mine", {":mine": slot.next_at}))
        else:
            conditional(
                lambda: self._table.update(
                    {"key": slot.key},
                    "SET next_at = :previous",
                    {":previous": slot.previous_next_at, ":mine": slot.next_at},
                    condition="next_at = :mine",
                )
            )


class WindowCounter:
    """At most `limit` hits per key in each fixed window of `window` seconds (one atomic ADD per hit)."""

    def __init__(self, table_name: str):
        self._table = Table(table_name)

    def hit(self, key: str, limit: int, window: float, now: float) -> None:
        index = math.floor(now / window)
        window_end = (index + 1) * window
        attributes = self._table.update(
            {"key": f"{key}#{index}"},
            "ADD hits :one SET expires_at = :exp",
            {":one": 1, ":exp": math.ceil(window_end) + _TTL_SLACK_SECONDS},
            returns="UPDATED_NEW",
        )
        if int(attributes["hits"]) > limit:
            raise Busy(max(1, math.ceil(window_end - now)))


def first_use(table_name: str, key: str, ttl_seconds: int, now: float) -> bool:
    """Remember `key` for `ttl_seconds`; True the first time only (a replay cache in one conditional write)."""
    return conditional(
        lambda: Table(table_name).put(
            {"key": key, "expires_at": math.ceil(now + ttl_seconds), "valid_until": timestamp(now + ttl_seconds)},
            "attribute_not_exists(#k) OR valid_until < :now",
            {":now": timestamp(now)},
            _KEY,
        )
    )
