"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) in tests/e2e/test_schema.py and `make fuzz`.

`format: email` is generated as RFC 5322 addresses outside the special-use domains of RFC 6761 (.test, .invalid,
.localhost, .local, .onion, .arpa): the API refuses those, as the spec's description of every address field says, so
a "valid" address in one of them is not valid for this API. Everything else is schemathesis' own generation.
"""

from __future__ import annotations

import schemathesis
from email_validator import SPECIAL_USE_DOMAIN_NAMES
from hypothesis import strategies as st


def _usable(address: str) -> bool:
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return len(address) <= 254 and not any(domain == n or domain.endswith(f".{n}") for n in SPECIAL_USE_DOMAIN_NAMES)


schemathesis.openapi.format("email", st.emails().filter(_usable))


CHANNEL_BODIES = {("PUT", "/v1/channels/{descriptor}"), ("PUT", "/api/channel")}


@schemathesis.hook
def filter_body(ctx, body) -> bool:
    """A channel's two rules across fields, which JSON Schema cannot state and the spec's descriptions do:
    recipients + cc + bcc hold at most 50 addresses, and `require_nonce` needs a `secret`."""
    operation = ctx.operation
    if operation is None or (operation.method.upper(), operation.path) not in CHANNEL_BODIES:
        return True
    if not isinstance(body, dict):
        return True
    lists = [body.get(name) for name in ("recipients", "cc", "bcc")]
    if sum(len(value) for value in lists if isinstance(value, list)) > 50:
        return False
    form = body.get("form")
    return not (isinstance(form, dict) and form.get("require_nonce") is True and not form.get("secret"))
