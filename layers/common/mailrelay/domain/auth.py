"""Who is calling: the admin (keys in Secrets Manager) or a channel (descriptor + token)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from mailrelay.config import settings
from mailrelay.dal.ratelimit import Busy, WindowCounter
from mailrelay.domain import channels, tokens
from mailrelay.domain.channels import ChannelRecord
from mailrelay.errors import RateLimited, Unauthorized
from mailrelay.observability import MetricUnit, metrics
from mailrelay.secret import relay_secret

AUTH_FAILURE_FLOOR_S = 0.05  # a refused channel credential answers after this much, whatever it was (see below)
_DESCRIPTOR = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BAD_CHANNEL_CREDENTIALS = "invalid channel credentials"


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def admin_keys() -> list[str]:
    """Every valid admin key: the generated `admin_key` plus the `admin_keys` list (several during rotation)."""
    secret = relay_secret()
    keys = list(secret.get("admin_keys") or [])
    if secret.get("admin_key"):
        keys.append(secret["admin_key"])
    return [k for k in keys if isinstance(k, str) and len(k) >= 16]


def require_admin(headers: Mapping[str, str], source_ip: str | None = None) -> None:
    """Admin key from `Authorization: Bearer` or, when SigV4 occupies Authorization (IAM auth), `X-Admin-Key`.

    A wrong key is counted (metric AdminAuthFailed) and, per source address, braked: past
    `settings().admin_failures_per_minute` (template parameter AdminFailuresPerMinute) wrong keys in a minute, wrong
    keys get 429 with Retry-After (one atomic counter write per wrong key)."""
    presented = headers.get("x-admin-key") or _bearer(headers)
    if not presented:
        raise Unauthorized("admin key required (Authorization: Bearer <key> or X-Admin-Key)")
    digest = hashlib.sha256(presented.encode()).digest()
    valid = False
    for key in admin_keys():  # no early exit: the time taken does not say which key (if any) came close
        valid |= hmac.compare_digest(digest, hashlib.sha256(key.encode()).digest())
    if valid:
        return
    metrics.add_metric(name="AdminAuthFailed", unit=MetricUnit.Count, value=1)
    if source_ip:
        try:
            WindowCounter(settings().rate_table).hit(
                f"admin-fail#{source_ip}", settings().admin_failures_per_minute, 60, time.time()
            )
        except Busy as busy:
            raise RateLimited("too many wrong admin keys from this address", busy.retry_after) from None
    raise Unauthorized("admin key not valid")


def _channel_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    if headers.get("x-descriptor") and headers.get("x-token"):
        return headers["x-descriptor"], headers["x-token"]
    bearer = _bearer(headers)
    if bearer and ":" in bearer:
        descriptor, _, token = bearer.partition(":")
        return descriptor, token
    return None


_PROOF_KEY = secrets.token_bytes(32)  # this container's: its digests mean nothing anywhere else


def credential_proof(headers: Mapping[str, str]) -> str | None:
    """A digest only these exact channel credentials give, in this container (None: no credentials): what the
    container keeps a channel's learnt addresses under, so that only the right token makes the first read larger."""
    credentials = _channel_credentials(headers)
    if credentials is None:
        return None
    return hmac.new(_PROOF_KEY, "\0".join(credentials).encode(), hashlib.sha256).hexdigest()


def authenticate_channel(
    headers: Mapping[str, str], read: Callable[[str], dict[str, Any] | None] | None = None
) -> ChannelRecord:
    """The channel these credentials open (its item read by `read`, by default a plain GetItem). Unknown descriptor
    and wrong token are the same 401."""
    credentials = _channel_credentials(headers)
    if credentials is None:
        raise Unauthorized("channel credentials required (X-Descriptor + X-Token, or Authorization: Bearer d:t)")
    started = time.monotonic()
    descriptor, token = credentials
    item = (read or channels.store().get)(descriptor) if _DESCRIPTOR.match(descriptor) else None
    record = channels.record_of(item) if item else None
    if record is None:
        tokens.matches(token, tokens.DECOY)  # same work as a real check
        _refuse_at_the_floor(started)
    if not record.accepts(token, time.time()):
        _refuse_at_the_floor(started)
    return record


def _refuse_at_the_floor(started: float) -> NoReturn:
    """401, never sooner than AUTH_FAILURE_FLOOR_S after the credentials were first looked at. The two refusals do
    the same work, but a known channel's item still comes back in the read (the store's and botocore's time to
    return and parse it, ~2 ms on the local stack): the floor hides that, and any other difference, under one
    constant; only failed attempts pay it."""
    time.sleep(max(0.0, started + AUTH_FAILURE_FLOOR_S - time.monotonic()))
    raise Unauthorized(_BAD_CHANNEL_CREDENTIALS)


def require_channel_or_admin(headers: Mapping[str, str], source_ip: str | None = None) -> None:
    """Channel credentials when the request carries any (a partial or wrong one is a 401, whatever else the request
    carries), else the admin key."""
    bearer = _bearer(headers) or ""
    if "x-descriptor" in headers or "x-token" in headers or ":" in bearer:  # present, even empty
        authenticate_channel(headers)
    else:
        require_admin(headers, source_ip)
