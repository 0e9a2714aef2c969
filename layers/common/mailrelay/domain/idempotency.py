"""Idempotency-Key: the same key with the same body within 24 h gives the first response and sends nothing new.

Powertools idempotency (DynamoDB persistence) keeps the record; the key is scoped to the channel, and the body's hash
is the payload it validates (same key, other body -> 422). Only successful sends are stored: a refused or failed
request may be retried with the same key. A request that finds the key in progress waits for the first one's answer.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from functools import cache

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from mailrelay import timebox
from mailrelay.config import settings
from mailrelay.errors import BadRequest, RelayError

KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
TTL_SECONDS = 24 * 3600
WAIT_SECONDS = 25.0  # at most; never longer than the invocation has left

CONFIG = IdempotencyConfig(
    event_key_jmespath="[descriptor, key]",
    payload_validation_jmespath="body_sha256",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=TTL_SECONDS,
    hash_function="sha256",
)


class IdempotencyConflict(RelayError):
    status = 422
    code = "idempotency_key_reused"


class IdempotencyInProgress(RelayError):
    status = 409
    code = "idempotency_in_progress"


@cache
def _runner(table_name: str) -> Callable[..., dict]:
    persistence = DynamoDBPersistenceLayer(table_name=table_name)

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=CONFIG)
    def run(request: dict, work: Callable[[], dict]) -> dict:
        return work()

    return run


def once(descriptor: str, key: str, content_type: str, body: bytes, work: Callable[[], dict]) -> dict:
    if not KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1-255 printable ASCII characters", error="invalid_idempotency_key")
    digest = hashlib.sha256(content_type.encode() + b"\n" + body).hexdigest()
    request = {"descriptor": descriptor, "key": key, "body_sha256": digest}
    if timebox.context() is not None:  # an interrupted request's in-progress record expires with the invocation
        CONFIG.register_lambda_context(timebox.context())
    run = _runner(settings().idempotency_table)
    wait, give_up = 0.05, time.monotonic() + timebox.left(WAIT_SECONDS)
    while True:
        try:
            return run(request=request, work=work)
        except IdempotencyValidationError:
            raise IdempotencyConflict("this Idempotency-Key was used with a different body") from None
        except IdempotencyAlreadyInProgressError:
            if time.monotonic() > give_up:
                raise IdempotencyInProgress("a request with this Idempotency-Key is still in progress") from None
            time.sleep(wait)
            wait = min(wait * 2, 0.5)
