"""Nonces table: single-use tokens for public forms. Using one is a single conditional delete."""

from __future__ import annotations

from decimal import Decimal

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from mailrelay import aws


class NonceStore:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def put(self, nonce: str, form: str, expires_at: float) -> None:
        self._table.put_item(
            Item={
                "nonce": nonce,
                "form": form,
                "expires_at": int(expires_at),
                "valid_until": Decimal(f"{expires_at:.6f}"),
            },
            ConditionExpression=Attr("nonce").not_exists(),
        )

    def use(self, nonce: str, form: str, now: float) -> bool:
        """Consume the nonce: True once, for an unexpired nonce of this form; False for any other case.

        The expiry is checked here, because DynamoDB's TTL deletes expired items lazily (up to days later).
        """
        try:
            self._table.delete_item(
                Key={"nonce": nonce},
                ConditionExpression=Attr("nonce").exists()
                & Attr("form").eq(form)
                & Attr("valid_until").gt(Decimal(f"{now:.6f}")),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
