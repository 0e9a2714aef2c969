"""Typed domain errors. Each carries its HTTP status and machine-readable code; mailrelay.http maps them."""

from __future__ import annotations

from typing import Any


class RelayError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


class BadRequest(RelayError):
    status = 400
    code = "bad_request"


class InvalidBody(RelayError):
    status = 422
    code = "validation_error"


class Unauthorized(RelayError):
    status = 401
    code = "unauthorized"


class NotFound(RelayError):
    status = 404
    code = "not_found"


class MethodNotAllowed(RelayError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(RelayError):
    status = 413
    code = "payload_too_large"


class RateLimited(RelayError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class MessageRejected(RelayError):
    """A provider refused the message itself (bad address, content): the caller must change it; no fallback."""

    status = 422
    code = "message_rejected"


class AllProvidersFailed(RelayError):
    status = 502
    code = "all_providers_failed"


class Forbidden(RelayError):
    status = 403
    code = "forbidden"


class UnsupportedMediaType(RelayError):
    status = 415
    code = "unsupported_media_type"


class UpstreamUnavailable(RelayError):
    status = 502
    code = "upstream_unavailable"


class NotAcceptable(RelayError):
    """Mailgun stops retrying a webhook that is answered 406."""

    status = 406
    code = "not_acceptable"
