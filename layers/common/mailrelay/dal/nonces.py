"""Nonces table: single-use tokens for public forms. Using one is a single conditional delete."""

from __future__ import annotations

from mailrelay.dal.items import Table, conditional, timestamp


class NonceStore:
    def __init__(self, table_name: str):
        self._table = Table(table_name)

    def put(self, nonce: str, form: str, expires_at: float) -> None:
        self._table.put(
            {"nonce": nonce, "form": form, "expires_at": int(expires_at), "valid_until": timestamp(expires_at)},
            "attribute_not_exists(#n)",
            names={"#n": "nonce"},
        )

    def use(self, nonce: str, form: str, now: float) -> bool:
        """Consume the nonce: True once, for an unexpired nonce of this form; False for any other case.

        The expiry is checked here, because DynamoDB's TTL deletes expired items lazily (up to days later).
        """
        return conditional(
            lambda: self._table.delete(
                {"nonce": nonce},
                "attribute_exists(#n) AND #f = :form AND valid_until > :now",
                {":form": form, ":now": timestamp(now)},
                {"#n": "nonce", "#f": "form"},
            )
        )
