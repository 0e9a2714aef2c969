"""Bounces and complaints from both providers: the address goes on the one suppression list, and the message
(when we know it) is marked `bounced` / `complained`. Events for unknown messages still suppress."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from mailrelay.config import settings
from mailrelay.dal.messages import MessageStore
from mailrelay.dal.ratelimit import first_use
from mailrelay.domain import suppressions
from mailrelay.errors import NotAcceptable, RelayError
from mailrelay.observability import MetricUnit, logger, metrics
from mailrelay.secret import relay_secret

WEBHOOK_MAX_AGE = 300  # seconds a Mailgun signature stays acceptable
_STATUS = {"bounce": "bounced", "complaint": "complained"}


@dataclass(frozen=True)
class ProviderEvent:
    kind: str  # bounce | complaint
    addresses: list[str]
    message_id: str | None
    source: str  # ses | mailgun


def apply(event: ProviderEvent) -> None:
    for address in event.addresses:
        try:
            suppressions.add(address, event.kind, event.source)
        except RelayError:
            logger.warning("event for an unusable address", extra={"source": event.source})
    known = bool(event.message_id) and MessageStore(settings().messages_table).mark(
        event.message_id, _STATUS[event.kind]
    )
    metrics.add_metric(name="Bounce" if event.kind == "bounce" else "Complaint", unit=MetricUnit.Count, value=1)
    logger.info(
        "provider event applied",
        extra={"kind": event.kind, "source": event.source, "message_id": event.message_id, "message_known": known},
    )


# ---------------------------------------------------------------- SES (SNS notifications)


def _ses_message_id(mail: dict[str, Any]) -> str | None:
    tagged = (mail.get("tags") or {}).get("mailrelay_id") or []
    if tagged:
        return tagged[0]
    for header in mail.get("headers") or []:
        if header.get("name", "").lower() == "x-mailrelay-id":
            return header.get("value")
    return None


def from_ses(notification: dict[str, Any]) -> ProviderEvent | None:
    """An SES event-publishing record (`eventType`) or identity notification (`notificationType`)."""
    kind = notification.get("eventType") or notification.get("notificationType")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":  # transient bounces are retried by SES; no suppression
            return None
        addresses = [r.get("emailAddress", "") for r in bounce.get("bouncedRecipients", [])]
        return ProviderEvent("bounce", addresses, _ses_message_id(notification.get("mail") or {}), "ses")
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        addresses = [r.get("emailAddress", "") for r in complaint.get("complainedRecipients", [])]
        return ProviderEvent("complaint", addresses, _ses_message_id(notification.get("mail") or {}), "ses")
    return None


def handle_sns(records: list[dict[str, Any]]) -> dict[str, int]:
    """Only the stack's own topic is accepted; anything else is logged and dropped."""
    applied = ignored = 0
    for record in records:
        sns = record.get("Sns") or {}
        if not settings().ses_events_topic_arn or sns.get("TopicArn") != settings().ses_events_topic_arn:
            logger.warning("notification from a foreign topic dropped", extra={"topic": sns.get("TopicArn")})
            ignored += 1
            continue
        try:
            event = from_ses(json.loads(sns.get("Message") or "{}"))
        except ValueError:
            event = None
        if event is None:
            ignored += 1
            continue
        apply(event)
        applied += 1
    return {"applied": applied, "ignored": ignored}


# ---------------------------------------------------------------- Mailgun (webhooks)


def _signing_key() -> str:
    key = relay_secret().get("mailgun_webhook_signing_key")
    if not key:
        raise NotAcceptable("webhooks are not set up (mailgun_webhook_signing_key)", error="webhook_not_configured")
    return key


def verify_mailgun_signature(signature: Any, now: float) -> None:
    if not isinstance(signature, dict):
        raise NotAcceptable("missing signature", error="invalid_signature")
    timestamp, token, presented = (str(signature.get(k, "")) for k in ("timestamp", "token", "signature"))
    if not (timestamp + token + presented).isascii():  # Mailgun's are digits and hex; anything else is not its
        raise NotAcceptable("signature does not match", error="invalid_signature")
    expected = hmac.new(_signing_key().encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not (timestamp and token and hmac.compare_digest(expected.encode(), presented.encode())):
        raise NotAcceptable("signature does not match", error="invalid_signature")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > WEBHOOK_MAX_AGE:
        raise NotAcceptable("signature timestamp is not within 5 minutes", error="stale_signature")
    if not first_use(settings().rate_table, f"mailgun-token#{token}", 2 * WEBHOOK_MAX_AGE, now):
        raise NotAcceptable("this webhook token was used already", error="replayed_signature")


def from_mailgun(data: Any) -> ProviderEvent | None:
    """The event a Mailgun `event-data` object reports (406 for one that is not shaped like Mailgun's: signed or not,
    nothing is applied from it)."""
    variables = data.get("user-variables") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(variables or {}, dict):
        raise NotAcceptable("event-data is not a Mailgun event object", error="invalid_payload")
    kind, recipient, severity = data.get("event"), data.get("recipient"), data.get("severity")
    message_id = (variables or {}).get("mailrelay_id")
    if not all(value is None or isinstance(value, str) for value in (kind, recipient, severity, message_id)):
        raise NotAcceptable("event-data fields have the wrong types", error="invalid_payload")
    if not recipient:
        return None
    if kind == "failed" and data.get("severity") == "permanent":
        return ProviderEvent("bounce", [recipient], message_id, "mailgun")
    if kind == "complained":
        return ProviderEvent("complaint", [recipient], message_id, "mailgun")
    return None


def mailgun_webhook(body: bytes) -> bool:
    """Verify and apply one webhook; True when it changed something, False for events we do not act on."""
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise NotAcceptable("the body is not JSON", error="invalid_payload") from None
    if not isinstance(payload, dict):
        raise NotAcceptable("the body is not a JSON object", error="invalid_payload")
    verify_mailgun_signature(payload.get("signature"), time.time())
    event = from_mailgun(payload.get("event-data") or {})
    if event is None:
        return False
    apply(event)
    return True
