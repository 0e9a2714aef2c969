"""Failover end to end inside the handler: SES under moto, Mailgun as a real local HTTP server (pytest-httpserver).

SES fails here the way moto's SES really fails: a sender the account has not verified is refused (account-side,
like the SES sandbox), so a channel on another domain falls over to Mailgun.
"""

import json

import boto3
import pytest

from mailrelay import aws
from mailrelay.dal.circuit import CircuitStore
from tests.integration.conftest import Api

MAILGUN_PATH = "/v3/mg.example.com/messages.mime"
UNVERIFIED = "noreply@unverified-domain.org"  # SES refuses it; Mailgun takes it
MESSAGE = {"subject": "Failover", "text": "still delivered"}


@pytest.fixture
def stack_options(httpserver):
    return {
        "parameters": {"MailgunApiBaseUrl": httpserver.url_for("/")},
        "secret_values": {"mailgun_api_key": "key-local", "mailgun_domain": "mg.example.com"},
    }


def send(api: Api, token: str, body=MESSAGE, name="website", **headers):
    return api.call("POST", "/v1/messages", headers={**api.channel(name, token), **headers}, json_body=body)


def test_ses_account_failure_falls_over_to_mailgun(api: Api, httpserver, sent):
    httpserver.expect_oneshot_request(MAILGUN_PATH, method="POST").respond_with_json({"id": "<mg-1@mg>"})
    token = api.create_channel(sender=UNVERIFIED, cc=["boss@example.com"], bcc=["audit@example.com"])
    result = send(api, token)
    assert result.status == 200, result.body
    assert result.json["provider_used"] == "mailgun"
    assert [(p["provider"], p["outcome"]) for p in result.json["providers"]] == [("ses", "failed"), ("mailgun", "sent")]
    assert "authority" in result.json["providers"][0]["error"]
    assert sent() == []
    [(request, _)] = httpserver.log
    assert request.form.getlist("to") == ["team@example.com", "boss@example.com", "audit@example.com"]
    raw = request.files["message"].read().decode()
    assert "Subject: Failover" in raw and "audit@example.com" not in raw.split("\r\n\r\n")[0]
    status = api.call("GET", f"/v1/messages/{result.json['id']}", headers=api.channel("website", token))
    assert status.json["status"] == "sent" and status.json["provider_used"] == "mailgun"


def test_message_rejected_by_the_fallback_is_422_and_not_retried(api: Api, httpserver):
    httpserver.expect_request(MAILGUN_PATH).respond_with_json({"message": "'to' parameter is not valid"}, 400)
    token = api.create_channel(sender=UNVERIFIED, min_period=30)
    result = send(api, token)
    assert result.status == 422 and result.json["error"] == "message_rejected"
    assert "not valid" in result.json["message"] and len(httpserver.log) == 1
    httpserver.clear()
    httpserver.expect_request(MAILGUN_PATH).respond_with_json({"id": "ok"})
    assert send(api, token).status == 200, "a rejected message must not use the min_period slot"


def test_both_providers_down_is_502_with_every_attempt_and_a_failed_record(api: Api, httpserver):
    httpserver.expect_request(MAILGUN_PATH).respond_with_json({"message": "unavailable"}, 503)
    token = api.create_channel(sender=UNVERIFIED)
    result = send(api, token)
    assert result.status == 502 and result.json["error"] == "all_providers_failed"
    assert [(p["provider"], p["outcome"]) for p in result.json["providers"]] == [
        ("ses", "failed"),
        ("mailgun", "failed"),
    ]
    assert len(httpserver.log) == 2  # Mailgun's one retry on 5xx
    status = api.call("GET", f"/v1/messages/{result.json['id']}", headers=api.channel("website", token))
    assert status.json["status"] == "failed" and status.json["provider_used"] is None


def ses_down(httpserver, monkeypatch):
    """Point the SES client at the local HTTP server, answering SES v2's own 503 (REST-JSON error shape)."""
    httpserver.expect_request("/v2/email/outbound-emails").respond_with_json(
        {"message": "Service is unavailable. Please try again later."},
        503,
        headers={"x-amzn-ErrorType": "ServiceUnavailable"},
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", httpserver.url_for("/"))
    aws.clear_caches()


def test_circuit_opens_after_repeated_ses_failures_and_is_shared(api: Api, httpserver, aws_stack, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    httpserver.expect_request(MAILGUN_PATH).respond_with_json({"id": "mg"})
    token = api.create_channel()
    ses_down(httpserver, monkeypatch)
    for _ in range(3):
        assert send(api, token).json["providers"][0]["outcome"] == "failed"
    fourth = send(api, token)
    assert fourth.status == 200 and fourth.json["provider_used"] == "mailgun"
    assert fourth.json["providers"][0]["outcome"] == "skipped"
    assert "circuit open until" in fourth.json["providers"][0]["error"]
    # the state lives in DynamoDB, so every container sees it
    assert CircuitStore(aws_stack.refs["RateTable"]).open_until("ses") > 0
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for blob in emitted for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"ProviderFailover", "CircuitOpened"} <= names


def test_an_unverified_sender_falls_over_without_opening_the_circuit_for_every_channel(api: Api, httpserver, sent):
    httpserver.expect_request(MAILGUN_PATH).respond_with_json({"id": "mg"})
    unverified = api.create_channel("unverified", sender=UNVERIFIED)
    for _ in range(4):  # more than CircuitFailureThreshold refusals, all about this one channel's sender
        result = send(api, unverified, name="unverified")
        assert result.status == 200 and result.json["provider_used"] == "mailgun"
        assert result.json["providers"][0]["outcome"] == "failed"  # SES was tried each time: no circuit open
    verified = api.create_channel("verified")
    healthy = send(api, verified, name="verified")
    assert healthy.status == 200 and healthy.json["provider_used"] == "ses"  # SES still serves every other channel
    assert len(sent()) == 1 and len(httpserver.log) == 4


def test_circuit_store_opens_once_and_counts_per_window(aws_stack):
    store = CircuitStore(aws_stack.refs["RateTable"])
    assert [store.count_failure("ses", 1000.0, 60) for _ in range(3)] == [1, 2, 3]
    assert store.count_failure("ses", 1061.0, 60) == 1  # a new window starts from zero
    assert store.open("ses", 1000.0, 1060.0) is True
    assert store.open("ses", 1001.0, 1061.0) is False  # already open: another container got there first
    assert store.open_until("ses") == 1060.0
    assert store.open("ses", 1070.0, 1130.0) is True  # after the cool-down it can open again


def test_idempotency_key_replays_the_first_response(api: Api, httpserver):
    httpserver.expect_request(MAILGUN_PATH).respond_with_json({"id": "mg"})
    token = api.create_channel(sender=UNVERIFIED)
    first = send(api, token, **{"Idempotency-Key": "order-42"})
    again = send(api, token, **{"Idempotency-Key": "order-42"})
    assert first.status == again.status == 200
    assert first.body == again.body and len(httpserver.log) == 1
    other = send(api, token, body={"subject": "other", "text": "x"}, **{"Idempotency-Key": "order-42"})
    assert other.status == 422 and other.json["error"] == "idempotency_key_reused"
    fresh = send(api, token, **{"Idempotency-Key": "order-43"})
    assert fresh.status == 200 and fresh.json["id"] != first.json["id"]
    bad = send(api, token, **{"Idempotency-Key": "has space"})
    assert bad.status == 400 and bad.json["error"] == "invalid_idempotency_key"


def test_idempotency_key_is_scoped_to_the_channel_and_failures_are_not_stored(api: Api, httpserver):
    httpserver.expect_ordered_request(MAILGUN_PATH).respond_with_json({"message": "down"}, 503)
    httpserver.expect_ordered_request(MAILGUN_PATH).respond_with_json({"message": "down"}, 503)
    httpserver.expect_request(MAILGUN_PATH).respond_with_json({"id": "mg"})
    token = api.create_channel(sender=UNVERIFIED)
    assert send(api, token, **{"Idempotency-Key": "k-1"}).status == 502
    retried = send(api, token, **{"Idempotency-Key": "k-1"})
    assert retried.status == 200, "a failed send may be retried with the same key"
    other_token = api.create_channel("other", sender=UNVERIFIED)
    elsewhere = send(api, other_token, name="other", **{"Idempotency-Key": "k-1"})
    assert elsewhere.status == 200 and elsewhere.json["id"] != retried.json["id"]


def test_idempotency_table_holds_hashes_not_bodies(api: Api, httpserver, aws_stack):
    httpserver.expect_request(MAILGUN_PATH).respond_with_json({"id": "mg"})
    token = api.create_channel(sender=UNVERIFIED)
    send(api, token, body={"subject": "secret subject", "text": "x"}, **{"Idempotency-Key": "k-9"})
    items = boto3.resource("dynamodb").Table(aws_stack.refs["IdempotencyTable"]).scan()["Items"]
    assert len(items) == 1 and items[0]["status"] == "COMPLETED"
    assert "secret subject" not in json.dumps(items, default=str) and "k-9" not in items[0]["id"]
