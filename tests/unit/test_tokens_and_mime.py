"""Tokens (hash only, constant-time compare) and MIME composition (channel decides every address)."""

from email import policy
from email.parser import BytesParser

import pytest

from mailrelay.domain import mime, tokens
from mailrelay.errors import InvalidBody
from mailrelay.models.common import Address
from mailrelay.models.messages import MessageRequest

WHO = mime.ChannelAddresses(
    sender=Address(email="noreply@example.com", name="Wébsite"),
    to=[Address(email="team@example.com")],
    cc=[Address(email="boss@example.com", name="Boss")],
    bcc=[Address(email="audit@example.com")],
)


def test_generated_tokens_are_long_random_and_only_hashes_are_kept():
    first, second = tokens.generate(), tokens.generate()
    assert first != second and len(first) >= 43  # 32 bytes, urlsafe base64
    stored = tokens.hash_token(first)
    assert first not in stored.model_dump_json()
    assert tokens.matches(first, stored)
    assert not tokens.matches(second, stored)
    assert tokens.hash_token(first).salt != stored.salt  # salted: same token, different hash


def parse(message):
    return BytesParser(policy=policy.default).parsebytes(mime.as_bytes(message))


def test_compose_sets_channel_addresses_and_every_part():
    request = MessageRequest.model_validate(
        {
            "subject": "Héllo",
            "text": "plain",
            "html": "<b>html</b>",
            "reply_to": "visitor@example.org",
            "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "content": "JVBERi0="}],
        }
    )
    message = parse(mime.compose(WHO, request, "id-1"))
    assert message["From"].addresses[0].addr_spec == "noreply@example.com"
    assert message["From"].addresses[0].display_name == "Wébsite"
    assert [a.addr_spec for a in message["To"].addresses] == ["team@example.com"]
    assert [a.addr_spec for a in message["Cc"].addresses] == ["boss@example.com"]
    assert message["Bcc"] is None  # Bcc travels in the envelope only
    assert str(message["Subject"]) == "Héllo"
    assert str(message["Reply-To"]) == "visitor@example.org"
    assert message["X-Mailrelay-Id"] == "id-1"
    assert message["Message-ID"].endswith("@example.com>")
    assert message.get_body(("plain",)).get_content().strip() == "plain"
    assert message.get_body(("html",)).get_content().strip() == "<b>html</b>"
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "a.pdf"
    assert attachment.get_payload(decode=True) == b"%PDF-"


def test_raw_message_keeps_content_and_replaces_addresses():
    raw = (
        b"From: attacker@evil.test\r\nTo: victim@elsewhere.test\r\nBcc: hidden@evil.test\r\n"
        b"Subject: Backup done\r\nContent-Type: text/plain\r\n\r\nAll good.\r\n"
    )
    message = parse(mime.rewrite_raw(WHO, raw, "id-2"))
    assert message["From"].addresses[0].addr_spec == "noreply@example.com"
    assert [a.addr_spec for a in message["To"].addresses] == ["team@example.com"]
    assert message["Bcc"] is None
    assert "evil.test" not in message.as_string() and "elsewhere.test" not in message.as_string()
    assert str(message["Subject"]) == "Backup done"
    assert message.get_content().strip() == "All good."


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"just some text without headers"])
def test_raw_message_must_be_rfc822(raw):
    with pytest.raises(InvalidBody):
        mime.rewrite_raw(WHO, raw, "id-3")


def test_compose_encodes_what_is_not_plain_ascii_and_every_part_reads_back():
    long_line = "x" * 1200  # RFC 5322 caps a line at 998 characters: this one must be encoded
    request = MessageRequest.model_validate(
        {
            "subject": "Grüße, " + "lang " * 30,
            "text": "Grüße aus Köln\n" + long_line,
            "attachments": [{"filename": "Übersicht.txt", "content_type": "text/plain", "content": "SGk="}],
        }
    )
    raw = mime.as_bytes(mime.compose(WHO, request, "id-4", Address(email="ada@example.org", name="Ada Lövelace")))
    assert raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert str(message["Subject"]) == request.subject
    assert message["Reply-To"].addresses[0].display_name == "Ada Lövelace"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Grüße aus Köln\n" + long_line
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "Übersicht.txt" and attachment.get_payload(decode=True) == b"Hi"
    assert message["MIME-Version"] == "1.0" and all(p["MIME-Version"] is None for p in message.iter_parts())


def test_short_ascii_text_goes_as_7bit_and_an_international_domain_in_its_idna_form():
    request = MessageRequest.model_validate({"subject": "s", "text": "hi"})
    assert b"Content-Transfer-Encoding: 7bit" in mime.as_bytes(mime.compose(WHO, request, "id-5"))
    idn = mime.ChannelAddresses(
        Address(email="info@bücher.example", name="Bü"), [Address(email="t@example.com")], [], []
    )
    message = parse(mime.compose(idn, request, "id-6"))
    assert message["From"].addresses[0].addr_spec == "info@xn--bcher-kva.example"
    assert message["From"].addresses[0].display_name == "Bü"
    # A channel stored before the models refused such addresses: the send is a 422, never a 500
    eai = mime.ChannelAddresses(
        Address.model_construct(email="jörg@example.com"), [Address(email="t@example.com")], [], []
    )
    with pytest.raises(InvalidBody, match="SMTPUTF8"):
        mime.compose(eai, request, "id-7")


def test_short_headers_are_written_as_they_are_and_long_ones_folded():
    subject = "word " * 60  # 300 characters of plain ASCII
    raw = mime.as_bytes(mime.compose(WHO, MessageRequest.model_validate({"subject": subject, "text": "t"}), "id-8"))
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert b"X-Mailrelay-Id: id-8" in head and all(len(line) <= 78 for line in head)
    assert (
        str(
            parse(mime.compose(WHO, MessageRequest.model_validate({"subject": subject, "text": "t"}), "i"))["Subject"]
        ).strip()
        == subject.strip()
    )


def test_no_line_over_998_and_every_value_reads_back_whatever_the_caller_sends():
    """Found in review: a form feed hid a long line from the 7bit check; long RFC 2231 file names and long unbroken
    subjects came out unfolded; IDNA 2003 turned straße.de into strasse.de (someone else's domain)."""
    who = mime.ChannelAddresses(Address(email="a@straße.de", name="Jörg"), [Address(email="b@faß.de")], [], [])
    request = MessageRequest.model_validate(
        {
            "subject": "x" * 998,
            "text": "a\x0c" + "b" * 1500,
            "attachments": [{"filename": "é" * 251, "content_type": "text/plain", "content": "SGk="}],
        }
    )
    message = mime.compose(who, request, "id-9")
    raw = mime.as_bytes(message)
    assert raw.isascii() and max(len(line) for line in raw.split(b"\r\n")) <= 78
    parsed = parse(message)
    assert str(parsed["Subject"]) == "x" * 998
    assert parsed["From"].addresses[0].addr_spec == "a@xn--strae-oqa.de"
    assert parsed["To"].addresses[0].addr_spec == "b@xn--fa-hia.de"
    assert parsed["Message-ID"].endswith("@xn--strae-oqa.de>")
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == "a\x0c" + "b" * 1500
    [attachment] = parsed.iter_attachments()
    assert attachment.get_filename() == "é" * 251
    assert mime.ascii_address("b@faß.de") == "b@xn--fa-hia.de"


def test_a_raw_message_keeps_content_and_informational_headers_and_nothing_that_steers_a_provider():
    raw = (
        b"From: a@evil.test\r\nTo: v@elsewhere.test\r\nSubject: Report\r\nIn-Reply-To: <1@example.com>\r\n"
        b"References: <1@example.com>\r\nList-Unsubscribe: <https://example.com/u>\r\n"
        b"X-SES-CONFIGURATION-SET: other-set\r\nX-SES-MESSAGE-TAGS: campaign=x\r\nX-SES-SOURCE-ARN: arn:aws:ses:x\r\n"
        b"X-Mailgun-Variables: {}\r\nX-Mailgun-Tag: t\r\nDisposition-Notification-To: spy@evil.test\r\n"
        b"Return-Receipt-To: spy@evil.test\r\nErrors-To: spy@evil.test\r\nReturn-Path: <spy@evil.test>\r\n"
        b"Reply-To: Ada <ada@example.org>\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
    )
    out = mime.as_bytes(mime.rewrite_raw(WHO, raw, "id-10"))
    assert b"evil.test" not in out and b"elsewhere.test" not in out
    for steering in (b"X-SES-", b"X-Mailgun-", b"Disposition-Notification-To", b"Return-Receipt-To", b"Errors-To"):
        assert steering.lower() not in out.lower()
    message = parse(mime.rewrite_raw(WHO, raw, "id-10"))
    assert str(message["Subject"]) == "Report" and message["In-Reply-To"] == "<1@example.com>"
    assert message["List-Unsubscribe"] == "<https://example.com/u>"
    assert str(message["Reply-To"]) == "Ada <ada@example.org>"
    assert message.get_content().strip() == "body"


@pytest.mark.parametrize(
    "reply_to", [b"a@example.org, b@example.org", b"not an address", b"x@", b"Ada <ada@example.org>, <b@example.org>"]
)
def test_a_raw_reply_to_must_be_one_valid_address(reply_to):
    raw = b"Subject: s\r\nReply-To: " + reply_to + b"\r\n\r\nbody\r\n"
    with pytest.raises(InvalidBody, match="Reply-To"):
        mime.rewrite_raw(WHO, raw, "id-11")
