"""Lazily built, cached boto3 clients and resources (nothing is created at import time: cold starts stay short).

The endpoint comes from boto3's own AWS_ENDPOINT_URL handling, which is how the local stack points every
function at the embedded moto server.
"""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config

# Explicit timeouts and a small, bounded retry budget for DynamoDB and Secrets Manager (milliseconds in practice):
# a stalled call gives up long before the function's Timeout, and that Timeout is below the integration timeout.
_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})


@cache
def client(service: str, config: Config | None = None):
    return boto3.session.Session().client(service, config=config or _CONFIG)


@cache
def table(name: str):
    return boto3.session.Session().resource("dynamodb", config=_CONFIG).Table(name)


def clear_caches() -> None:
    """Forget every client (tests switch between moto back-ends; the local stack never needs this)."""
    client.cache_clear()
    table.cache_clear()
