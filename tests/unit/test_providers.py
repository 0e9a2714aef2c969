"""SES error classification (botocore Stubber, real error shapes) and the provider chain's rules."""

import pytest
from botocore.stub import Stubber

from mailrelay import aws
from mailrelay.providers import chain
from mailrelay.providers.base import Failure, Outgoing, ProviderError
from mailrelay.providers.ses import SesProvider

MESSAGE = Outgoing(
    sender="a@example.com", to=["b@example.com"], cc=[], bcc=["c@example.com"], raw=b"x", tags={"k": "v"}
)


@pytest.fixture
def ses():
    aws.clear_caches()
    client = aws.client("sesv2")
    with Stubber(client) as stubber:
        yield stubber
    aws.clear_caches()


def test_ses_sends_raw_with_envelope_and_tags(ses):
    ses.add_response(
        "send_email",
        {"MessageId": "m-1"},
        {
            "FromEmailAddress": "a@example.com",
            "Destination": {"ToAddresses": ["b@example.com"], "BccAddresses": ["c@example.com"]},
            "Content": {"Raw": {"Data": b"x"}},
            "EmailTags": [{"Name": "k", "Value": "v"}],
        },
    )
    assert SesProvider().send(MESSAGE) == "m-1"


@pytest.mark.parametrize(
    "code, message, failure",
    [
        (
            "MessageRejected",
            "Email address is not verified. The following identities failed the check",
            Failure.PROVIDER,
        ),
        ("MessageRejected", "Did not have authority to send from email a@example.com", Failure.PROVIDER),
        ("MessageRejected", "Illegal address", Failure.MESSAGE),
        ("BadRequestException", "Missing final '@domain'", Failure.MESSAGE),
        ("TooManyRequestsException", "Maximum sending rate exceeded.", Failure.PROVIDER),
        ("SendingPausedException", "Sending is paused for this account.", Failure.PROVIDER),
        ("AccessDeniedException", "not authorized to perform ses:SendEmail", Failure.PROVIDER),
    ],
)
def test_ses_error_classification(ses, code, message, failure):
    ses.add_client_error("send_email", service_error_code=code, service_message=message, http_status_code=400)
    with pytest.raises(ProviderError) as caught:
        SesProvider().send(MESSAGE)
    assert caught.value.failure is failure
    assert code in caught.value.reason


class Scripted:
    """A provider that answers from a script: an id, or a ProviderError to raise."""

    def __init__(self, name, outcome):
        self.name, self.outcome, self.calls = name, outcome, 0

    def send(self, message):
        self.calls += 1
        if isinstance(self.outcome, ProviderError):
            raise self.outcome
        return self.outcome


def test_chain_falls_over_on_provider_trouble_only():
    first = Scripted("one", ProviderError(Failure.PROVIDER, "down"))
    second = Scripted("two", "id-2")
    delivered = chain.send([first, second], MESSAGE)
    assert delivered.provider == "two"
    assert [(a.provider, a.outcome) for a in delivered.attempts] == [("one", "failed"), ("two", "sent")]


@pytest.mark.parametrize("failure, outcome", [(Failure.MESSAGE, "rejected"), (Failure.UNKNOWN, "unknown")])
def test_chain_stops_on_message_rejection_or_unknown_outcome(failure, outcome):
    first = Scripted("one", ProviderError(failure, "bad"))
    second = Scripted("two", "id-2")
    with pytest.raises(chain.Undelivered) as caught:
        chain.send([first, second], MESSAGE)
    assert caught.value.failure is failure and second.calls == 0
    assert [(a.provider, a.outcome, a.error) for a in caught.value.attempts] == [("one", outcome, "bad")]


def test_chain_reports_every_failed_attempt():
    providers = [
        Scripted("one", ProviderError(Failure.PROVIDER, "a")),
        Scripted("two", ProviderError(Failure.PROVIDER, "b")),
    ]
    with pytest.raises(chain.Undelivered) as caught:
        chain.send(providers, MESSAGE)
    assert caught.value.failure is Failure.PROVIDER
    assert [a.error for a in caught.value.attempts] == ["a", "b"]
