"""Relaying one message through a channel: authenticate, check size, parse, then the shared delivery path."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from functools import partial
from typing import Any

from mailrelay import limits, timebox
from mailrelay.config import settings
from mailrelay.domain import auth, delivery, idempotency, mime
from mailrelay.domain.channels import ChannelRecord
from mailrelay.domain.formdata import media_type
from mailrelay.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from mailrelay.http import parse_json
from mailrelay.models.messages import MessageRequest, MessageStatus
from mailrelay.providers.base import Deadline, Outgoing

RAW_TYPES = {"message/rfc822"}
JSON_TYPES = {"application/json", ""}


def _build(
    channel: ChannelRecord, opened: delivery.Opened, body: bytes, content_type: str | None, message_id: str
) -> Outgoing:
    kind = media_type(content_type)
    if kind in JSON_TYPES or kind.endswith("+json"):
        request: MessageRequest = parse_json(MessageRequest, body)
        compose = partial(mime.compose, request=request, message_id=message_id)
        tags = request.tags
    elif kind in RAW_TYPES:
        compose, tags = partial(mime.rewrite_raw, raw=body, message_id=message_id), {}
    else:
        raise UnsupportedMediaType(f"send application/json or message/rfc822, not {kind!r}")
    recipients = (channel.recipients, channel.cc, channel.bcc)
    return delivery.prepare(opened, channel.sender, recipients, compose, message_id, channel.domain, tags)


def send_message(
    headers: Mapping[str, str], body: bytes, content_type: str | None, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Send through the channel the headers authenticate; returns the message status (JSON-ready)."""
    deadline = Deadline(timebox.left(settings().send_budget_seconds))
    read = delivery.ChannelReader(auth.credential_proof(headers))
    channel = auth.authenticate_channel(headers, read)
    if len(body) > limits.body_limit(channel.max_size, content_type):
        raise PayloadTooLarge(limits.too_large_message(len(body), channel.max_size, content_type))
    message_id = str(uuid.uuid4())
    outgoing = _build(channel, read.opened, body, content_type, message_id)
    period = delivery.Limit(
        f"channel#{channel.descriptor}",
        channel.min_period,
        f"this channel accepts one message every {channel.min_period:g} s",
    )
    if idempotency_key is None:
        return delivery.deliver(channel, outgoing, deadline, [period])
    return idempotency.once(
        channel.descriptor,
        idempotency_key,
        media_type(content_type),
        body,
        lambda: delivery.deliver(channel, outgoing, deadline, [period]),
    )


def get_message(headers: Mapping[str, str], message_id: str) -> MessageStatus:
    channel = auth.authenticate_channel(headers)
    record = delivery.stores().messages.get(message_id)
    # Another channel's message is "not found" too: ids must not reveal other channels' traffic; so is a message of a
    # deleted channel whose name was taken again (another instance).
    if (
        record is None
        or record.get("descriptor") != channel.descriptor
        or record.get("channel_instance") != channel.instance
        or record.get("expires_at", 0) < time.time()
    ):
        raise NotFound("no such message for this channel", error="message_not_found")
    return MessageStatus.model_validate(record, strict=False)
