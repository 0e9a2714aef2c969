"""Request models: every field rule the contract states (Given a body, When validated, Then accepted/refused)."""

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mailrelay.models import common as common_models
from mailrelay.models import messages as message_models
from mailrelay.models.channels import ChannelSpec, RelayeryChannelSpec
from mailrelay.models.messages import MessageRequest

CHANNEL = {"sender": {"email": "noreply@example.com", "name": "Site"}, "recipients": ["team@example.com"]}


def test_channel_defaults_and_address_forms():
    spec = ChannelSpec.model_validate({**CHANNEL, "cc": [{"email": "Boss@Example.COM", "name": "Boss"}]})
    assert spec.max_size == 5_000_000
    assert spec.min_period == 0
    assert spec.recipients[0].email == "team@example.com"
    assert spec.cc[0].email == "Boss@example.com"  # email-validator normalises the domain
    assert spec.cc[0].name == "Boss"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"recipients": []}, "at least 1"),
        ({"recipients": ["not-an-address"]}, "invalid email"),
        ({"sender": {"email": "a@example.com", "name": "Evil\r\nBcc: x@y.z"}}, "CR, LF"),
        ({"sender": "a@example.com\r\nBcc: x@y.z"}, "CR, LF"),
        ({"min_period": -1}, "greater than or equal to 0"),
        ({"max_size": 0}, "greater than or equal to 1"),
        ({"max_size": 10_000_000}, "6 MB"),
        ({"token": "short"}, "at least 16"),
        ({"token": "has spaces in it, sixteen+"}, "pattern"),
        ({"to": ["x@example.com"]}, "Extra inputs are not permitted"),
        (
            {"recipients": [f"r{i}@example.com" for i in range(40)], "bcc": [f"b{i}@example.com" for i in range(11)]},
            "at most 50",
        ),
    ],
)
def test_channel_rejects(change, message):
    with pytest.raises(ValidationError) as caught:
        ChannelSpec.model_validate({**CHANNEL, **change})
    assert message in str(caught.value)


def test_relayery_alias_takes_descriptor_and_refuses_10mb_example():
    spec = RelayeryChannelSpec.model_validate({**CHANNEL, "descriptor": "some-channel", "max_size": 5_500_000})
    assert spec.descriptor == "some-channel"
    with pytest.raises(ValidationError, match="6 MB"):
        RelayeryChannelSpec.model_validate({**CHANNEL, "descriptor": "some-channel", "max_size": 10_000_000})
    with pytest.raises(ValidationError, match="pattern"):
        RelayeryChannelSpec.model_validate({**CHANNEL, "descriptor": "bad/name"})


@pytest.mark.parametrize("alias", ["text", "content", "message"])
def test_message_text_aliases(alias):
    assert MessageRequest.model_validate({"subject": "s", alias: "body"}).text == "body"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"text": "x"}, "subject"),
        ({"subject": "a\r\nBcc: x@y.z", "text": "x"}, "CR, LF"),
        ({"subject": "x" * 999, "text": "x"}, "at most 998"),
        ({"subject": "s"}, "give text"),
        ({"subject": "s", "text": "x", "to": "x@y.z"}, "Extra inputs"),
        ({"subject": "s", "text": "x", "reply_to": "nope"}, "invalid email"),
        ({"subject": "s", "text": "x", "attachments": [{"filename": "a", "content": "***"}]}, "base64"),
        ({"subject": "s", "text": "x", "attachments": [{"filename": "../a", "content": "aGk="}]}, "path"),
        ({"subject": "s", "text": "x", "tags": {"bad tag": "v"}}, "pattern"),
    ],
)
def test_message_rejects(body, message):
    with pytest.raises(ValidationError) as caught:
        MessageRequest.model_validate(body)
    assert message in str(caught.value)


def test_attachment_decodes_wrapped_base64():
    content = base64.encodebytes(b"x" * 200).decode()  # MIME-style line-wrapped base64 is fine
    request = MessageRequest.model_validate(
        {"subject": "s", "html": "<p>x</p>", "attachments": [{"filename": "x.bin", "content": content}]}
    )
    assert request.attachments[0].data() == b"x" * 200
    assert request.attachments[0].content_type == "application/octet-stream"


# ---------------------------------------------------------------- the spec states what the validators do


TRICKY = "AB+/=9\n \t\u2028\x85\x0b/\\a."


def _accepts(check, value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


@settings(max_examples=3000, database=None, deadline=None)
@given(st.text(alphabet=TRICKY, max_size=12) | st.text(max_size=12))
def test_the_patterns_in_the_spec_accept_exactly_what_the_validators_accept(value: str):
    """Schemathesis and every client generate from these patterns: a pattern wider or narrower than its validator is
    a spec that lies (a 422 for a documented-valid value, or a 200 for a documented-invalid one)."""
    for pattern, check in (
        (message_models.BASE64_PATTERN, message_models._decode_base64),
        (common_models.NO_LINE_BREAKS, common_models._no_line_breaks),
        (
            message_models.FILENAME_PATTERN,
            lambda v: message_models._plain_filename(common_models._no_line_breaks(v)) if v else _fail(),
        ),
    ):
        assert bool(re.fullmatch(pattern, value)) == _accepts(check, value), (pattern, value)


def _fail():
    raise ValueError("empty")
