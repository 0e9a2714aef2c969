"""Relay API through the real handler with SES under moto: what arrives, and every error status."""

import base64
import json
import math
import time

import pytest

from local.gateway import LambdaContext
from mailrelay import timebox
from mailrelay.domain import idempotency
from tests.integration.conftest import Api

MESSAGE = {
    "subject": "Hello",
    "text": "plain body",
    "html": "<p>html body</p>",
    "reply_to": "visitor@example.org",
    "attachments": [
        {"filename": "report.csv", "content_type": "text/csv", "content": base64.b64encode(b"a,b\n1,2\n").decode()}
    ],
}


def test_send_delivers_with_channel_addresses_and_caller_content(api: Api, sent):
    token = api.create_channel(cc=["boss@example.com"], bcc=["audit@example.com"])
    result = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert result.status == 200, result.body
    assert result.json["status"] == "sent" and result.json["provider_used"] == "ses"
    assert result.json["providers"][0]["provider"] == "ses" and result.json["providers"][0]["outcome"] == "sent"
    [mail] = sent()
    assert mail["from"] == "Site <noreply@example.com>"
    assert mail["to"] == ["team@example.com"] and mail["cc"] == ["boss@example.com"]
    assert mail["bcc"] == ["audit@example.com"] and "audit@" not in mail["raw"].split("\r\n\r\n")[0]
    assert mail["subject"] == "Hello" and mail["reply_to"] == "visitor@example.org"
    assert mail["text"].strip() == "plain body" and mail["html"].strip() == "<p>html body</p>"
    assert mail["attachments"] == [{"filename": "report.csv", "content_type": "text/csv", "size": 8}]

    status = api.call("GET", f"/v1/messages/{result.json['id']}", headers=api.channel("website", token))
    assert status.status == 200
    assert status.json["status"] == "sent" and status.json["provider_used"] == "ses" and status.json["created_at"]


def test_relayery_alias_and_bearer_credentials(api: Api, sent):
    token = api.create_channel()
    result = api.call(
        "POST",
        "/api/message",
        headers={"Authorization": f"Bearer website:{token}"},
        json_body={"subject": "a message from your friend", "message": "hello there"},
    )
    assert result.status == 200, result.body
    assert sent()[0]["text"].strip() == "hello there"


def test_raw_rfc822_keeps_content_and_replaces_addresses(api: Api, sent):
    token = api.create_channel()
    raw = (
        b"From: someone@else.test\r\nTo: victim@else.test\r\nSubject: Cron: backup\r\n"
        b"Content-Type: text/plain\r\n\r\nbackup ok\r\n"
    )
    result = api.call(
        "POST", "/v1/messages", data=raw, headers={**api.channel("website", token), "Content-Type": "message/rfc822"}
    )
    assert result.status == 200, result.body
    [mail] = sent()
    assert mail["to"] == ["team@example.com"] and mail["subject"] == "Cron: backup"
    assert mail["text"].strip() == "backup ok" and "else.test" not in mail["raw"]


def test_unknown_descriptor_and_wrong_token_are_the_same_401(api: Api):
    token = api.create_channel()
    unknown = api.call("POST", "/v1/messages", headers=api.channel("nobody", token), json_body=MESSAGE)
    wrong = api.call("POST", "/v1/messages", headers=api.channel("website", token + "x"), json_body=MESSAGE)
    missing = api.call("POST", "/v1/messages", json_body=MESSAGE)
    assert unknown.status == wrong.status == missing.status == 401
    assert unknown.body == wrong.body


def test_auth_comes_before_body_parsing(api: Api):
    result = api.call(
        "POST",
        "/v1/messages",
        headers={"X-Descriptor": "x", "X-Token": "y", "Content-Type": "application/json"},
        data=b"{oops",
    )
    assert result.status == 401


@pytest.mark.parametrize(
    "data, content_type, status, error",
    [
        (b"{oops", "application/json", 400, "invalid_json"),
        (json.dumps({**MESSAGE, "to": ["x@example.org"]}).encode(), "application/json", 422, "validation_error"),
        (
            json.dumps({"subject": "a\r\nBcc: x@example.org", "text": "t"}).encode(),
            "application/json",
            422,
            "validation_error",
        ),
        (
            json.dumps({"subject": "s", "text": "t", "attachments": [{"filename": "a", "content": "%%%"}]}).encode(),
            "application/json",
            422,
            "validation_error",
        ),
        (b"hello", "text/plain", 415, "unsupported_media_type"),
        (b"no headers here", "message/rfc822", 422, "invalid_message"),
    ],
)
def test_bad_bodies_are_refused_and_do_not_use_the_slot(api: Api, sent, data, content_type, status, error):
    token = api.create_channel(min_period=30)
    headers = {**api.channel("website", token), "Content-Type": content_type}
    result = api.call("POST", "/v1/messages", headers=headers, data=data)
    assert result.status == status, result.body
    assert result.json["error"] == error
    good = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert good.status == 200, "a rejected request must not use up the min_period slot"
    assert len(sent()) == 1


def test_body_over_max_size_is_413_before_parsing(api: Api, sent):
    token = api.create_channel(max_size=100)
    result = api.call(
        "POST", "/v1/messages", headers=api.channel("website", token), json_body={"subject": "s", "text": "x" * 200}
    )
    assert result.status == 413 and result.json["error"] == "payload_too_large"
    garbage = api.call(
        "POST",
        "/v1/messages",
        headers={**api.channel("website", token), "Content-Type": "application/json"},
        data=b"{" * 200,
    )
    assert garbage.status == 413
    assert sent() == []


def test_min_period_gives_429_with_retry_after(api: Api, sent):
    token = api.create_channel(min_period=30)
    started = time.monotonic()
    first = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    second = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    elapsed = time.monotonic() - started  # a busy machine may take seconds between the two
    assert first.status == 200 and second.status == 429
    assert second.json["error"] == "rate_limited"
    assert 30 - math.ceil(elapsed) <= int(second.headers["Retry-After"]) <= 30
    assert len(sent()) == 1


def test_provider_failure_is_502_records_failed_and_gives_the_slot_back(api: Api, sent):
    # SES (like its sandbox) refuses a sender the account has not verified: an account-side failure.
    token = api.create_channel(sender="noreply@unverified-domain.org", min_period=30)
    failed = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert failed.status == 502, failed.body
    assert failed.json["error"] == "all_providers_failed"
    assert [(p["provider"], p["outcome"]) for p in failed.json["providers"]] == [
        ("ses", "failed"),
        ("mailgun", "skipped"),
    ]
    status = api.call("GET", f"/v1/messages/{failed.json['id']}", headers=api.channel("website", token))
    assert status.json["status"] == "failed" and status.json["provider_used"] is None
    again = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert again.status == 502, "a failed send must not use up the min_period slot"
    assert sent() == []


def test_test_mode_records_but_sends_nothing(api: Api, sent):
    token = api.create_channel(test_mode=True)
    result = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert result.status == 200 and result.json["test_mode"] is True and result.json["provider_used"] is None
    assert sent() == []
    status = api.call("GET", f"/v1/messages/{result.json['id']}", headers=api.channel("website", token))
    assert status.status == 200 and status.json["test_mode"] is True


def test_messages_are_visible_to_their_own_channel_only(api: Api):
    mine = api.create_channel("mine")
    other = api.create_channel("other")
    sent_id = api.call("POST", "/v1/messages", headers=api.channel("mine", mine), json_body=MESSAGE).json["id"]
    assert api.call("GET", f"/v1/messages/{sent_id}", headers=api.channel("mine", mine)).status == 200
    foreign = api.call("GET", f"/v1/messages/{sent_id}", headers=api.channel("other", other))
    assert foreign.status == 404 and foreign.json["error"] == "message_not_found"
    assert api.call("GET", f"/v1/messages/{sent_id}").status == 401


def test_health_and_docs(api: Api):
    assert api.call("GET", "/v1/health").json == {"status": "ok"}
    spec = api.call("GET", "/v1/openapi.json").json
    assert spec["openapi"].startswith("3.") and "/v1/channels/{descriptor}" in spec["paths"]
    docs = api.call("GET", "/v1/docs")
    assert docs.status == 200 and "swagger-ui" in docs.body.lower()


def test_idempotency_in_progress_wait_ends_with_the_invocations_time(aws_stack):
    """A request that finds its Idempotency-Key in progress waits for the first one's answer - but never longer than
    its own invocation has left (Lambda's Timeout), so it answers 409 instead of being killed mid-wait."""

    def second_request() -> dict:  # arrives while the first still holds the key
        timebox.start(LambdaContext("RelayFunction", 3.0))
        started = time.monotonic()
        with pytest.raises(idempotency.IdempotencyInProgress):
            idempotency.once("website", "k-1", "application/json", b"{}", lambda: {"sent": 2})
        return {"waited": time.monotonic() - started}

    try:
        outcome = idempotency.once("website", "k-1", "application/json", b"{}", second_request)
    finally:
        timebox.start(None)
    assert 1.0 < outcome["waited"] < 2.0  # 3 s left, less the reserve - not the 25 s an unbounded wait would take
