"""Validation, the shared suppression list, and bounce / complaint events from both providers."""

import time

import pytest

from local.provider_events import mailgun_event, mailgun_webhook, ses_notification, sns_event
from mailrelay import config
from tests.dnsserver import LocalDns
from tests.integration.conftest import TEMPLATE, Api, context, handler

SIGNING_KEY = "mailgun-signing-key-0123456789"
MESSAGE = {"subject": "Hello", "text": "body"}


@pytest.fixture
def stack_options():
    return {"parameters": {}, "secret_values": {"mailgun_webhook_signing_key": SIGNING_KEY}}


@pytest.fixture
def dns(monkeypatch):
    server = LocalDns(
        {
            ("example.com", "MX"): ["10 mx.example.com."],
            ("mx.example.com", "A"): ["192.0.2.25"],
            ("a-only.example.net", "A"): ["192.0.2.26"],
            ("nullmx.example.org", "MX"): ["0 ."],
        }
    ).start()
    monkeypatch.setenv("DNS_NAMESERVER", server.nameserver)
    config.settings.cache_clear()
    yield server
    server.stop()


# ---------------------------------------------------------------- validation


def test_validation_of_a_normal_address(api: Api, dns):
    result = api.call("GET", "/v1/validation/Ada.Lovelace@Example.com", headers=api.admin)
    assert result.status == 200, result.body
    assert result.json == {
        "address": "Ada.Lovelace@Example.com",
        "normalized": "Ada.Lovelace@example.com",
        "valid_syntax": True,
        "domain": "example.com",
        "mx_found": True,
        "role_address": False,
        "disposable": False,
        "suppressed": False,
        "ses_identity_status": "SUCCESS",
        "reason": None,  # example.com is the stack's verified domain
    }


def test_validation_of_role_disposable_and_malformed_addresses(api: Api, dns):
    token = api.create_channel()
    channel = api.channel("website", token)
    role = api.call("GET", "/v1/validation/postmaster@a-only.example.net", headers=channel).json
    assert role["role_address"] is True and role["mx_found"] is True  # an A record is the implicit MX
    assert role["ses_identity_status"] == "NOT_FOUND"
    assert api.call("GET", "/v1/validation/x@nullmx.example.org", headers=channel).json["mx_found"] is False
    assert api.call("GET", "/v1/validation/x@nowhere.example.org", headers=channel).json["mx_found"] is False
    assert api.call("GET", "/v1/validation/x@mailinator.com", headers=channel).json["disposable"] is True
    bad = api.call("GET", "/v1/validation/not-an-address", headers=channel)
    assert bad.status == 200 and bad.json["valid_syntax"] is False and bad.json["reason"]
    encoded = api.call("GET", "/v1/validation/someone%2Btag%40example.com", headers=channel)
    assert encoded.json["normalized"] == "someone+tag@example.com"


def test_mx_is_null_when_dns_cannot_be_asked(api: Api, monkeypatch):
    monkeypatch.setenv("DNS_NAMESERVER", "127.0.0.1@9")  # nothing listens: a timeout, not an error
    config.settings.cache_clear()
    result = api.call("GET", "/v1/validation/someone@example.com", headers=api.admin)
    assert result.status == 200 and result.json["mx_found"] is None


def test_validation_needs_credentials_and_verification_needs_the_admin(api: Api, aws_stack):
    token = api.create_channel()
    assert api.call("GET", "/v1/validation/a@example.com").status == 401
    assert api.call("GET", "/v1/validation/a@example.com", headers=api.channel("website", "wrong" * 5)).status == 401
    by_channel = api.call("POST", "/v1/validation/new@other-domain.org", headers=api.channel("website", token))
    assert by_channel.status == 401
    by_admin = api.call("POST", "/v1/validation/new@other-domain.org", headers=api.admin)
    assert by_admin.status == 202 and by_admin.json["address"] == "new@other-domain.org"
    identities = aws_stack.client("sesv2").list_email_identities()["EmailIdentities"]
    assert "new@other-domain.org" in {i["IdentityName"] for i in identities}
    assert api.call("POST", "/v1/validation/new@other-domain.org", headers=api.admin).status == 202  # idempotent


# ---------------------------------------------------------------- suppression list


def test_suppression_admin_routes(api: Api):
    assert api.call("GET", "/v1/suppressions/a@example.com", headers=api.admin).status == 404
    added = api.call("PUT", "/v1/suppressions/A@Example.com", headers=api.admin)
    assert added.status == 201
    assert added.json["address"] == "a@example.com" and added.json["reason"] == "manual"
    assert added.json["source"] == "admin"
    again = api.call("PUT", "/v1/suppressions/a@example.com", headers=api.admin, json_body={"reason": "bounce"})
    assert again.status == 200 and again.json["reason"] == "manual"  # the first entry stands
    listed = api.call("GET", "/v1/suppressions?limit=10", headers=api.admin).json
    assert [s["address"] for s in listed["suppressions"]] == ["a@example.com"]
    assert api.call("PUT", "/v1/suppressions/nope", headers=api.admin).status == 422
    assert api.call("GET", "/v1/suppressions").status == 401
    assert api.call("DELETE", "/v1/suppressions/a@example.com", headers=api.admin).status == 204
    assert api.call("DELETE", "/v1/suppressions/a@example.com", headers=api.admin).status == 404


def test_suppressed_recipients_are_dropped_and_listed(api: Api, sent):
    token = api.create_channel(
        recipients=["team@example.com", "gone@example.com"], cc=["boss@example.com"], bcc=["audit@example.com"]
    )
    for address in ("gone@example.com", "audit@example.com"):
        api.call("PUT", f"/v1/suppressions/{address}", headers=api.admin)
    result = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert result.status == 200 and result.json["suppressed"] == ["audit@example.com", "gone@example.com"]
    [mail] = sent()
    assert mail["to"] == ["team@example.com"] and mail["cc"] == ["boss@example.com"] and mail["bcc"] == []
    assert "gone@example.com" not in mail["raw"]


def test_all_recipients_suppressed_is_422_and_removal_restores(api: Api, sent):
    token = api.create_channel(recipients=["gone@example.com"])
    api.call("PUT", "/v1/suppressions/gone@example.com", headers=api.admin)
    refused = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert refused.status == 422 and refused.json["error"] == "all_recipients_suppressed"
    assert refused.json["suppressed"] == ["gone@example.com"] and sent() == []
    api.call("DELETE", "/v1/suppressions/gone@example.com", headers=api.admin)
    assert api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE).status == 200
    assert len(sent()) == 1


# ---------------------------------------------------------------- Mailgun webhooks


def webhook(api: Api, body) -> object:
    return api.call("POST", "/v1/webhooks/mailgun", json_body=body)


def test_signed_permanent_failure_suppresses_and_marks_bounced(api: Api):
    token = api.create_channel()
    message_id = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE).json["id"]
    body = mailgun_webhook(SIGNING_KEY, mailgun_event("failed", "team@example.com", message_id))
    result = webhook(api, body)
    assert result.status == 200 and result.json == {"status": "applied"}
    entry = api.call("GET", "/v1/suppressions/team@example.com", headers=api.admin).json
    assert (entry["reason"], entry["source"]) == ("bounce", "mailgun")
    status = api.call("GET", f"/v1/messages/{message_id}", headers=api.channel("website", token)).json
    assert status["status"] == "bounced"
    replayed = webhook(api, body)
    assert replayed.status == 406 and replayed.json["error"] == "replayed_signature"


@pytest.mark.parametrize(
    "body, error",
    [
        (mailgun_webhook("wrong-key", mailgun_event("failed", "x@example.com")), "invalid_signature"),
        (
            mailgun_webhook(SIGNING_KEY, mailgun_event("failed", "x@example.com"), timestamp=int(time.time()) - 301),
            "stale_signature",
        ),
        ({"event-data": mailgun_event("failed", "x@example.com")}, "invalid_signature"),
    ],
)
def test_bad_or_stale_signatures_are_406_and_change_nothing(api: Api, body, error):
    result = webhook(api, body)
    assert result.status == 406 and result.json["error"] == error
    assert api.call("GET", "/v1/suppressions/x@example.com", headers=api.admin).status == 404


def test_event_for_an_unknown_message_still_suppresses(api: Api):
    body = mailgun_webhook(SIGNING_KEY, mailgun_event("complained", "someone@example.org", "no-such-message"))
    assert webhook(api, body).status == 200
    entry = api.call("GET", "/v1/suppressions/someone@example.org", headers=api.admin).json
    assert entry["reason"] == "complaint"


def test_events_we_do_not_act_on_are_acknowledged(api: Api):
    body = mailgun_webhook(SIGNING_KEY, mailgun_event("delivered", "someone@example.org"))
    assert webhook(api, body).json == {"status": "ignored"}


# ---------------------------------------------------------------- SES notifications (SNS)


def sns(event: dict) -> dict:
    subscribers = TEMPLATE.sns_subscribers(TEMPLATE.ses_event_topic())
    assert len(subscribers) == 1
    return handler(subscribers[0])(event, context(subscribers[0]))


def test_ses_complaint_marks_complained_and_suppresses(api: Api, aws_stack):
    token = api.create_channel()
    message_id = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE).json["id"]
    topic = aws_stack.refs[TEMPLATE.ses_event_topic()]
    assert sns(sns_event(topic, ses_notification("Complaint", ["team@example.com"], message_id))) == {
        "applied": 1,
        "ignored": 0,
    }
    status = api.call("GET", f"/v1/messages/{message_id}", headers=api.channel("website", token)).json
    assert status["status"] == "complained"
    entry = api.call("GET", "/v1/suppressions/team@example.com", headers=api.admin).json
    assert (entry["reason"], entry["source"]) == ("complaint", "ses")


def test_ses_events_from_a_foreign_topic_or_transient_bounces_change_nothing(api: Api, aws_stack):
    foreign = sns_event(
        "arn:aws:sns:us-east-1:999999999999:someone-else", ses_notification("Bounce", ["x@example.com"])
    )
    transient = sns_event(
        aws_stack.refs[TEMPLATE.ses_event_topic()],
        ses_notification("Bounce", ["x@example.com"], bounce_type="Transient"),
    )
    assert sns(foreign) == {"applied": 0, "ignored": 1}
    assert sns(transient) == {"applied": 0, "ignored": 1}
    assert api.call("GET", "/v1/suppressions/x@example.com", headers=api.admin).status == 404
