"""Bounce and complaint events as the providers send them: SES notifications through SNS, Mailgun's signed
webhooks. The local stack emits them for bounce@ / complaint@ recipients; tests and events/ use the same shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

BOUNCE_LOCAL_PART = "bounce"
COMPLAINT_LOCAL_PART = "complaint"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ses_notification(
    kind: str,
    recipients: list[str],
    mailrelay_id: str | None = None,
    source: str = "noreply@example.com",
    bounce_type: str = "Permanent",
) -> dict[str, Any]:
    """An SES event-publishing record (configuration set -> SNS) for a Bounce or Complaint."""
    mail = {
        "timestamp": _now(),
        "source": source,
        "messageId": f"0100{uuid.uuid4().hex}-000000",
        "destination": recipients,
        "headersTruncated": False,
        "headers": [{"name": "X-Mailrelay-Id", "value": mailrelay_id}] if mailrelay_id else [],
        "tags": {"mailrelay_id": [mailrelay_id]} if mailrelay_id else {},
    }
    if kind == "Bounce":
        detail = {
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": "General",
                "timestamp": _now(),
                "feedbackId": uuid.uuid4().hex,
                "reportingMTA": "dns; local.amazonses.com",
                "bouncedRecipients": [
                    {
                        "emailAddress": r,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                    for r in recipients
                ],
            }
        }
    else:
        detail = {
            "complaint": {
                "complainedRecipients": [{"emailAddress": r} for r in recipients],
                "timestamp": _now(),
                "feedbackId": uuid.uuid4().hex,
                "complaintFeedbackType": "abuse",
            }
        }
    return {"eventType": kind, "mail": mail, **detail}


def sns_event(topic_arn: str, message: dict[str, Any]) -> dict[str, Any]:
    """The Lambda event SNS delivers to a subscribed function."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": None,
                    "Message": json.dumps(message),
                    "Timestamp": _now(),
                    "SignatureVersion": "1",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def mailgun_webhook(
    signing_key: str, event_data: dict[str, Any], timestamp: int | None = None, token: str | None = None
) -> dict[str, Any]:
    """A Mailgun webhook body: `signature` = HMAC-SHA256(signing key, timestamp + token), plus `event-data`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    signature = hmac.new(signing_key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": stamp, "token": token, "signature": signature}, "event-data": event_data}


def mailgun_event(kind: str, recipient: str, mailrelay_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event": kind,
        "recipient": recipient,
        "timestamp": time.time(),
        "id": uuid.uuid4().hex,
        "user-variables": {"mailrelay_id": mailrelay_id} if mailrelay_id else {},
    }
    if kind == "failed":
        data.update(
            severity="permanent", reason="bounce", **{"delivery-status": {"code": 550, "message": "5.1.1 user unknown"}}
        )
    return data


def wanted_events(recipients: list[str]) -> list[tuple[str, str]]:
    """(kind, address) for each bounce@ / complaint@ recipient."""
    events = []
    for address in recipients:
        local = address.split("@", 1)[0].lower()
        if local == BOUNCE_LOCAL_PART:
            events.append(("bounce", address))
        elif local == COMPLAINT_LOCAL_PART:
            events.append(("complaint", address))
    return events


class LocalEmitter:
    """Plays Mailgun's part for bounce@ / complaint@ recipients in the local stack: its signed webhook, to the API over
    HTTP. (SES's part - event publishing through the configuration set, SNS and Lambda - is local/ses.py.)"""

    DELAY_S = 0.5  # let the relay finish its message record first, as the real providers do

    def __init__(self, signing_key: str):
        self.signing_key = signing_key
        self.api_url = ""  # set once the API listens

    def mailgun_sent(self, recipients: list[str], variables: dict[str, str]) -> None:
        import threading

        import requests

        for kind, address in wanted_events(recipients):
            data = mailgun_event("failed" if kind == "bounce" else "complained", address, variables.get("mailrelay_id"))
            body = mailgun_webhook(self.signing_key, data)
            post = lambda b=body: requests.post(f"{self.api_url}/v1/webhooks/mailgun", json=b, timeout=10)  # noqa: E731
            timer = threading.Timer(self.DELAY_S, post)
            timer.daemon = True
            timer.start()
