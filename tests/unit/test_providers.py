"""Provider classification, case by case: SES with botocore's Stubber (real error shapes) or a real local socket;
Mailgun against a real local HTTP server (pytest-httpserver). Then the chain's rules with scripted providers."""

import socket
import threading
import time

import pytest
from botocore.config import Config
from botocore.stub import Stubber
from werkzeug.wrappers import Response

from mailrelay import aws
from mailrelay.providers import chain
from mailrelay.providers.base import Deadline, Failure, Outgoing, ProviderError
from mailrelay.providers.mailgun import EU_BASE_URL, MailgunProvider, MailgunSettings
from mailrelay.providers.ses import CLIENT_CONFIG, SesProvider

MESSAGE = Outgoing(
    sender="a@example.com",
    to=["b@example.com"],
    cc=["c@example.com"],
    bcc=["d@example.com"],
    raw=b"Subject: x\r\n\r\nbody\r\n",
    message_id="m-1",
    tags={"k": "v"},
)
SEND_ARGS = {
    "FromEmailAddress": "a@example.com",
    "Destination": {
        "ToAddresses": ["b@example.com"],
        "CcAddresses": ["c@example.com"],
        "BccAddresses": ["d@example.com"],
    },
    "Content": {"Raw": {"Data": MESSAGE.raw}},
    "EmailTags": [{"Name": "k", "Value": "v"}, {"Name": "mailrelay_id", "Value": "m-1"}],
}


def budget(seconds: float = 24.0) -> Deadline:
    return Deadline(seconds)


# ---------------------------------------------------------------- SES


@pytest.fixture
def ses():
    aws.clear_caches()
    with Stubber(aws.client("sesv2", CLIENT_CONFIG)) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    aws.clear_caches()


def test_ses_sends_raw_with_envelope_and_tags(ses):
    ses.add_response("send_email", {"MessageId": "ses-1"}, SEND_ARGS)
    assert SesProvider().send(MESSAGE, budget()) == "ses-1"


@pytest.mark.parametrize(
    "code, status, message, failure",
    [
        # provider-side: fall over
        ("LimitExceededException", 400, "Daily message quota exceeded.", Failure.PROVIDER),
        ("SendingPausedException", 400, "Sending is paused for this account.", Failure.PROVIDER),
        ("AccountSuspendedException", 400, "Account suspended", Failure.PROVIDER),
        ("AccessDeniedException", 403, "not authorized to perform ses:SendEmail", Failure.PROVIDER),
        ("NotFoundException", 404, "Configuration set does not exist", Failure.PROVIDER),
        # channel-side: fall over, but SES is healthy (its circuit must not open for one channel's set-up)
        ("MailFromDomainNotVerifiedException", 400, "MAIL FROM domain not verified", Failure.CHANNEL),
        (
            "MessageRejected",
            400,
            "Email address is not verified. The following identities failed the check in region US-EAST-1: "
            "a@example.com",
            Failure.CHANNEL,
        ),
        ("MessageRejected", 400, "Did not have authority to send from email a@example.com", Failure.CHANNEL),
        ("InternalFailure", 500, "internal error", Failure.PROVIDER),
        ("ServiceUnavailable", 503, "Service is unavailable", Failure.PROVIDER),
        # message-side: no fallback, 4xx to the caller
        ("MessageRejected", 400, "Email address is not valid: Illegal address", Failure.MESSAGE),
        ("BadRequestException", 400, "Missing final '@domain'", Failure.MESSAGE),
    ],
)
def test_ses_error_classification(ses, code, status, message, failure):
    ses.add_client_error("send_email", service_error_code=code, service_message=message, http_status_code=status)
    with pytest.raises(ProviderError) as caught:
        SesProvider().send(MESSAGE, budget())
    assert caught.value.failure is failure
    assert code in caught.value.reason


def test_ses_throttling_gets_one_short_retry(ses):
    ses.add_client_error("send_email", "TooManyRequestsException", "Maximum sending rate exceeded.", 429)
    ses.add_response("send_email", {"MessageId": "ses-2"}, SEND_ARGS)
    started = time.monotonic()
    assert SesProvider().send(MESSAGE, budget()) == "ses-2"
    assert 0.1 <= time.monotonic() - started < 1.0  # a short jittered pause, not botocore's backoff


def test_ses_throttled_twice_is_provider_side(ses):
    for _ in range(2):
        ses.add_client_error("send_email", "TooManyRequestsException", "Maximum sending rate exceeded.", 429)
    with pytest.raises(ProviderError) as caught:
        SesProvider().send(MESSAGE, budget())
    assert caught.value.failure is Failure.PROVIDER


def test_ses_throttled_without_time_left_is_not_retried(ses):
    ses.add_client_error("send_email", "TooManyRequestsException", "Maximum sending rate exceeded.", 429)
    with pytest.raises(ProviderError) as caught:
        SesProvider().send(MESSAGE, budget(7.4))  # one whole attempt (2 + 5 s) and the jitter do not fit again
    assert caught.value.failure is Failure.PROVIDER  # and no second response was consumed


def test_ses_attempt_read_timeout_is_cut_to_the_time_left(ses):
    with pytest.raises(ProviderError) as caught:
        SesProvider().send(MESSAGE, budget(2.5))  # 2 s to connect leave less than 1 s to wait for the answer
    assert caught.value.failure is Failure.PROVIDER and "no time left" in caught.value.reason
    short = SesProvider()._client(budget(5.5))
    assert short.meta.config.read_timeout == 3 and short.meta.config.connect_timeout == 2


@pytest.fixture
def ses_endpoint(monkeypatch):
    """Point the SES client at a local address (service-specific endpoint variable, honoured by boto3)."""

    def use(url: str) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", url)
        aws.clear_caches()

    yield use
    aws.clear_caches()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ses_connection_refused_is_provider_side(ses_endpoint):
    ses_endpoint(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(ProviderError) as caught:
        SesProvider().send(MESSAGE, budget())
    assert caught.value.failure is Failure.PROVIDER


def test_ses_read_timeout_after_sending_is_unknown(ses_endpoint):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()  # accept, never answer
    ses_endpoint(f"http://127.0.0.1:{listener.getsockname()[1]}")
    quick = Config(connect_timeout=1, read_timeout=0.5, retries={"total_max_attempts": 1, "mode": "standard"})
    try:
        with pytest.raises(ProviderError) as caught:
            SesProvider(quick).send(MESSAGE, budget())
    finally:
        listener.close()
    assert caught.value.failure is Failure.UNKNOWN and accepted


# ---------------------------------------------------------------- Mailgun


def mailgun(httpserver, **kwargs) -> MailgunProvider:
    settings = MailgunSettings("key-123", "mg.example.com", httpserver.url_for("/"))
    return MailgunProvider(lambda: settings, **kwargs)


def test_mailgun_posts_mime_with_envelope_tags_and_basic_auth(httpserver):
    httpserver.expect_oneshot_request(
        "/v3/mg.example.com/messages.mime", method="POST", headers={"Authorization": "Basic YXBpOmtleS0xMjM="}
    ).respond_with_json({"id": "<mg-1@mg.example.com>", "message": "Queued. Thank you."})
    assert mailgun(httpserver).send(MESSAGE, budget()) == "<mg-1@mg.example.com>"
    [(request, _)] = httpserver.log
    assert request.form.getlist("to") == ["b@example.com", "c@example.com", "d@example.com"]
    assert request.form.getlist("o:tag") == ["k:v"] and request.form["v:mailrelay_id"] == "m-1"
    assert request.files["message"].read() == MESSAGE.raw


def test_mailgun_uses_the_channel_domain_and_configured_region(httpserver):
    httpserver.expect_oneshot_request("/v3/marketing.example.com/messages.mime").respond_with_json({"id": "x"})
    message = Outgoing(**{**MESSAGE.__dict__, "domain": "marketing.example.com"})
    assert mailgun(httpserver).send(message, budget()) == "x"
    assert MailgunSettings("k", "d", EU_BASE_URL).base_url == "https://api.eu.mailgun.net"


@pytest.mark.parametrize(
    "status, failure",
    [
        (400, Failure.MESSAGE),
        (413, Failure.MESSAGE),
        (401, Failure.PROVIDER),
        (403, Failure.PROVIDER),
        (404, Failure.PROVIDER),
    ],
)
def test_mailgun_status_classification(httpserver, status, failure):
    httpserver.expect_request("/v3/mg.example.com/messages.mime").respond_with_json({"message": "nope"}, status)
    with pytest.raises(ProviderError) as caught:
        mailgun(httpserver).send(MESSAGE, budget())
    assert caught.value.failure is failure and f"HTTP {status}" in caught.value.reason
    assert len(httpserver.log) == 1  # no retry


@pytest.mark.parametrize("status", [429, 500, 503])
def test_mailgun_retries_once_on_429_and_5xx(httpserver, status):
    httpserver.expect_ordered_request("/v3/mg.example.com/messages.mime").respond_with_json({"message": "x"}, status)
    httpserver.expect_ordered_request("/v3/mg.example.com/messages.mime").respond_with_json({"id": "second"})
    assert mailgun(httpserver).send(MESSAGE, budget()) == "second"


def test_mailgun_gives_up_after_one_retry(httpserver):
    httpserver.expect_request("/v3/mg.example.com/messages.mime").respond_with_json({"message": "busy"}, 503)
    with pytest.raises(ProviderError) as caught:
        mailgun(httpserver).send(MESSAGE, budget())
    assert caught.value.failure is Failure.PROVIDER and len(httpserver.log) == 2


def test_mailgun_no_retry_without_time_left(httpserver):
    httpserver.expect_request("/v3/mg.example.com/messages.mime").respond_with_json({"message": "busy"}, 503)
    with pytest.raises(ProviderError):
        mailgun(httpserver).send(MESSAGE, budget(5.0))
    assert len(httpserver.log) == 1


def test_mailgun_read_timeout_is_unknown(httpserver):
    def slow(_request):
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/v3/mg.example.com/messages.mime").respond_with_handler(slow)
    with pytest.raises(ProviderError) as caught:
        mailgun(httpserver, read_timeout=0.3).send(MESSAGE, budget())
    assert caught.value.failure is Failure.UNKNOWN


def test_mailgun_connection_refused_is_provider_side():
    settings = MailgunSettings("k", "mg.example.com", f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(ProviderError) as caught:
        MailgunProvider(lambda: settings).send(MESSAGE, budget())
    assert caught.value.failure is Failure.PROVIDER


def test_mailgun_without_settings_is_not_configured():
    provider = MailgunProvider(lambda: None)
    assert not provider.configured()
    with pytest.raises(ProviderError):
        provider.send(MESSAGE, budget())


# ---------------------------------------------------------------- the chain


class Scripted:
    """A provider that answers from a script: an id, or a ProviderError to raise."""

    def __init__(self, name, outcome, configured=True):
        self.name, self.outcome, self.calls, self._configured = name, outcome, 0, configured

    def configured(self):
        return self._configured

    def send(self, message, deadline):
        self.calls += 1
        if isinstance(self.outcome, ProviderError):
            raise self.outcome
        return self.outcome


class Circuits:
    """An in-memory breaker (the DynamoDB-backed one is tested in the integration suite)."""

    def __init__(self, open_for=()):
        self.open_for, self.failures = set(open_for), []

    def open_until(self, provider):
        return time.time() + 60 if provider in self.open_for else None

    def failed(self, provider):
        self.failures.append(provider)


def outcomes(attempts):
    return [(a.provider, a.outcome) for a in attempts]


def test_chain_falls_over_on_provider_trouble_and_counts_it():
    breaker = Circuits()
    first, second = Scripted("ses", ProviderError(Failure.PROVIDER, "down")), Scripted("mailgun", "id-2")
    delivered = chain.send([first, second], MESSAGE, budget(), breaker)
    assert delivered.provider == "mailgun"
    assert outcomes(delivered.attempts) == [("ses", "failed"), ("mailgun", "sent")]
    assert breaker.failures == ["ses"]


def test_chain_falls_over_on_a_channel_side_refusal_without_counting_it():
    breaker = Circuits()
    refused = ProviderError(Failure.CHANNEL, "MessageRejected: Email address is not verified.")
    first, second = Scripted("ses", refused), Scripted("mailgun", "id-2")
    delivered = chain.send([first, second], MESSAGE, budget(), breaker)
    assert outcomes(delivered.attempts) == [("ses", "failed"), ("mailgun", "sent")]
    assert breaker.failures == []  # SES is healthy: one channel's unverified sender must not open its circuit


def test_chain_stops_on_message_rejection_without_counting_it():
    breaker = Circuits()
    first, second = Scripted("ses", ProviderError(Failure.MESSAGE, "bad address")), Scripted("mailgun", "id-2")
    with pytest.raises(chain.Undelivered) as caught:
        chain.send([first, second], MESSAGE, budget(), breaker)
    assert caught.value.failure is Failure.MESSAGE and second.calls == 0 and breaker.failures == []
    assert outcomes(caught.value.attempts) == [("ses", "rejected")]


def test_chain_stops_on_unknown_outcome_unless_at_least_once():
    first, second = Scripted("ses", ProviderError(Failure.UNKNOWN, "timeout")), Scripted("mailgun", "id-2")
    with pytest.raises(chain.Undelivered) as caught:
        chain.send([first, second], MESSAGE, budget())
    assert caught.value.failure is Failure.UNKNOWN and second.calls == 0
    delivered = chain.send([first, second], MESSAGE, budget(), at_least_once=True)
    assert outcomes(delivered.attempts) == [("ses", "unknown"), ("mailgun", "sent")]


def test_chain_reports_every_failed_attempt():
    providers = [
        Scripted("ses", ProviderError(Failure.PROVIDER, "a")),
        Scripted("mailgun", ProviderError(Failure.PROVIDER, "b")),
    ]
    with pytest.raises(chain.Undelivered) as caught:
        chain.send(providers, MESSAGE, budget())
    assert caught.value.failure is Failure.PROVIDER
    assert [a.error for a in caught.value.attempts] == ["a", "b"]


def test_chain_skips_open_circuit_and_unconfigured_providers():
    ses, mailgun = Scripted("ses", "id-1"), Scripted("mailgun", "id-2")
    delivered = chain.send([ses, mailgun], MESSAGE, budget(), Circuits(open_for={"ses"}))
    assert outcomes(delivered.attempts) == [("ses", "skipped"), ("mailgun", "sent")] and ses.calls == 0
    assert "circuit open until" in delivered.attempts[0].error
    unconfigured = Scripted("mailgun", "id-2", configured=False)
    with pytest.raises(chain.Undelivered) as caught:
        chain.send([Scripted("ses", ProviderError(Failure.PROVIDER, "down")), unconfigured], MESSAGE, budget())
    assert outcomes(caught.value.attempts) == [("ses", "failed"), ("mailgun", "skipped")]


def test_chain_tries_the_last_usable_provider_even_with_its_circuit_open():
    ses, mailgun = Scripted("ses", "id-1"), Scripted("mailgun", "id-2", configured=False)
    delivered = chain.send([ses, mailgun], MESSAGE, budget(), Circuits(open_for={"ses"}))
    assert delivered.provider == "ses"  # better a try than a certain 502
