"""Single-use nonces for public forms: issued per form, rate limited per IP, used once, refused after expiry."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from mailrelay.config import settings
from mailrelay.dal.nonces import NonceStore
from mailrelay.dal.ratelimit import Busy, WindowCounter
from mailrelay.domain import formaccess
from mailrelay.domain.channels import now_iso
from mailrelay.errors import Forbidden, RateLimited, RelayError


def store() -> NonceStore:
    return NonceStore(settings().nonces_table)


def issue(form: str, headers: Mapping[str, str], source_ip: str) -> tuple[dict[str, str], dict[str, str]]:
    """A fresh nonce for `form`: ({"nonce", "expires_at"}, CORS headers)."""
    channel = formaccess.load_form(form)
    cors = formaccess.cors_headers(channel.form, headers.get("origin"))
    try:
        now = time.time()
        try:
            WindowCounter(settings().rate_table).hit(
                f"nonce-ip#{source_ip}", settings().nonces_per_ip_per_minute, 60.0, now
            )
        except Busy as busy:
            raise RateLimited("too many nonces requested from this address; wait a moment", busy.retry_after) from None
        nonce = secrets.token_urlsafe(24)  # 192 bits from the OS's CSPRNG
        expires = now + settings().nonce_ttl_seconds
        store().put(nonce, form, expires)
    except RelayError as error:
        error.headers.update(cors)
        raise
    return {"nonce": nonce, "expires_at": now_iso(expires)}, cors


def check_and_use(form: str, secret: str, nonce: str | None, presented_hash: str | None) -> None:
    """The hash must be sha256(nonce + secret) in lowercase hex, and the nonce unused and unexpired."""
    if not nonce or not presented_hash:
        raise Forbidden("this form needs a nonce and its hash", error="nonce_required")
    expected = hashlib.sha256((nonce + secret).encode()).hexdigest()
    if not hmac.compare_digest(expected.encode(), presented_hash.lower().encode()):
        raise Forbidden("the nonce hash is wrong", error="nonce_invalid")
    if not store().use(nonce, form, time.time()):
        raise Forbidden("the nonce is unknown, used or expired; fetch a new one", error="nonce_invalid")
