"""Nonces table: single-use tokens for public forms. Using one is a single conditional delete."""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr

from mailrelay import aws
from mailrelay.dal.items import conditional, timestamp


class NonceStore:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def put(self, nonce: str, form: str, expires_at: float) -> None:
        self._table.put_item(
            Item={
                "nonce": nonce,
                "form": form,
                "expires_at": int(expires_at),
                "valid_until": timestamp(expires_at),
            },
            ConditionExpression=Attr("nonce").not_exists(),
        )

    def use(self, nonce: str, form: str, now: float) -> bool:
        """Consume the nonce: True once, for an unexpired nonce of this form; False for any other case.

        The expiry is checked here, because DynamoDB's TTL deletes expired items lazily (up to days later).
        """
        return conditional(
            lambda: self._table.delete_item(
                Key={"nonce": nonce},
                ConditionExpression=Attr("nonce").exists()
                & Attr("form").eq(form)
                & Attr("valid_until").gt(timestamp(now)),
            )
        )
