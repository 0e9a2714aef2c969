"""Relaying one message through a channel: auth, size, parse, rate slot, record, send, report."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from email import policy
from email.message import EmailMessage
from typing import Any

from mailrelay import limits, timebox
from mailrelay.config import settings
from mailrelay.dal.circuit import CircuitStore
from mailrelay.dal.messages import MessageStore
from mailrelay.dal.ratelimit import Busy, MinPeriodLimiter, Slot
from mailrelay.domain import auth, idempotency, mime, suppressions
from mailrelay.domain.channels import ChannelRecord, now_iso
from mailrelay.domain.formdata import media_type
from mailrelay.errors import (
    AllProvidersFailed,
    MessageRejected,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
)
from mailrelay.http import parse_json
from mailrelay.models.messages import MessageRequest, MessageStatus
from mailrelay.observability import MetricUnit, logger, metrics
from mailrelay.providers import chain
from mailrelay.providers.base import Deadline, Failure, Outgoing, Provider
from mailrelay.providers.circuit import Breaker, BreakerSettings
from mailrelay.providers.mailgun import MailgunProvider, MailgunSettings
from mailrelay.providers.ses import SesProvider
from mailrelay.secret import relay_secret

RAW_TYPES = {"message/rfc822"}
JSON_TYPES = {"application/json", ""}


def limiter() -> MinPeriodLimiter:
    return MinPeriodLimiter(settings().rate_table)


def messages() -> MessageStore:
    return MessageStore(settings().messages_table)


def mailgun_settings() -> MailgunSettings | None:
    secret = relay_secret()
    if not secret.get("mailgun_api_key") or not secret.get("mailgun_domain"):
        return None
    return MailgunSettings(secret["mailgun_api_key"], secret["mailgun_domain"], settings().mailgun_base_url)


def providers() -> list[Provider]:
    """The sending chain in the configured order (PROVIDER_ORDER, SES first by default)."""
    made: dict[str, Callable[[], Provider]] = {
        "ses": lambda: SesProvider(configuration_set=settings().ses_configuration_set),
        "mailgun": lambda: MailgunProvider(mailgun_settings),
    }
    return [made[name]() for name in settings().providers]


def breaker() -> Breaker:
    config = settings()
    return Breaker(
        CircuitStore(config.rate_table),
        BreakerSettings(
            config.circuit_failure_threshold, config.circuit_window_seconds, config.circuit_cooldown_seconds
        ),
    )


def _build(channel: ChannelRecord, body: bytes, content_type: str | None, message_id: str) -> Outgoing:
    kind = media_type(content_type)
    request: MessageRequest | None = None
    if kind in JSON_TYPES or kind.endswith("+json"):
        request = parse_json(MessageRequest, body)
    elif kind not in RAW_TYPES:
        raise UnsupportedMediaType(f"send application/json or message/rfc822, not {kind!r}")
    to, cc, bcc, suppressed = suppressions.keep_deliverable(channel.recipients, channel.cc, channel.bcc)
    who = mime.ChannelAddresses(channel.sender, to, cc, bcc)
    message = mime.compose(who, request, message_id) if request else mime.rewrite_raw(who, body, message_id)
    return package(channel, who, message, message_id, suppressed, request.tags if request else {})


def package(
    channel: ChannelRecord,
    who: mime.ChannelAddresses,
    message: EmailMessage,
    message_id: str,
    suppressed: list[str],
    tags: dict[str, str] | None = None,
) -> Outgoing:
    """The MIME message and its envelope, ready for the providers."""
    return Outgoing(
        sender=channel.sender.email,
        to=[a.email for a in who.to],
        cc=[a.email for a in who.cc],
        bcc=[a.email for a in who.bcc],
        raw=message.as_bytes(policy=policy.SMTP),
        message_id=message_id,
        domain=channel.domain,
        tags=tags or {},
        suppressed=suppressed,
    )


def send_message(
    headers: Mapping[str, str], body: bytes, content_type: str | None, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Send through the channel the headers authenticate; returns the message status (JSON-ready)."""
    deadline = Deadline(timebox.left(settings().send_budget_seconds))
    channel = auth.authenticate_channel(headers)
    if len(body) > limits.body_limit(channel.max_size, content_type):
        raise PayloadTooLarge(limits.too_large_message(len(body), channel.max_size, content_type))
    message_id = str(uuid.uuid4())
    outgoing = _build(channel, body, content_type, message_id)
    if idempotency_key is None:
        return deliver(channel, outgoing, deadline)
    return idempotency.once(
        channel.descriptor,
        idempotency_key,
        media_type(content_type),
        body,
        lambda: deliver(channel, outgoing, deadline),
    )


def take_slot(key: str, period: float, refusal: str, now: float) -> Slot | None:
    """The min-period slot for `key` (None when there is no limit), or 429 with `refusal` and Retry-After."""
    if period <= 0:
        return None
    try:
        return limiter().take(key, period, now)
    except Busy as busy:
        metrics.add_metric(name="RateLimited", unit=MetricUnit.Count, value=1)
        raise RateLimited(refusal, busy.retry_after) from None


def deliver(channel: ChannelRecord, outgoing: Outgoing, deadline: Deadline) -> dict[str, Any]:
    now = time.time()
    slot = take_slot(
        f"channel#{channel.descriptor}",
        channel.min_period,
        f"this channel accepts one message every {channel.min_period:g} s",
        now,
    )
    status = MessageStatus(
        id=outgoing.message_id,
        status="queued",
        provider_used=None,
        providers=[],
        created_at=now_iso(now),
        test_mode=channel.test_mode,
        suppressed=outgoing.suppressed,
    )
    record = {
        **status.model_dump(mode="json"),
        "descriptor": channel.descriptor,
        "expires_at": int(now) + settings().message_retention_days * 86_400,
    }
    try:
        messages().create(record)
        if channel.test_mode:
            logger.info("test mode: message recorded, not sent", extra={"message_id": outgoing.message_id})
            status = status.model_copy(update={"status": "sent"})
        else:
            delivered = chain.send(providers(), outgoing, deadline, breaker(), channel.at_least_once)
            status = status.model_copy(
                update={"status": "sent", "provider_used": delivered.provider, "providers": delivered.attempts}
            )
    except chain.Undelivered as undelivered:
        _undelivered(outgoing.message_id, status, slot, undelivered)
    except BaseException:
        if slot is not None:
            limiter().give_back(slot)
        raise
    messages().finish(
        outgoing.message_id, status.model_dump(mode="json", include={"status", "provider_used", "providers"})
    )
    metrics.add_metric(name="MessageAccepted", unit=MetricUnit.Count, value=1)
    logger.info("message accepted", extra={"message_id": outgoing.message_id, "provider": status.provider_used})
    return status.model_dump(mode="json")


def _undelivered(message_id: str, status: MessageStatus, slot: Slot | None, undelivered: chain.Undelivered):
    """Record the failure, give the rate slot back unless the message may have gone out, raise the HTTP error."""
    if slot is not None and undelivered.failure is not Failure.UNKNOWN:
        limiter().give_back(slot)
    failed = status.model_copy(update={"status": "failed", "providers": undelivered.attempts})
    messages().finish(message_id, failed.model_dump(mode="json", include={"status", "providers"}))
    attempts = failed.model_dump(mode="json")["providers"]
    if undelivered.failure is Failure.MESSAGE:
        metrics.add_metric(name="MessageRejected", unit=MetricUnit.Count, value=1)
        reason = undelivered.attempts[-1].error or "rejected"
        raise MessageRejected(
            f"the provider refused the message: {reason}", id=message_id, status="failed", providers=attempts
        )
    metrics.add_metric(name="AllProvidersFailed", unit=MetricUnit.Count, value=1)
    if undelivered.failure is Failure.UNKNOWN:
        raise AllProvidersFailed(
            "a provider did not answer in time; the message may or may not have been sent",
            id=message_id,
            status="failed",
            providers=attempts,
        )
    raise AllProvidersFailed("no provider could send the message", id=message_id, status="failed", providers=attempts)


def get_message(headers: Mapping[str, str], message_id: str) -> MessageStatus:
    channel = auth.authenticate_channel(headers)
    record = messages().get(message_id)
    # Another channel's message is "not found" too: ids must not reveal other channels' traffic.
    if record is None or record.get("descriptor") != channel.descriptor or record.get("expires_at", 0) < time.time():
        raise NotFound("no such message for this channel", error="message_not_found")
    return MessageStatus.model_validate(record, strict=False)
