"""What one synchronous request can carry through API Gateway (HTTP API) and Lambda, per media type.

API Gateway passes text bodies to Lambda as they are, and every other body base64-encoded (4 bytes for every 3), inside
the JSON event; Lambda refuses an invocation payload over 6,291,456 bytes before any code runs, and API Gateway then
answers its own bare 413. So a raw `message/rfc822` or multipart body can be at most ~4.69 MB, not the 6 MB a JSON
body can be. The relay refuses anything over `ceiling()` (or the channel's max_size, if smaller) with its own JSON 413,
so every limit it states is one a real deployment can reach.
"""

from __future__ import annotations

LAMBDA_REQUEST_LIMIT = 6_291_456  # bytes of the synchronous invocation payload (the whole event)
API_GATEWAY_LIMIT = 10_485_760  # HTTP API payload quota
# The event around the body: request context (~1.5 KB), headers (API Gateway allows 10 KiB of them; JSON escaping can
# double that), query string, path and cookies.
EVENT_RESERVE = 32_768
# HTTP API payload format 2.0 passes exactly these media types as text; everything else (also a missing Content-Type
# and application/x-www-form-urlencoded) arrives base64-encoded.
TEXT_MEDIA_PREFIXES = ("text/", "application/json", "application/xml", "application/javascript")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_text(content_type: str | None) -> bool:
    media = media_type(content_type)
    return bool(media) and media.startswith(TEXT_MEDIA_PREFIXES)


def ceiling(content_type: str | None) -> int:
    """The largest body of this media type that reaches the function (a text body's JSON escaping not counted)."""
    room = LAMBDA_REQUEST_LIMIT - EVENT_RESERVE
    return room if is_text(content_type) else room // 4 * 3


def body_limit(max_size: int, content_type: str | None) -> int:
    return min(max_size, ceiling(content_type))


def too_large_message(size: int, max_size: int, content_type: str | None, what: str = "request body") -> str:
    limit = body_limit(max_size, content_type)
    message = f"the {what} is {size:,} bytes; this channel accepts at most {limit:,}"
    if limit < max_size:
        message += (
            f" for {media_type(content_type) or 'a body without Content-Type'}: API Gateway hands such bodies to "
            f"Lambda base64-encoded, so one request carries at most {ceiling(content_type):,} bytes of it"
        )
    return message
