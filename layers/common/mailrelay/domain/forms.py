"""A public contact-form submission: origin, size, fields, honeypot, allow list, nonce, CAPTCHA, per-IP and channel
limits, then the same delivery path as the relay. Every refusal says why; nothing is silently dropped except what
the honeypot catches."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from pydantic import ValidationError

from mailrelay import limits, timebox
from mailrelay.config import settings
from mailrelay.domain import captcha, delivery, formaccess, formdata, mime, nonces
from mailrelay.domain.formaccess import FormChannel
from mailrelay.errors import Forbidden, PayloadTooLarge, RelayError
from mailrelay.http import validation_error
from mailrelay.models.common import Address
from mailrelay.models.forms import CAPTCHA_FIELDS, FormSubmission
from mailrelay.models.messages import MessageRequest
from mailrelay.observability import MetricUnit, logger, metrics
from mailrelay.providers.base import Deadline, Outgoing

# Fields the relay reads itself; every other field is listed in the mail body.
_KNOWN = {"email", "name", "subject", "message", "to", "nonce", "hash", "_next", *CAPTCHA_FIELDS.values()}


@dataclass(frozen=True)
class Submitted:
    id: str
    next_url: str | None
    cors: dict[str, str]


def submit(
    descriptor: str, headers: Mapping[str, str], body: bytes, content_type: str | None, source_ip: str
) -> Submitted:
    deadline = Deadline(timebox.left(settings().send_budget_seconds))
    read = delivery.ChannelReader()
    channel = formaccess.load_form(descriptor, read)
    cors = formaccess.cors_headers(channel.form, headers.get("origin"))
    try:
        return _submit(channel, read.opened, body, content_type, source_ip, deadline, cors)
    except RelayError as error:
        error.headers.update(cors)  # so that the page's script can read why
        raise


def _submit(
    channel: FormChannel,
    opened: delivery.Opened,
    body: bytes,
    content_type: str | None,
    source_ip: str,
    deadline: Deadline,
    cors: dict[str, str],
) -> Submitted:
    form = channel.form
    if len(body) > limits.body_limit(channel.max_size, content_type):
        raise PayloadTooLarge(limits.too_large_message(len(body), channel.max_size, content_type, "form data"))
    fields, uploads = formdata.parse(content_type, body)
    if fields.get(form.honeypot_field, "").strip():
        metrics.add_metric(name="FormHoneypot", unit=MetricUnit.Count, value=1)
        logger.info("honeypot filled: accepted and dropped", extra={"form": channel.descriptor})
        return Submitted(str(uuid.uuid4()), formaccess.where_next(fields.get("_next"), form), cors)
    try:
        submission = FormSubmission.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(exc.errors(include_url=False, include_context=False)) from None

    allow_list = form.allow_list if form.allow_list is not None else [a.email for a in channel.recipients]
    if submission.to is not None and submission.to not in allow_list:
        raise Forbidden("this address may not be chosen as `to`", error="to_not_allowed")
    request = _request(channel, submission, fields, uploads)  # before the nonce is used: a refusal costs nothing
    if form.require_nonce:
        nonces.check_and_use(channel.descriptor, form.secret or "", submission.nonce, submission.hash)
    if form.captcha is not None:
        captcha.verify(form.captcha, fields.get(CAPTCHA_FIELDS[form.captcha.provider]), source_ip)

    next_url = formaccess.where_next(submission.next, form)  # decided before anything is sent
    message_id = str(uuid.uuid4())
    outgoing = _outgoing(channel, opened, submission, request, message_id)
    limits_ = [
        delivery.Limit(
            f"form-ip#{channel.descriptor}#{source_ip}",
            form.per_ip_min_period,
            "please wait before sending another message",
        ),
        delivery.Limit(
            f"channel#{channel.descriptor}",
            channel.min_period,
            f"this channel accepts one message every {channel.min_period:g} s",
        ),
    ]
    status = delivery.deliver(channel, outgoing, deadline, limits_)
    metrics.add_metric(name="FormAccepted", unit=MetricUnit.Count, value=1)
    return Submitted(status["id"], next_url, cors)


def _text(channel: FormChannel, submission: FormSubmission, fields: dict[str, str], uploads) -> str:
    sender = f"{submission.name} <{submission.email}>" if submission.name else submission.email
    lines = [submission.message.strip(), "", "--", f"From: {sender}"]
    extra = {k: v for k, v in fields.items() if k not in _KNOWN and k != channel.form.honeypot_field}
    if extra:
        lines += ["", "Other fields:"] + [f"  {name}: {value}" for name, value in extra.items()]
    if uploads:
        lines += ["", "Attached files: " + ", ".join(_safe_filename(u.filename) for u in uploads)]
    lines += ["", f"Sent through the {channel.descriptor!r} contact form."]
    return "\n".join(lines) + "\n"


def _request(channel: FormChannel, submission: FormSubmission, fields: dict[str, str], uploads) -> MessageRequest:
    """The message a submission becomes, validated before anything is used up or sent (422 for too many or bad files).
    A file name keeps its text; path separators and control characters become `_`."""
    try:
        return MessageRequest.model_validate(
            {
                "subject": submission.subject or f"Message from the {channel.descriptor} form",
                "text": _text(channel, submission, fields, uploads),
                "reply_to": submission.email,
                "attachments": [
                    {
                        "filename": _safe_filename(u.filename),
                        "content_type": u.content_type,
                        "content": base64.b64encode(u.data).decode(),
                    }
                    for u in uploads
                ],
            }
        )
    except ValidationError as exc:  # never the submitted values in the answer or a log
        raise validation_error(exc.errors(include_url=False, include_context=False, include_input=False)) from None


def _safe_filename(name: str) -> str:
    cleaned = "".join("_" if c in "/\\" or not c.isprintable() else c for c in name).strip()
    return cleaned[:255] or "file"


def _outgoing(
    channel: FormChannel,
    opened: delivery.Opened,
    submission: FormSubmission,
    request: MessageRequest,
    message_id: str,
) -> Outgoing:
    chosen = [Address(email=submission.to)] if submission.to else channel.recipients
    reply_to = Address(email=submission.email, name=submission.name or None)  # with the name, as mail clients show it
    compose = partial(mime.compose, request=request, message_id=message_id, reply_to=reply_to)
    recipients = (chosen, channel.cc, channel.bcc)
    return delivery.prepare(opened, channel.sender, recipients, compose, message_id, channel.domain)
