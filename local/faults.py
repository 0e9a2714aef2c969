"""Provider faults for the local stack (`PUT /_local/faults`): watch the failover happen without an outage."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

SES_FAULTS = ("down", "throttle", "quota", "paused", "reject")
MAILGUN_FAULTS = ("down", "throttle", "reject")

# What SES v2 answers in each case (REST-JSON errors: the type in a header, the text in the body).
_SES_ERRORS = {
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


class SesFaults:
    """WSGI middleware in front of moto: SES v2 SendEmail answers with the configured fault, and `on_sent` hears of
    every SendEmail request moto accepted (the local stack turns bounce@ / complaint@ recipients into events)."""

    def __init__(self, app, faults: Faults, on_sent=None):
        self.app = app
        self.faults = faults
        self.on_sent = on_sent

    def __call__(self, environ, start_response):
        is_send = environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == "/v2/email/outbound-emails"
        fault = self.faults.get()["ses"]
        if is_send and not fault and self.on_sent is not None:
            return self._observed(environ, start_response)
        if is_send and fault:
            status, code, message = _SES_ERRORS[fault]
            body = json.dumps({"__type": code, "message": message}).encode()
            start_response(
                f"{status} {code}",
                [("Content-Type", "application/json"), ("x-amzn-ErrorType", code), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self.app(environ, start_response)

    def _observed(self, environ, start_response):
        import io

        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        statuses = []

        def remember(status, headers, exc_info=None):
            statuses.append(status)
            return start_response(status, headers, exc_info)

        result = list(self.app(environ, remember))
        if statuses and statuses[0].startswith("200"):
            try:
                self.on_sent(json.loads(body))
            except Exception as exc:  # a broken demo hook must not break sending
                print(f"local SES event hook failed: {exc!r}", file=sys.stderr)
        return result
