"""The reads a send needs, in one BatchGetItem across tables: the channel, the providers' circuit state and the
recipients' suppression entries (a send used to make a round trip for each)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mailrelay import aws, timebox
from mailrelay.dal.items import from_item, unwire

_BATCH = 100  # BatchGetItem's limit on keys per call
_ATTEMPTS = 5  # calls per batch while DynamoDB returns UnprocessedKeys


class LookupThrottled(Exception):
    """DynamoDB kept returning keys unprocessed: a 5xx for the caller (try again), never a silent partial read."""


@dataclass
class Found:
    channel: dict[str, Any] | None = None
    circuits: dict[str, dict[str, Any]] = field(default_factory=dict)  # rate-table key -> item
    suppressed: set[str] = field(default_factory=set)  # the asked addresses that are suppressed


@dataclass(frozen=True)
class Tables:
    channels: str
    rate: str
    suppressions: str


class Lookup:
    def __init__(self, tables: Tables, client: Any = None):
        self.tables = tables
        self._client = client  # None: this container's cached DynamoDB client

    def read(
        self, descriptor: str | None = None, circuit_keys: Iterable[str] = (), addresses: Iterable[str] = ()
    ) -> Found:
        """Channel and suppressions strongly consistent (revocation and suppression take effect at once); circuit
        state eventually consistent (it is advisory and cached for seconds anyway)."""
        t = self.tables
        keys: list[tuple[str, dict[str, Any]]] = []
        if descriptor is not None:
            keys.append((t.channels, {"descriptor": {"S": descriptor}}))
        keys += [(t.rate, {"key": {"S": k}}) for k in dict.fromkeys(circuit_keys)]
        keys += [(t.suppressions, {"address": {"S": a}}) for a in sorted(set(addresses))]
        found = Found()
        for start in range(0, len(keys), _BATCH):
            request: dict[str, Any] = {}
            for table, key in keys[start : start + _BATCH]:
                entry = request.setdefault(table, {"Keys": [], "ConsistentRead": table != t.rate})
                entry["Keys"].append(key)
            for attempt in range(_ATTEMPTS):
                response = (self._client or aws.client("dynamodb")).batch_get_item(RequestItems=request)
                for table, items in response.get("Responses", {}).items():
                    for raw in items:
                        self._file(found, table, raw)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                # Throttled keys come back unprocessed: back off with jitter (AWS's advice), within the time left.
                pause = random.uniform(0, min(1.0, 0.05 * 2**attempt))  # noqa: S311 (jitter, not security)
                if pause > timebox.left():
                    break
                time.sleep(pause)
            if request:
                raise LookupThrottled("DynamoDB left keys unprocessed after retries (throttled)")
        return found

    def _file(self, found: Found, table: str, raw: dict[str, Any]) -> None:
        if table == self.tables.channels:
            found.channel = from_item(unwire(raw))
        elif table == self.tables.rate:
            found.circuits[raw["key"]["S"]] = from_item(unwire(raw))
        else:
            found.suppressed.add(raw["address"]["S"])
