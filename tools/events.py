"""Write events/: one API Gateway HTTP API (payload v2) event per route, built by the local gateway's own
event builder so that `sam local invoke -e events/X.json`, the tests and the local stack see the same shape.

Credentials are placeholders: replace REPLACE_WITH_ADMIN_KEY / REPLACE_WITH_CHANNEL_TOKEN before invoking.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlencode

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.gateway import build_event
from local.invoke import ADMIN_PLACEHOLDER, HASH_PLACEHOLDER, NONCE_PLACEHOLDER, TOKEN_PLACEHOLDER, TOPIC_PLACEHOLDER
from local.provider_events import mailgun_event, mailgun_webhook, ses_notification, sns_event
from local.template import ROOT, Template

EVENTS = ROOT / "events"
ADMIN = {"Authorization": f"Bearer {ADMIN_PLACEHOLDER}"}
CHANNEL = {"X-Descriptor": "website", "X-Token": TOKEN_PLACEHOLDER}
JSON_TYPE = {"Content-Type": "application/json"}
CHANNEL_BODY = {
    "sender": {"email": "noreply@example.com", "name": "Example website"},
    "recipients": [{"email": "team@example.com", "name": "Team"}],
    "cc": [],
    "bcc": ["archive@example.com"],
    "min_period": 1,
    "max_size": 5000000,
}
RAW_MESSAGE = (
    b"Subject: Nightly backup finished\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"All 42 databases were backed up.\r\n"
)

ORIGIN = {"Origin": "https://www.example.com"}
FORM_FIELDS = {
    "email": "visitor@example.org",
    "name": "Ada Visitor",
    "subject": "Question about pricing",
    "message": "Hello, do you ship to Iceland?",
    "company": "Example Ltd",
    "nonce": NONCE_PLACEHOLDER,
    "hash": HASH_PLACEHOLDER,
    "_gotcha": "",
}

# (file name, method, path, headers, body)
SAMPLES = [
    ("control-put-channel", "PUT", "/v1/channels/website", {**ADMIN, **JSON_TYPE}, CHANNEL_BODY),
    ("control-get-channel", "GET", "/v1/channels/website", ADMIN, None),
    ("control-list-channels", "GET", "/v1/channels?limit=10", ADMIN, None),
    ("control-delete-channel", "DELETE", "/v1/channels/website", ADMIN, None),
    ("control-rotate-token", "POST", "/v1/channels/website/token", {**ADMIN, **JSON_TYPE}, {"grace_seconds": 300}),
    ("control-doctor", "GET", "/v1/doctor", ADMIN, None),
    (
        "relayery-put-channel",
        "PUT",
        "/api/channel",
        {**ADMIN, **JSON_TYPE},
        {"descriptor": "website", "token": "a-token-of-at-least-16-chars", **CHANNEL_BODY},
    ),
    ("relayery-delete-channel", "DELETE", "/api/channel", {**ADMIN, **JSON_TYPE}, "website"),
    ("relayery-list-channels", "GET", "/api/list_channels?page=1&per_page=20", ADMIN, None),
    (
        "relay-send-message",
        "POST",
        "/v1/messages",
        {**CHANNEL, **JSON_TYPE, "Idempotency-Key": "order-1234"},
        {
            "subject": "Hello from the website",
            "text": "Plain text body",
            "html": "<p>HTML body</p>",
            "reply_to": "visitor@example.org",
            "tags": {"source": "website"},
            "attachments": [
                {
                    "filename": "hello.txt",
                    "content_type": "text/plain",
                    "content": base64.b64encode(b"hello\n").decode(),
                }
            ],
        },
    ),
    ("relay-send-raw-message", "POST", "/v1/messages", {**CHANNEL, "Content-Type": "message/rfc822"}, RAW_MESSAGE),
    (
        "relayery-send-message",
        "POST",
        "/api/message",
        {**CHANNEL, **JSON_TYPE},
        {"subject": "a message from your friend", "content": "hello there"},
    ),
    ("relay-get-message", "GET", "/v1/messages/00000000-0000-4000-8000-000000000000", CHANNEL, None),
    ("nonce-get", "GET", "/v1/nonce?form=website", ORIGIN, None),
    (
        "form-submit-json",
        "POST",
        "/v1/forms/website",
        {**ORIGIN, **JSON_TYPE, "Accept": "application/json"},
        FORM_FIELDS,
    ),
    (
        "form-submit-urlencoded",
        "POST",
        "/v1/forms/website",
        {**ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
        urlencode({**FORM_FIELDS, "_next": "https://www.example.com/thanks"}).encode(),
    ),
    (
        "form-preflight",
        "OPTIONS",
        "/v1/forms/website",
        {**ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
        None,
    ),
    ("suppressions-list", "GET", "/v1/suppressions?limit=50", ADMIN, None),
    ("suppressions-get", "GET", "/v1/suppressions/bounced@example.org", ADMIN, None),
    ("suppressions-put", "PUT", "/v1/suppressions/bounced@example.org", {**ADMIN, **JSON_TYPE}, {"reason": "manual"}),
    ("suppressions-delete", "DELETE", "/v1/suppressions/bounced@example.org", ADMIN, None),
    ("validation-get", "GET", "/v1/validation/someone@example.org", CHANNEL, None),
    ("validation-post", "POST", "/v1/validation/new-sender@example.com", ADMIN, None),
    (
        "webhook-mailgun",
        "POST",
        "/v1/webhooks/mailgun",
        JSON_TYPE,
        mailgun_webhook(
            "REPLACE_WITH_MAILGUN_SIGNING_KEY",
            mailgun_event("failed", "bounced@example.org", "REPLACE_WITH_MESSAGE_ID"),
            timestamp=1795305600,
            token="0123456789abcdef0123456789abcdef0123456789abcdef01",
        ),
    ),
    ("meta-health", "GET", "/v1/health", {}, None),
    ("meta-openapi", "GET", "/v1/openapi.json", {}, None),
    ("meta-docs", "GET", "/v1/docs", {}, None),
    # No route matches: the $default route answers 405 with Allow (this path has GET, PUT and DELETE)
    ("default-method-not-allowed", "PATCH", "/v1/channels/website", ADMIN, None),
]


def sample_event(method: str, path: str, headers: dict[str, str], body: object) -> dict:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    builder = EnvironBuilder(
        method=method,
        path=path.split("?")[0],
        query_string=path.partition("?")[2],
        headers={"User-Agent": "curl/8.5.0", "Host": "api.example.com", **headers},
        data=data,
    )
    request = Request(builder.get_environ())
    found = Template().match(method, request.path)
    if found is None:
        raise SystemExit(f"{method} {path}: no such route in template.yaml")
    route, params = found
    event = build_event(request, route, params, data or b"")
    # Stable values, so regenerating gives the same files.
    event["requestContext"].update(
        requestId="local-sample-request",
        time="22/Nov/2026:00:00:00 +0000",
        timeEpoch=1795305600000,
        domainName="api.example.com",
        domainPrefix="api",
    )
    event["requestContext"]["http"]["sourceIp"] = "203.0.113.10"
    return event


def write(name: str, event: dict) -> None:
    target = Path(EVENTS / f"{name}.json")
    target.write_text(json.dumps(event, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")


def main() -> None:
    EVENTS.mkdir(exist_ok=True)
    for name, method, path, headers, body in SAMPLES:
        write(name, sample_event(method, path, headers, body))
    # Not an HTTP route: what SNS hands the events function for an SES permanent bounce.
    notification = ses_notification("Bounce", ["bounced@example.org"], "REPLACE_WITH_MESSAGE_ID")
    event = sns_event(TOPIC_PLACEHOLDER, notification)
    record = event["Records"][0]
    record["EventSubscriptionArn"] = f"{TOPIC_PLACEHOLDER}:00000000-0000-4000-8000-000000000000"
    record["Sns"].update(MessageId="00000000-0000-4000-8000-000000000001", Timestamp="2026-11-22T00:00:00.000Z")
    write("sns-ses-bounce", event)


if __name__ == "__main__":
    main()
