"""Provider faults for the local stack (`PUT /_local/faults`): watch the failover happen without an outage."""

from __future__ import annotations

import threading
from typing import Any

# `sandbox` is no error of its own: SES then refuses only recipients that are not verified identities (as in the
# real SES sandbox) and GetAccount says ProductionAccessEnabled: false.
SES_FAULTS = ("down", "throttle", "quota", "paused", "reject", "sandbox")
MAILGUN_FAULTS = ("down", "throttle", "reject")

# What SES v2 answers in each case (REST-JSON errors: the type in a header, the text in the body).
SES_ERRORS = {
    "down": (503, "ServiceUnavailable", "Service is unavailable. Please try again later."),
    "throttle": (429, "TooManyRequestsException", "Maximum sending rate exceeded."),
    "quota": (400, "LimitExceededException", "Daily message quota exceeded."),
    "paused": (400, "SendingPausedException", "Sending is paused for this account."),
    "reject": (400, "MessageRejected", "Email address is not valid: Illegal address"),
}
_MAILGUN_ERRORS = {
    "down": (503, "Service Unavailable"),
    "throttle": (429, "Too many requests"),
    "reject": (400, "'to' parameter is not a valid address. please check documentation"),
}


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._state: dict[str, str | None] = {"ses": None, "mailgun": None}

    def get(self) -> dict[str, str | None]:
        with self._lock:
            return dict(self._state)

    def replace(self, body: Any) -> dict[str, str | None]:
        """Set both providers' faults (an absent key means no fault); ValueError on anything unknown."""
        if not isinstance(body, dict) or set(body) - {"ses", "mailgun"}:
            raise ValueError('body must be {"ses": null | fault, "mailgun": null | fault}')
        for provider, allowed in (("ses", SES_FAULTS), ("mailgun", MAILGUN_FAULTS)):
            if body.get(provider) is not None and body[provider] not in allowed:
                raise ValueError(f"{provider} fault must be null or one of {', '.join(allowed)}")
        with self._lock:
            self._state = {"ses": body.get("ses"), "mailgun": body.get("mailgun")}
            return dict(self._state)

    def mailgun_error(self) -> tuple[int, str] | None:
        fault = self.get()["mailgun"]
        return _MAILGUN_ERRORS[fault] if fault else None
