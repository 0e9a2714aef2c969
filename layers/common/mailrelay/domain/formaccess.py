"""Which form a public request addresses, and whether its page's Origin may use it (CORS)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from mailrelay.domain import channels
from mailrelay.domain.channels import ChannelRecord
from mailrelay.errors import Forbidden, NotFound
from mailrelay.models.forms import FormSettings

_DESCRIPTOR = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PREFLIGHT_MAX_AGE = "600"


class FormChannel(ChannelRecord):
    form: FormSettings


def load_form(descriptor: str, read: Callable[[str], dict[str, Any] | None] | None = None) -> FormChannel:
    """The form's channel (its item read by `read`, by default a plain GetItem); 404 when it is not a form."""
    item = (read or channels.store().get)(descriptor) if _DESCRIPTOR.match(descriptor or "") else None
    if item is None or item.get("form") is None:
        raise NotFound("no such form", error="unknown_form")
    return FormChannel.model_validate(item)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL; None for anything else, a malformed URL included."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "https://[x": an unclosed IPv6 bracket
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def cors_headers(form: FormSettings, origin: str | None) -> dict[str, str]:
    """CORS response headers for an allowed Origin; 403 for a disallowed one. No Origin: not a CORS request."""
    if origin is None:
        return {}
    # A cross-origin script sees only CORS-safelisted response headers unless told: the snippet reads Retry-After.
    exposed = {"Access-Control-Expose-Headers": "Retry-After"}
    if "*" in form.allowed_origins:
        return {"Access-Control-Allow-Origin": "*", **exposed}
    if origin.lower().rstrip("/") in form.allowed_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", **exposed}
    raise Forbidden("this page's origin may not use this form", error="origin_not_allowed")


def preflight(descriptor: str, origin: str | None, requested_headers: str | None) -> dict[str, str]:
    form = load_form(descriptor).form
    headers = cors_headers(form, origin)
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": requested_headers or "Content-Type, Accept",
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        }
    )
    return headers


def _headerable(url: str) -> bool:
    return not any(c.isspace() or not c.isprintable() for c in url)


def where_next(next_url: str | None, form: FormSettings) -> str | None:
    """Where a plain form post is sent on: a safe `_next`, else the form's redirect_url when it is safe too (one
    stored before redirect_url was checked could hold a line break), else nowhere (a 200)."""
    stored = form.redirect_url if form.redirect_url and _headerable(form.redirect_url) else None
    return safe_next(next_url, form) or stored


def safe_next(next_url: str | None, form: FormSettings) -> str | None:
    """`_next` only to an allowed origin (or the redirect_url's), so the form is no open redirect; never a URL holding
    whitespace or control characters (it goes into a Location header as it is)."""
    if next_url and not _headerable(next_url):
        return None
    origin = origin_of(next_url) if next_url else None
    if origin is None:
        return None
    allowed = set(form.allowed_origins)
    if form.redirect_url:
        allowed.add(origin_of(form.redirect_url) or "")
    return next_url if "*" in allowed or origin in allowed else None
