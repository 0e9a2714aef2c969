"""MIME building with Python's `email` package. From/To/Cc always come from the channel; Bcc is envelope-only.

A JSON message is built with the package's `email.mime` classes (compat32 storage): every header is rendered once, as
the string that goes out, while the newer EmailMessage API parses each header it is given back into a structured
object, and a short message is written without a folding pass (composing and writing it: 0.77 ms that way, 0.06 ms
this way). EmailMessage is still what parses and rewrites a caller's raw message.
"""

from __future__ import annotations

from email import encoders, policy
from email.charset import QP, Charset
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import formataddr, formatdate, make_msgid
from typing import Any

from mailrelay.errors import InvalidBody
from mailrelay.models.common import LINE_BREAKS, Address
from mailrelay.models.messages import MessageRequest

# Headers a caller may never set in a raw message: the channel decides who sends and who receives.
# The top-level headers a caller's raw message keeps: content and the usual informational headers. Everything else is
# dropped: addresses (the channel sets them), and whatever addresses, routes, tags or configures delivery at either
# provider (X-SES-*, X-Mailgun-*, read receipts, Errors-To, Return-Path, Resent-*, ...). Reply-To is kept only as one
# valid address, checked like the JSON route's `reply_to`.
RAW_KEPT_HEADERS = frozenset(
    {
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "reply-to",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-id",
        "content-description",
        "content-language",
        "comments",
        "keywords",
        "importance",
        "priority",
        "x-priority",
        "sensitivity",
        "auto-submitted",
        "precedence",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "user-agent",
        "x-mailer",
        "organization",
        "thread-topic",
        "thread-index",
        "accept-language",
    }
)


# How composed messages are stored and written: headers as given, CRLF line ends (what SES and Mailgun take).
class Folded(str):
    """A header value folded and encoded already (what follows `Name:`, continuation lines joined by CRLF + space)."""


class _Composed(Compat32):
    """compat32, except that a header is written as it is when it is a short plain-ASCII line or `Folded`: compat32
    builds a Header object for every header it writes just to learn that it needs no folding (most of the time of
    writing a short message), and its folding of long words and encoded text is worse than the newer policy's."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, Folded):
            return f"{name}:{value}{self.linesep}"
        if (
            isinstance(value, str)
            and len(name) + 2 + len(value) <= self.max_line_length
            and value.isascii()
            and "\r" not in value
            and "\n" not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


COMPOSED = _Composed(linesep="\r\n")
_FOLDER = policy.SMTP  # the newer policy folds (RFC 2047 and RFC 2231 included) whatever is not a short ASCII line


def _header(name: str, value: Any) -> str:
    """`value` for header `name`: as it is when it is one short ASCII line, else folded by the newer policy."""
    if isinstance(value, str) and value.isascii() and len(name) + 2 + len(value) <= _FOLDER.max_line_length:
        return value
    header = value if hasattr(value, "fold") else _FOLDER.header_factory(name, value)
    return Folded(header.fold(policy=_FOLDER)[len(name) + 1 :].removesuffix(_FOLDER.linesep))


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # 7-bit clean, still readable; short ASCII text goes as 7bit us-ascii
_MAX_LINE = 998  # RFC 5322: longer lines need an encoding


class ChannelAddresses:
    """The envelope and header addresses of a channel."""

    def __init__(self, sender: Address, to: list[Address], cc: list[Address], bcc: list[Address]):
        self.sender, self.to, self.cc, self.bcc = sender, to, cc, bcc

    @property
    def domain(self) -> str:
        """The sender's domain in ASCII (IDNA) form: what Message-ID carries."""
        return ascii_address(self.sender.email).rpartition("@")[2]


def header_address(address: Address) -> HeaderAddress:
    return HeaderAddress(display_name=address.name or "", addr_spec=ascii_address(address.email))


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


def compose(
    who: ChannelAddresses, request: MessageRequest, message_id: str, reply_to: Address | None = None
) -> Message:
    """The message for a JSON request; `reply_to` (with a display name) overrides the request's plain address."""
    reply = reply_to or (Address(email=request.reply_to) if request.reply_to else None)
    body = _body(request)
    body["Subject"] = _header("Subject", request.subject)
    body["From"] = _header("From", _address(who.sender))
    if who.to:
        body["To"] = _header("To", ", ".join(_address(a) for a in who.to))
    if who.cc:
        body["Cc"] = _header("Cc", ", ".join(_address(a) for a in who.cc))
    if reply:
        body["Reply-To"] = _header("Reply-To", _address(reply))
    body["Date"] = formatdate(usegmt=True)
    body["Message-ID"] = make_msgid(domain=who.domain)
    body["X-Mailrelay-Id"] = message_id
    return body


def _body(request: MessageRequest) -> Message:
    parts: list[Message] = []
    if request.text is not None:
        parts.append(_text_part(request.text, "plain"))
    if request.html is not None:
        parts.append(_text_part(request.html, "html"))
    content = parts[0] if len(parts) == 1 else _multipart("alternative", parts)
    if not request.attachments:
        return content
    attached: list[Message] = [content]
    for attachment in request.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        part = MIMEBase(maintype, subtype, policy=COMPOSED)
        part.set_payload(attachment.data())
        encoders.encode_base64(part)
        part["Content-Disposition"] = _disposition(attachment.filename)
        attached.append(part)
    return _multipart("mixed", attached)


def _disposition(filename: str) -> str:
    """`attachment; filename=...`: RFC 2231-encoded (and split into numbered sections) when needed, by the newer API."""
    holder = EmailMessage(policy=_FOLDER)
    holder["Content-Disposition"] = "attachment"
    holder.set_param("filename", filename, header="Content-Disposition")
    return _header("Content-Disposition", holder["Content-Disposition"])


def _text_part(content: str, subtype: str) -> Message:
    lines = content.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # only CR and LF end a line in mail
    plain = content.isascii() and all(len(line) <= _MAX_LINE for line in lines)
    return MIMEText(content, subtype, "us-ascii" if plain else _UTF8_QP, policy=COMPOSED)


def _multipart(subtype: str, parts: list[Message]) -> Message:
    for part in parts:
        del part["MIME-Version"]  # once, on the message itself
    return MIMEMultipart(subtype, _subparts=parts, policy=COMPOSED)


def ascii_address(email: str) -> str:
    """The address as headers and envelopes carry it: an internationalised domain in its IDNA 2008 (xn--) form, as
    email-validator computes it; 422 for non-ASCII before the @ (that needs SMTPUTF8, which neither SES nor
    Mailgun's MIME API takes)."""
    if email.isascii():
        return email
    local, _, domain = email.rpartition("@")
    if not local.isascii():
        raise InvalidBody(
            f"{email}: an address with non-ASCII characters before the @ needs SMTPUTF8, which neither SES nor "
            "Mailgun's MIME API takes",
            error="unsupported_address",
        )
    from email_validator import EmailNotValidError, validate_email

    try:
        return f"{local}@{validate_email(email, check_deliverability=False).ascii_domain}"
    except EmailNotValidError as exc:
        raise InvalidBody(f"{email}: {exc}", error="unsupported_address") from None


def _address(address: Address) -> str:
    """`Name <addr>`, the name RFC 2047-encoded when needed, the address in its ASCII form."""
    return formataddr((address.name or "", ascii_address(address.email)), "utf-8")


def as_bytes(message: Message) -> bytes:
    """The message as it goes out: CRLF line ends, headers written by the policy the message was built with."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _raw_reply_to(message: EmailMessage) -> Address | None:
    """The raw message's Reply-To as one valid address (422 otherwise), or None."""
    if "Reply-To" not in message:
        return None
    try:
        found = [a for a in message.get_all("Reply-To") for a in a.addresses]
    except (AttributeError, ValueError, IndexError):
        found = []
    if len(found) != 1:
        raise InvalidBody("Reply-To must be one address", error="invalid_message")
    try:
        return Address(email=found[0].addr_spec, name=found[0].display_name or None)
    except ValueError as exc:  # pydantic's ValidationError: the address is not valid
        raise InvalidBody(f"Reply-To is not a valid address: {found[0].addr_spec}", error="invalid_message") from exc


def rewrite_raw(who: ChannelAddresses, raw: bytes, message_id: str) -> EmailMessage:
    """Take a caller's RFC 822 message; keep its content and the headers in RAW_KEPT_HEADERS, set every address
    header from the channel."""
    if not raw.strip():
        raise InvalidBody("the raw message is empty", error="invalid_message")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not message.keys():
        raise InvalidBody("not an RFC 822 message: no header lines before the body", error="invalid_message")
    subject = str(message.get("Subject", ""))
    if not LINE_BREAKS.isdisjoint(subject):
        raise InvalidBody("Subject must not contain line breaks", error="invalid_message")
    reply_to = _raw_reply_to(message)
    for name in ({name.lower() for name in message} - RAW_KEPT_HEADERS) | {"reply-to"}:
        del message[name]
    if reply_to:
        message["Reply-To"] = header_address(reply_to)
    _address_headers(message, who, message_id)
    return message
