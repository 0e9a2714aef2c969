"""MIME building with Python's `email` package. From/To/Cc always come from the channel; Bcc is envelope-only."""

from __future__ import annotations

from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid

from mailrelay.errors import InvalidBody
from mailrelay.models.common import Address
from mailrelay.models.messages import MessageRequest

# Headers a caller may never set in a raw message: the channel decides who sends and who receives.
_CHANNEL_HEADERS = (
    "From",
    "Sender",
    "To",
    "Cc",
    "Bcc",
    "Return-Path",
    "Resent-From",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
    "Resent-Sender",
    "Delivered-To",
)


class ChannelAddresses:
    """The envelope and header addresses of a channel."""

    def __init__(self, sender: Address, to: list[Address], cc: list[Address], bcc: list[Address]):
        self.sender, self.to, self.cc, self.bcc = sender, to, cc, bcc

    @property
    def domain(self) -> str:
        return self.sender.email.rpartition("@")[2]


def header_address(address: Address) -> HeaderAddress:
    return HeaderAddress(display_name=address.name or "", addr_spec=address.email)


def _address_headers(message: EmailMessage, who: ChannelAddresses, message_id: str) -> None:
    message["From"] = header_address(who.sender)
    if who.to:
        message["To"] = [header_address(a) for a in who.to]
    if who.cc:
        message["Cc"] = [header_address(a) for a in who.cc]
    if "Date" not in message:
        message["Date"] = formatdate(usegmt=True)
    if "Message-ID" not in message:
        message["Message-ID"] = make_msgid(domain=who.domain)
    message["X-Mailrelay-Id"] = message_id


def compose(who: ChannelAddresses, request: MessageRequest, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = request.subject
    if request.reply_to:
        message["Reply-To"] = request.reply_to
    _address_headers(message, who, message_id)
    if request.text is not None:
        message.set_content(request.text)
        if request.html is not None:
            message.add_alternative(request.html, subtype="html")
    else:
        message.set_content(request.html or "", subtype="html")
    for attachment in request.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.data(), maintype=maintype, subtype=subtype, filename=attachment.filename)
    return message


def rewrite_raw(who: ChannelAddresses, raw: bytes, message_id: str) -> EmailMessage:
    """Take a caller's RFC 822 message; keep its subject and MIME parts, replace every address header."""
    if not raw.strip():
        raise InvalidBody("the raw message is empty", error="invalid_message")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not message.keys():
        raise InvalidBody("not an RFC 822 message: no header lines before the body", error="invalid_message")
    subject = message.get("Subject", "")
    if "\r" in str(subject) or "\n" in str(subject):
        raise InvalidBody("Subject must not contain line breaks", error="invalid_message")
    for name in (*_CHANNEL_HEADERS, "X-Mailrelay-Id"):
        del message[name]
    _address_headers(message, who, message_id)
    return message
