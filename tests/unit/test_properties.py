"""Property tests (hypothesis) for the hand-written parsers and header sanitising (issue 11).

Whatever a caller sends, the relay may refuse it only with one of its own 4xx errors, and nothing it sends carries an
address the channel did not set. Checked here on generated (and arbitrary) input for:

- `mime.rewrite_raw` (a caller's message/rfc822) and `mime.compose` (a JSON or form message), each followed by
  `mime.as_bytes` as `delivery.prepare` does: only a `RelayError` with a 4xx status may escape (the relay's handler
  answers it; any other exception is a 500). The message that comes out keeps only `RAW_KEPT_HEADERS` and the headers
  the relay sets; every address in an address-bearing header is the channel's (or the caller's one validated
  Reply-To); the bytes on the wire have CRLF line ends only and no line over 998 octets (RFC 5322 2.1.1, 2.3).
- `formdata.parse` (contact forms): only a `RelayError` with a 4xx status may escape (`forms.submit` passes them to the
  handler); well-formed JSON, urlencoded and multipart/form-data bodies, as browsers write them, round-trip.
- The models' header text (`LINE_BREAKS`): pydantic's `ValidationError` is how a model refuses (the HTTP layer answers
  422). Every character `str.splitlines()` breaks a line at (computed here from all code points, not taken from the
  product) and NUL is refused in every header field; text without them comes back unchanged.
- `local.gateway.request_event` / `build_event`: the payload-v2 event gives the handler (`mailrelay.http.body_bytes`,
  `headers_of`) back exactly the request: body (base64 unless `mailrelay.limits.is_text`), lowercased header names,
  repeated headers and query parameters joined with commas, the query string; nothing else raises.

The oracles parse the output with the standard library (`email.parser`, `email.utils.getaddresses`, `urllib.parse`,
`email_validator`), never with the product's own helpers. Beside the generated input, some properties carry explicit
examples: inputs that got through before the fixes made with these tests, or that generation reaches too rarely to be
relied on. No example database and a fixed number of examples per property: a run takes seconds and never depends on
what an earlier run found.
"""

from __future__ import annotations

import base64
import io
import json
import re
import string
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from email_validator import validate_email
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.gateway import build_event, request_event
from local.template import Template
from mailrelay.domain import formdata, mime
from mailrelay.errors import RelayError
from mailrelay.http import body_bytes, headers_of
from mailrelay.limits import is_text
from mailrelay.models.common import LINE_BREAKS, Address
from mailrelay.models.forms import FormSubmission
from mailrelay.models.messages import Attachment, MessageRequest


def properties(examples: int):
    """A fixed number of examples, no deadline (the first call imports email-validator's data) and no database."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def refused_with_4xx(error: RelayError) -> None:
    assert isinstance(error, RelayError) and 400 <= error.status < 500, (type(error), error.status, error)


# ------------------------------------------------------------------ what a line break is, computed independently

# Every code point that str.splitlines() (and so Python's and other software's line handling) ends a line at.
SEPARATORS = frozenset(chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1)
# What a header field must refuse: those, and NUL (RFC 5322 allows neither in a header; C strings end at NUL).
REFUSED = SEPARATORS | {"\x00"}


def test_line_breaks_cover_every_character_splitlines_breaks_at():
    assert {"\n", "\r", "\u2028"} <= SEPARATORS  # the computation itself works
    assert REFUSED <= LINE_BREAKS, sorted(map(hex, map(ord, REFUSED - LINE_BREAKS)))


# ------------------------------------------------------------------ channels and hostile headers


@dataclass(frozen=True)
class Mailbox:
    email: str
    ascii: str  # the form a header must carry: IDNA domain, written out here (not computed by the product)
    name: str | None = None

    def address(self) -> Address:
        return Address(email=self.email, name=self.name)


SENDERS = [
    Mailbox("noreply@example.com", "noreply@example.com"),
    Mailbox("noreply@example.com", "noreply@example.com", "Wébsite"),
    Mailbox("hello@bücher.example", "hello@xn--bcher-kva.example", 'Bücher "Shop", Inc. <EU>'),
]
RECIPIENTS = [
    Mailbox("team@example.com", "team@example.com"),
    Mailbox("boss@example.org", "boss@example.org", "Boss, The"),
    Mailbox("ops@bücher.example", "ops@xn--bcher-kva.example", "Öps " * 20),
    Mailbox("Sales+forms@example.com", "Sales+forms@example.com", "Sales (EU)"),
    Mailbox("desk@example.org", "desk@example.org", f"Help desk {'x' * 50} <ceo@evil.example.org>, y"),
    Mailbox(f"{'l' * 64}@mail.example.org", f"{'l' * 64}@mail.example.org", f'"Long", {"a" * 50} <ceo@example.net>, x'),
]
BLIND = [Mailbox("audit@example.com", "audit@example.com"), Mailbox("hidden@example.net", "hidden@example.net")]


@st.composite
def channels(draw) -> tuple[mime.ChannelAddresses, Mailbox, list[Mailbox], list[Mailbox], list[Mailbox]]:
    sender = draw(st.sampled_from(SENDERS))
    to = draw(st.lists(st.sampled_from(RECIPIENTS), max_size=3, unique=True))
    cc = draw(st.lists(st.sampled_from([r for r in RECIPIENTS if r not in to]), max_size=2, unique=True))
    bcc = draw(st.lists(st.sampled_from(BLIND), max_size=2, unique=True))
    who = mime.ChannelAddresses(
        sender.address(), [a.address() for a in to], [a.address() for a in cc], [a.address() for a in bcc]
    )
    return who, sender, to, cc, bcc


# Headers that carry addresses (RFC 5322, RFC 8098, and what mail software reads addresses or routes from).
ADDRESS_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "return-path",
        "errors-to",
        "disposition-notification-to",
        "return-receipt-to",
        "x-confirm-reading-to",
        "mail-followup-to",
        "mail-reply-to",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "apparently-to",
        "x-envelope-from",
        "x-envelope-to",
        "x-forwarded-to",
        "x-sender",
        "x-receiver",
        "list-post",
    }
)
RELAY_SETS = frozenset({"from", "to", "cc", "reply-to", "date", "message-id", "x-mailrelay-id"})
HOSTILE_NAMES = sorted(
    ADDRESS_HEADERS
    | {
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "resent-reply-to",
        "resent-date",
        "resent-message-id",
        "x-ses-configuration-set",
        "x-ses-message-tags",
        "x-ses-source-arn",
        "x-ses-from-arn",
        "x-ses-return-path-arn",
        "x-mailgun-variables",
        "x-mailgun-tag",
        "x-mailgun-deliverby",
        "x-mailgun-drop-message",
        "x-mailgun-require-tls",
        "x-mailgun-sending-ip-pool",
        "x-mailgun-track",
        "x-mailrelay-id",
        "dkim-signature",
        "received",
        "subject",
        "message-id",
        "date",
        "in-reply-to",
        "references",
        "keywords",
        "comments",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
        "list-unsubscribe",
    }
)
EVIL = [
    "attacker@evil.example.org",
    "victim@elsewhere.example.net",
    "ceo@example.com",  # the channel's own domain
    "x.y+tag@evil.example.org",
    '"quoted local"@evil.example.org',
    "root@[192.0.2.1]",
    "bounce@evil.test",
]
BREAKS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x00"]
HOSTILE_TEXT = st.lists(
    st.one_of(
        st.sampled_from([*BREAKS, " ", "\t", ":", ";", ",", "<", ">", "@", '"', "(", ")", "\\", "=?", "?=", "é", "€"]),
        st.sampled_from(string.ascii_letters),
    ),
    max_size=20,
).map("".join)
# A display name long enough to be folded, with an address in it: a folder that splits a quoted string (or that decodes
# an encoded word and writes its specials back unquoted) turns the name into a second mailbox.
LONG_NAMES = st.builds(
    lambda prefix, pad, address, suffix: f"{prefix}{'a' * pad} <{address}>,{suffix}",
    st.sampled_from(["", "Jörg ", '"', "x\\", "Ünïcode, "]),
    st.integers(20, 90),
    st.sampled_from(["attacker@evil.example.org", "victim@elsewhere.example.net"]),
    st.sampled_from(["", " x", ' "y', " =?utf-8?q?z?="]),
)


def any_case(name: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
    return flips.map(lambda up: "".join(c.upper() if u else c.lower() for c, u in zip(name, up, strict=True)))


HEADER_NAMES = st.one_of(
    st.sampled_from(HOSTILE_NAMES).flatmap(any_case),
    st.sampled_from(sorted(mime.RAW_KEPT_HEADERS)).flatmap(any_case),
    st.from_regex(r"[!-9;-~]{1,16}", fullmatch=True),
)


def encoded_word(text: str, kind: str) -> str:
    data = text.encode("utf-8")
    if kind == "b":
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    return "=?utf-8?q?" + "".join(chr(b) if chr(b).isalnum() else f"={b:02X}" for b in data) + "?="


DISPLAY_NAMES = st.one_of(
    HOSTILE_TEXT,
    HOSTILE_TEXT.map(lambda t: '"' + t + '"'),
    LONG_NAMES,
    LONG_NAMES.map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.tuples(HOSTILE_TEXT, st.sampled_from("qb")).map(lambda a: encoded_word(*a)),
)
MAILBOXES = st.one_of(
    st.sampled_from(EVIL),
    st.tuples(DISPLAY_NAMES, st.sampled_from(EVIL)).map(lambda a: f"{a[0]} <{a[1]}>"),
    st.sampled_from(EVIL).map(lambda a: f"<{a}> (comment {a})"),
    st.sampled_from(EVIL).map(lambda a: f"group: {a}, {a};"),
)
ADDRESS_LISTS = st.lists(MAILBOXES, min_size=1, max_size=3).map(", ".join)
INJECTIONS = st.builds(
    lambda before, brk, name, addresses: f"{before}{brk}{name}: {addresses}",
    HOSTILE_TEXT,
    st.sampled_from(BREAKS),
    HEADER_NAMES,
    ADDRESS_LISTS,
)
HEADER_VALUES = st.one_of(
    ADDRESS_LISTS,
    HOSTILE_TEXT,
    INJECTIONS,
    st.tuples(st.one_of(HOSTILE_TEXT, INJECTIONS), st.sampled_from("qb")).map(lambda a: encoded_word(*a)),
    st.tuples(st.sampled_from(["a", "x<@", ". ", "é", "\udcff"]), st.integers(0, 1100)).map(
        lambda a: f"<{a[0] * a[1]}@x>"  # long lines, some 8-bit (a lone surrogate is written as the byte 0xff)
    ),
    st.lists(  # 8-bit bytes (UTF-8 line separators among them), in and around encoded words
        st.sampled_from(
            [b"\xc2\x85", b"\xe2\x80\xa8", b"\x80", b"\xff", b"=?utf-8?q?", b"=?utf?q?", b"?=", b"=80", b"a", b" "]
        ),
        max_size=12,
    ).map(lambda parts: b"".join(parts).decode("utf-8", "surrogateescape")),
)


@st.composite
def header_lines(draw) -> bytes:
    name = draw(HEADER_NAMES) + draw(st.sampled_from([""] * 8 + [" ", "\t"]))  # obsolete: WSP before the colon
    value = draw(HEADER_VALUES)
    if draw(st.booleans()):  # folded: continuation lines
        value = re.sub(" ", lambda _: draw(st.sampled_from([" ", "\r\n ", "\n\t", "\r\n\t "])), value)
    if draw(st.integers(0, 9)) == 0:  # 8-bit junk, not UTF-8
        return name.encode() + b": " + draw(st.binary(max_size=30))
    return f"{name}: {value}".encode("utf-8", "surrogateescape")


REPLY_TO = st.tuples(st.sampled_from(["Reply-To", "reply-to", "REPLY-TO"]), MAILBOXES).map(
    lambda a: f"{a[0]}: {a[1]}".encode()
)
BODIES = st.one_of(
    st.text(max_size=200).map(lambda t: t.encode()),
    st.binary(max_size=200),
    st.integers(0, 1500).map(lambda n: b"b" * n + b"\r\nend"),
    st.just(b"--x\r\nBcc: part@evil.example.org\r\nContent-Type: text/plain\r\n\r\npart\r\n--x--\r\n"),
)


SUBJECTS = st.tuples(
    any_case("subject"),
    st.one_of(
        HOSTILE_TEXT,
        st.tuples(st.one_of(HOSTILE_TEXT, INJECTIONS), st.sampled_from("qb")).map(lambda a: encoded_word(*a)),
    ),
).map(lambda a: f"{a[0]}: {a[1]}".encode())


@st.composite
def hostile_messages(draw) -> bytes:
    """An RFC 822 message with any header a caller could try, in any case, folded or not, any line ends; most with
    one Reply-To (a caller may set one) and a Subject, some with two."""
    lines = draw(st.lists(header_lines(), max_size=8))
    for extra, times in ((REPLY_TO, [0, 1, 1, 1, 2]), (SUBJECTS, [0, 1, 1, 2])):
        for _ in range(draw(st.sampled_from(times))):
            lines.insert(draw(st.integers(0, len(lines))), draw(extra))
    eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return eol.join(lines or [b"X-Empty: "]) + eol + eol + draw(BODIES)


def _strings(values) -> list[str]:
    return [str(v) for v in values or []]


def _reply_to_text(raw: bytes) -> str:
    """The caller's own Reply-To header text (unfolded), read by the standard library's compat32 parser."""
    parsed = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    return " ".join(_strings(parsed.get_all("Reply-To"))).lower()


def _addr_specs(message, name: str) -> list[str]:
    """Every address in the message's `name` headers: read from the text on the wire (not decoded: what a provider
    parses), strictly and leniently (a value one mode gives up on must not hide an address), and as the standard
    library's structured header sees it (after decoding the display names)."""
    wire = [re.sub(r"\r\n|\r|\n", "", value) for key, value in message.raw_items() if key.lower() == name.lower()]
    found = [addr for _, addr in getaddresses(wire) + getaddresses(wire, strict=False) if addr]
    found += [a.addr_spec for header in message.get_all(name, []) for a in header.addresses]
    return list(dict.fromkeys(found))


def assert_wire_format(out: bytes) -> None:
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", out) is None, "bare CR or LF"
    longest = max(out.split(b"\r\n"), key=len)
    assert len(longest) <= 998, f"a line of {len(longest)} octets: {longest[:80]!r}..."


def assert_channel_addresses(
    out: bytes, sender: Mailbox, to: list[Mailbox], cc: list[Mailbox], reply_to_text: str | None
) -> None:
    """The checks on a message the relay hands to a provider (`reply_to_text`: where a Reply-To may come from)."""
    assert_wire_format(out)
    message = BytesParser(policy=policy.default).parsebytes(out)
    names = {name.lower() for name in message}
    assert names <= mime.RAW_KEPT_HEADERS | RELAY_SETS, names - mime.RAW_KEPT_HEADERS - RELAY_SETS
    leaked = {
        n for n in names if n in ADDRESS_HEADERS - RELAY_SETS or n.startswith(("resent-", "x-ses-", "x-mailgun-"))
    }
    assert not leaked, leaked

    def addresses(name: str) -> list[str]:
        return _addr_specs(message, name)

    assert len(message.get_all("From")) == 1 and addresses("From") == [sender.ascii]
    for name, channel_set in (("To", to), ("Cc", cc)):
        assert len(message.get_all(name) or []) == (1 if channel_set else 0), name
        assert sorted(set(addresses(name))) == sorted({a.ascii for a in channel_set}), name
    replies = addresses("Reply-To")
    if replies:
        assert reply_to_text is not None and len(message.get_all("Reply-To")) == 1 and len(set(replies)) == 1
        assert replies[0].lower() in reply_to_text, f"Reply-To {replies[0]} is not the caller's"
        validate_email(replies[0], check_deliverability=False)  # raises EmailNotValidError: not a valid address
    allowed = {sender.ascii, *(a.ascii for a in (*to, *cc)), *replies}
    for name in names & ADDRESS_HEADERS:
        assert set(addresses(name)) <= allowed, (name, message.get_all(name))
    for subject in _strings(message.get_all("Subject")):
        assert REFUSED.isdisjoint(subject), f"line break in Subject: {subject!r}"


# ------------------------------------------------------------------ 1. rewrite_raw


@properties(250)
@given(channel=channels(), raw=st.one_of(st.binary(max_size=600), hostile_messages().map(lambda m: m[:600])))
@example(channel=None, raw=b"Subject: hi\r\nMessage-ID:\r\n <" + b"a" * 990 + b"@x>\r\n\r\nbody\r\n")
@example(channel=None, raw=b"Subject: hi\r\nSubject: =?utf-8?q?x=0ABcc:_v@evil.example.org?=\r\n\r\nbody\r\n")
@example(channel=None, raw=b"MIME-Version: \xc2\x85\r\n\r\nbody\r\n")
@example(channel=None, raw=b"In-Reply-To:=?utf?q?\x80\xc2=80?=")
def test_rewrite_raw_on_any_bytes_refuses_with_4xx_or_sends_only_channel_addresses(channel, raw):
    """Arbitrary bytes (and truncated hostile messages): a 4xx RelayError, or a message that passes every check."""
    check_rewrite(channel, raw)


@properties(400)
@given(channel=channels(), raw=hostile_messages())
@example(channel=None, raw=b"From: attacker@evil.example.org\r\nX-SES-CONFIGURATION-SET: other\r\n\r\nbody\r\n")
@example(channel=None, raw=b"Subject: =?utf-8?q?hi=0D=0ABcc:_v@evil.example.org?=\r\n\r\nbody\r\n")
@example(channel=None, raw=b"Reply-To: a@evil.example.org, b@evil.example.org\r\n\r\nbody\r\n")
@example(channel=None, raw=b"Reply-To: bounce@evil.test\r\n\r\nbody\r\n")
@example(channel=None, raw=b'Reply-To: "' + b"a" * 60 + b' <victim@elsewhere.example.net>, x" <r@example.org>\r\n\r\nb')
@example(channel=None, raw=b'Reply-To: "J\xc3\xb6rg" <r@example.org>\r\n\r\nb')
def test_rewrite_raw_keeps_no_caller_header_that_addresses_or_routes_the_message(channel, raw):
    """Hostile headers in any case, folded, with line breaks of every kind, repeated: a 4xx RelayError, or only kept
    and relay-set headers, addresses only from the channel and one valid Reply-To, clean CRLF lines."""
    check_rewrite(channel, raw)


def default_channel():
    """The channel of the explicit examples: an IDN sender with a display name full of specials, one Bcc."""
    sender, to, bcc = SENDERS[2], [RECIPIENTS[0], RECIPIENTS[4]], [BLIND[0]]
    who = mime.ChannelAddresses(sender.address(), [a.address() for a in to], [], [a.address() for a in bcc])
    return who, sender, to, [], bcc


def check_rewrite(channel, raw: bytes) -> None:
    who, sender, to, cc, _ = channel or default_channel()
    try:
        out = mime.as_bytes(mime.rewrite_raw(who, raw, "id-1"))
    except RelayError as error:
        refused_with_4xx(error)
        return
    assert_channel_addresses(out, sender, to, cc, _reply_to_text(raw))


# ------------------------------------------------------------------ compose (JSON messages)

HEADER_SAFE = st.characters(exclude_categories=("Cs",), exclude_characters=REFUSED)
HEADER_TEXTS = st.text(alphabet=HEADER_SAFE, min_size=1, max_size=120)
FILENAMES = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters=REFUSED | {"/", "\\"}))


@st.composite
def message_requests(draw) -> dict:
    body = {"subject": draw(st.one_of(HEADER_TEXTS, st.integers(1, 998).map(lambda n: "s" * n)))}
    for key in draw(st.lists(st.sampled_from(["text", "html"]), min_size=1, max_size=2, unique=True)):
        body[key] = draw(st.one_of(st.text(max_size=300), st.integers(0, 2000).map(lambda n: "L" * n)))
    if draw(st.booleans()):
        body["reply_to"] = draw(st.sampled_from(EVIL[:4]))
    body["attachments"] = [
        {"filename": name, "content": base64.b64encode(data).decode()}
        for name, data in draw(
            st.lists(st.tuples(FILENAMES.filter(lambda f: 0 < len(f) <= 255), st.binary()), max_size=2)
        )
    ]
    return body


@properties(150)
@given(
    channel=channels(),
    body=message_requests(),
    reply_to=st.one_of(
        st.none(),
        st.tuples(st.sampled_from(EVIL[:4]), st.one_of(st.none(), HEADER_TEXTS, LONG_NAMES)),
    ),
)
@example(
    channel=None, body={"subject": "s", "text": "t"}, reply_to=(EVIL[0], "x" * 60 + " <victim@elsewhere.example>, y")
)
@example(channel=None, body={"subject": "s", "text": "t"}, reply_to=(EVIL[0], 'Jörg", victim@elsewhere.example, "x'))
def test_compose_sends_only_channel_addresses_in_clean_lines(channel, body, reply_to):
    """A JSON message (or a form's, with the visitor's name on Reply-To) the models accept composes into a message
    that passes the same checks as a raw one."""
    who, sender, to, cc, _ = channel or default_channel()
    request = MessageRequest.model_validate(body)
    reply = Address(email=reply_to[0], name=reply_to[1]) if reply_to else None
    try:
        out = mime.as_bytes(mime.compose(who, request, "id-2", reply))
    except RelayError as error:
        refused_with_4xx(error)
        return
    replying = reply.email if reply else request.reply_to
    assert_channel_addresses(out, sender, to, cc, replying.lower() if replying else None)


# ------------------------------------------------------------------ 2. formdata.parse

FORM_TYPES = [
    "application/json",
    "application/problem+json",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary="a b"',
    "multipart/form-data; boundary*=utf-8''%C3%A9",
    "text/plain",
    "",
]
CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(FORM_TYPES).flatmap(any_case),
    st.text(max_size=40),
    st.builds(lambda kind, params: kind + params, st.sampled_from(FORM_TYPES[:5]), st.text(max_size=30)),
)
CHARSETS = ["utf-8", "UTF-8", "latin-1", "utf-16", "idna", "utf-7", "rot13", "hex", "bogus", "", "utf-8''x", '"utf-8"']
ENCODINGS = ["base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "uuencode", "bogus", ""]
PAYLOADS = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=40).map(lambda t: t.encode()),
    st.binary(max_size=40).map(base64.b64encode),
    st.sampled_from([b"====", b"YQ", b"begin 644 f\r\n#86)C\r\n`\r\nend\r\n", b"=\r\n=ZZ=4"]),
)


@st.composite
def multipart_bodies(draw) -> tuple[str, bytes]:
    """A multipart/form-data body with random boundary, part headers, parameters, charsets and encodings; then maybe
    cut or spliced."""
    boundary = draw(st.one_of(st.from_regex(r"[0-9A-Za-z'()+_,./:=?-]{1,70}", fullmatch=True), st.text(max_size=20)))
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        headers = []
        params = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["name", "name", "name*", "filename", "filename*", "x"]),
                    st.one_of(st.sampled_from(["a", "email", "utf-8''%C3%A9", "utf-8''%FF"]), HOSTILE_TEXT),
                    st.booleans(),
                ),
                max_size=3,
            )
        )
        disposition = "form-data" + "".join(f'; {k}="{v}"' if quoted else f"; {k}={v}" for k, v, quoted in params)
        headers.append(f"{draw(any_case('content-disposition'))}: {disposition}")
        if draw(st.booleans()):
            media = draw(st.sampled_from(["text/plain", "application/octet-stream", "multipart/mixed", "x"]))
            headers.append(f"Content-Type: {media}; charset={draw(st.sampled_from(CHARSETS))}")
        if draw(st.booleans()):
            headers.append(f"Content-Transfer-Encoding: {draw(st.sampled_from(ENCODINGS))}")
        head = eol.join(headers).encode("utf-8", "surrogatepass")
        parts.append(head + eol.encode() * 2 + draw(PAYLOADS))
    delimiter = f"{eol}--{boundary}{eol}".encode("utf-8", "surrogatepass")
    body = delimiter.join([b"", *parts]) + f"{eol}--{boundary}--{eol}".encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.binary(max_size=20)) + body[cut + draw(st.integers(0, 10)) :]
    written = draw(
        st.sampled_from(
            [f'"{boundary}"', '"' + boundary.replace("\\", "\\\\").replace('"', '\\"') + '"', boundary, quote(boundary)]
        )
    )
    return f"multipart/form-data; boundary={written}", body


def check_parse(content_type: str | None, body: bytes) -> None:
    try:
        fields, uploads = formdata.parse(content_type, body)
    except RelayError as error:
        refused_with_4xx(error)
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    assert all(isinstance(u.data, bytes) and u.data for u in uploads)
    json.dumps(fields)  # what is mailed and logged must be representable


JSON_BODIES = st.one_of(
    st.sampled_from([b"", b"[]", b"1", b'"s"', b"null", b'{"a": {"b": 1}}', b'{"a": [1]}', b'{"email": 1}', b"{"]),
    st.integers(1, 200_000).map(lambda n: b"[" * n),  # deeper than the JSON parser recurses, or not
    st.binary(max_size=300),
)
URLENCODED_BODIES = st.one_of(
    st.lists(st.sampled_from([b"&", b"=", b"a", b"%", b"%ff", b"+", b";", b"%C3%A9", b"\xff"]), max_size=400).map(
        b"".join
    ),
    st.integers(0, 400).map(lambda n: b"a=1&" * n),  # around the 200-field limit
    st.binary(max_size=300),
)


@st.composite
def form_posts(draw) -> tuple[str | None, bytes]:
    kind = draw(st.sampled_from(["json", "urlencoded", "any"]))
    if kind == "json":
        return draw(st.sampled_from(FORM_TYPES[:2]).flatmap(any_case)), draw(JSON_BODIES)
    if kind == "urlencoded":
        return draw(st.sampled_from(FORM_TYPES[2:4]).flatmap(any_case)), draw(URLENCODED_BODIES)
    return draw(CONTENT_TYPES), draw(st.binary(max_size=300))


@properties(300)
@given(post=form_posts())
@example(post=("application/x-www-form-urlencoded", b"a=1&" * 250))
@example(post=("application/json", b"[" * 100_000))
@example(post=("application/json", b"[1]"))
def test_form_parse_on_any_bytes_refuses_only_with_4xx(post):
    """Any content type, any bytes (and JSON and urlencoded bodies of every shape): a 4xx RelayError or string fields
    and non-empty uploads."""
    check_parse(*post)


@properties(300)
@given(multipart=multipart_bodies())
@example(
    multipart=(
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="a"\r\nContent-Type: text/plain; charset=bogus\r\n\r\nv\r\n--b--',
    )
)
def test_form_parse_on_malformed_multipart_refuses_only_with_4xx(multipart):
    """Random boundaries, part headers, parameters (RFC 2231 too), charsets and transfer encodings, cut or spliced:
    a 4xx RelayError or string fields and non-empty uploads."""
    check_parse(*multipart)


def merged(pairs: list[tuple[str, str]], separator: str = ", ") -> dict[str, str]:
    """A name given more than once: its values in order, joined (a form field by ", ", as formdata documents; a
    query parameter or header by "," in API Gateway's payload v2)."""
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return {name: separator.join(values) for name, values in fields.items()}


FIELD_TEXT = st.text(max_size=60)
# Browsers write field and file names raw (UTF-8) in quotes, escaping only '"', CR and LF; names without those, or
# the backslash that a MIME parser reads as an escape, are written as they are.
PART_NAMES = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc")).filter(lambda c: c not in '"\\'), min_size=1
)
# The email package strips white space around a file name (get_filename); the relay cleans names further anyway.
UPLOAD_NAMES = PART_NAMES.map(str.strip).filter(bool)
MEDIA_TYPES = st.from_regex(r"[a-zA-Z]{1,10}/[a-zA-Z0-9.+-]{1,20}", fullmatch=True)


def browser_text(value: str) -> str:
    """A browser sends every line break of a text field as CRLF (HTML: "normalize line breaks")."""
    return re.sub(r"\r\n|\r|\n", "\r\n", value)


@properties(200)
@given(
    pairs=st.lists(st.tuples(st.sampled_from(["a", "b"]) | PART_NAMES, FIELD_TEXT), max_size=8),
    files=st.lists(st.tuples(PART_NAMES, UPLOAD_NAMES, MEDIA_TYPES, st.binary(min_size=1, max_size=200)), max_size=3),
    boundary=st.from_regex(r"[0-9A-Za-z'()+_,./:=?-]{0,69}[0-9A-Za-z'()+_,./:=?-]", fullmatch=True),
    order=st.randoms(use_true_random=False),
)
def test_multipart_form_fields_and_files_round_trip(pairs, files, boundary, order):
    """A multipart/form-data body as a browser writes it: every field (repeats joined) and every file (name, type,
    content bytes exactly) comes back. (A form without a single field is a 400: nothing to round-trip.)"""
    assume(pairs or files)
    pairs = [(name, browser_text(value)) for name, value in pairs]
    parts = [(f'form-data; name="{name}"', value.encode(), (name, value)) for name, value in pairs]
    parts += [(f'form-data; name="{f}"; filename="{n}"\r\nContent-Type: {t}', d, (f, n, t, d)) for f, n, t, d in files]
    order.shuffle(parts)
    if any(f"--{boundary}".encode() in head.encode() + data for head, data, _ in parts):
        boundary = "b" + base64.b32encode(order.randbytes(30)).decode()  # as a browser: one found in no part
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: {head}\r\n\r\n".encode() + data + b"\r\n" for head, data, _ in parts
    )
    body += f"--{boundary}--\r\n".encode()
    fields, uploads = formdata.parse(f'multipart/form-data; boundary="{boundary}"', body)
    assert fields == merged([sent for _, _, sent in parts if len(sent) == 2])
    assert [(u.field, u.filename, u.content_type, u.data) for u in uploads] == [
        (f, n, t.lower(), d) for _, _, sent in parts if len(sent) == 4 for f, n, t, d in [sent]
    ]


@properties(200)
@given(pairs=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=30))
def test_urlencoded_form_fields_round_trip(pairs):
    fields, uploads = formdata.parse("application/x-www-form-urlencoded", urlencode(pairs).encode())
    assert fields == merged(pairs) and uploads == []


@properties(100)
@given(fields=st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=20))
def test_json_form_fields_round_trip(fields):
    assert formdata.parse("application/json", json.dumps(fields).encode()) == (fields, [])


# ------------------------------------------------------------------ 3. header sanitising in the models


def _message(**fields):
    return MessageRequest.model_validate({"subject": "s", "text": "t", **fields})


HEADER_FIELDS = {
    "MessageRequest.subject": lambda v: _message(subject=v).subject,
    "MessageRequest.reply_to": lambda v: _message(reply_to=v).reply_to,
    "Address.name": lambda v: Address(email="a@example.com", name=v).name,
    "Address.email": lambda v: Address(email=v).email,
    "Attachment.filename": lambda v: Attachment(filename=v, content="").filename,
    "FormSubmission.name": lambda v: (
        FormSubmission.model_validate({"email": "a@example.com", "message": "m", "name": v}).name
    ),
    "FormSubmission.subject": lambda v: (
        FormSubmission.model_validate({"email": "a@example.com", "message": "m", "subject": v}).subject
    ),
    "FormSubmission.email": lambda v: FormSubmission.model_validate({"email": v, "message": "m"}).email,
}
EMAIL_FIELDS = ["MessageRequest.reply_to", "Address.email", "FormSubmission.email"]


@properties(400)
@given(
    field=st.sampled_from(sorted(HEADER_FIELDS)),
    text=st.text(alphabet=HEADER_SAFE, min_size=1, max_size=200),
    local=st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=30),
    separator=st.sampled_from(sorted(REFUSED)),
    where=st.floats(0, 1),
)
def test_header_fields_refuse_every_line_separator_and_keep_other_text_unchanged(field, text, local, separator, where):
    """Any text without line separators is accepted as it is; the same text with any separator anywhere is refused
    (an address: any valid one, with a separator in it)."""
    if field in EMAIL_FIELDS:
        text = f"{local}@example.com"
    elif field == "Attachment.filename":
        text = text.replace("/", "_").replace("\\", "_")
    assert HEADER_FIELDS[field](text) == text
    cut = round(where * len(text))
    with pytest.raises(ValidationError):
        HEADER_FIELDS[field](text[:cut] + separator + text[cut:])


# ------------------------------------------------------------------ 4. the local gateway's events

TEMPLATE = Template()
ROUTES = [route for route in TEMPLATE.routes if route.path.startswith("/")]  # not $default: no request matches it
SEGMENTS = st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=1, max_size=20)
# RFC 9110 token characters without "_" (WSGI turns "-" into "_", so a name with "_" cannot come back as sent;
# werkzeug's own server drops such headers, as nginx does) and without the names the request line and body set.
HTTP_HEADER_NAMES = st.from_regex(r"[A-Za-z0-9!#$%&'*+.^`|~-]{1,20}", fullmatch=True).filter(
    lambda n: n.lower() not in {"host", "content-type", "content-length", "cookie", "transfer-encoding"}
)
# Visible Latin-1 (what WSGI carries), without the comma that joins repeated values; a space only inside.
VISIBLE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters=",\x7f"), min_size=1
)
HTTP_HEADER_VALUES = st.one_of(VISIBLE, st.tuples(VISIBLE, VISIBLE).map(" ".join))
QUERY_NAMES = st.one_of(st.sampled_from(["a", "b", "to"]), st.text(min_size=1, max_size=8))  # repeats, too
TEXT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", "TEXT/HTML; charset=UTF-8"]
BINARY_TYPES = [
    "message/rfc822",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "image/png",
]


@st.composite
def http_requests(draw):
    route = draw(st.sampled_from(ROUTES))
    segments: dict[str, str] = {}
    path = re.sub(r"\{(\w+)\}", lambda m: segments.setdefault(m.group(1), draw(SEGMENTS)), route.path)
    query = draw(st.lists(st.tuples(QUERY_NAMES, st.text(max_size=12)), max_size=5))
    content_type = draw(st.sampled_from([None, *TEXT_TYPES, *BINARY_TYPES]))
    if content_type is not None and is_text(content_type):
        data = draw(st.text(max_size=300)).encode()
    else:
        data = draw(st.one_of(st.just(b""), st.binary(max_size=300)))
    headers = draw(st.lists(st.tuples(HTTP_HEADER_NAMES, HTTP_HEADER_VALUES), max_size=6))
    source = draw(st.one_of(st.none(), st.ip_addresses(v=4).map(str)))
    return route, path, segments, query, content_type, data, headers, source


def check_event(event, route, path, segments, query, content_type, data, source) -> None:
    event = json.loads(json.dumps(event))  # what the function is handed: JSON
    if event["routeKey"] == route.key:
        assert event.get("pathParameters", {}) == segments
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == path
    assert event["requestContext"]["http"]["sourceIp"] == (source or "127.0.0.1")
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] == (bool(data) and not is_text(content_type))
    assert ("body" in event) == bool(data)
    assert body_bytes(event) == data
    assert event["rawQueryString"] == urlencode(query)
    assert event.get("queryStringParameters", {}) == merged(parse_qsl(urlencode(query), keep_blank_values=True), ",")
    assert headers_of(event) == event["headers"]
    if content_type:
        assert headers_of(event)["content-type"] == content_type


def sent_headers(headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value)
    return values


@properties(150)
@given(request=http_requests())
@example(
    request=(
        TEMPLATE.match("POST", "/v1/forms/x")[0],
        "/v1/forms/x",
        {"descriptor": "x"},
        [],
        BINARY_TYPES[1],
        b"",
        [],
        None,
    )
)
def test_request_event_gives_the_function_the_request_back(request):
    """request_event (headers as a mapping, one value each): body, headers, query string and path as sent."""
    route, path, segments, query, content_type, data, headers, source = request
    sent = dict({name.lower(): (name, value) for name, value in reversed(headers)}.values())  # first of each name
    if content_type:
        sent["Content-Type"] = content_type
    _, event = request_event(TEMPLATE, route.method, f"{path}?{urlencode(query)}", sent, data, source)
    check_event(event, route, path, segments, query, content_type, data, source)
    for name, value in sent.items():
        assert headers_of(event)[name.lower()] == value, name


@properties(150)
@given(request=http_requests(), through_wsgi=st.booleans())
def test_build_event_joins_repeated_headers_with_commas_in_order(request, through_wsgi):
    """Headers given more than once, in any case: one lowercased entry, every value in order, joined by commas;
    either through a WSGI environ (whose own join build_event must keep) or a header multimap as build_event reads it.
    """
    route, path, segments, query, content_type, data, headers, source = request
    builder = EnvironBuilder(
        method=route.method,
        path=path,
        query_string=urlencode(query),
        headers=headers + ([("Content-Type", content_type)] if content_type else []),
        input_stream=io.BytesIO(data),  # as request_event: `data=b""` would make werkzeug write a form
        environ_base={"REMOTE_ADDR": source} if source else None,
    )
    http = Request(builder.get_environ())
    if not through_wsgi:  # the request's own headers (Host, Content-Type...), then the repeated ones as sent
        own = [(k, v) for k, v in http.headers.items() if k.lower() not in sent_headers(headers)]
        http.headers = Headers(own + headers)
    found = TEMPLATE.match(route.method, path)
    assert found is not None
    event = build_event(http, found[0], found[1], data)
    check_event(event, route, path, segments, query, content_type, data, source)
    for name, values in sent_headers(headers).items():
        assert [v.strip(" ") for v in event["headers"][name].split(",")] == values, name
