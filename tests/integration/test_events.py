"""The events/ files (what `sam local invoke -e` uses) fed to the real handlers, credentials filled in."""

import base64
import hashlib
import json

import pytest

from local.provider_events import mailgun_webhook
from local.template import ROOT
from tests.integration.conftest import ADMIN_KEY, TEMPLATE, Api, context, handler, invoke_event

EXPECTED = {
    "control-put-channel": 200,  # the channel exists already: replaced
    "control-get-channel": 200,
    "control-list-channels": 200,
    "control-delete-channel": 204,
    "control-rotate-token": 200,
    "control-doctor": 200,  # a report, whatever it finds (in-process moto has no SES GetAccount: a failed check)
    "relayery-put-channel": 200,
    "relayery-delete-channel": 204,
    "relayery-list-channels": 200,
    "relay-send-message": 200,
    "relay-send-raw-message": 200,
    "relayery-send-message": 200,
    "relay-get-message": 200,
    "nonce-get": 200,
    "form-submit-json": 200,
    "form-submit-urlencoded": 303,
    "form-preflight": 204,
    "suppressions-list": 200,
    "suppressions-get": 200,
    "suppressions-put": 200,  # suppressed already: the first entry stands
    "suppressions-delete": 204,
    "validation-get": 200,
    "validation-post": 202,
    "webhook-mailgun": 200,
    "sns-ses-bounce": None,  # not HTTP: the SNS record goes to the topic's subscriber
    "meta-health": 200,
    "meta-openapi": 200,
    "meta-docs": 200,
    "default-method-not-allowed": 405,  # the $default route: this path has GET, PUT and DELETE
}


def test_every_event_file_is_expected():
    assert {p.stem for p in (ROOT / "events").glob("*.json")} == set(EXPECTED)


FORM_SECRET = "page-secret-0123456789"
SIGNING_KEY = "events-signing-key-0123456789"


@pytest.fixture
def stack_options():
    return {"parameters": {}, "secret_values": {"mailgun_webhook_signing_key": SIGNING_KEY}}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_file_runs_against_the_handler(api: Api, aws_stack, sent, name):
    token = api.create_channel(
        "website", form={"allowed_origins": ["https://www.example.com"], "require_nonce": True, "secret": FORM_SECRET}
    )
    api.call("PUT", "/v1/suppressions/bounced@example.org", headers=api.admin)
    sent_id = api.call(
        "POST", "/v1/messages", headers=api.channel("website", token), json_body={"subject": "s", "text": "t"}
    ).json["id"]
    nonce = api.call("GET", "/v1/nonce?form=website").json["nonce"]
    placeholders = {
        "REPLACE_WITH_ADMIN_KEY": ADMIN_KEY,
        "REPLACE_WITH_CHANNEL_TOKEN": token,
        "REPLACE_WITH_NONCE": nonce,
        "REPLACE_WITH_SHA256_OF_NONCE_AND_SECRET": hashlib.sha256((nonce + FORM_SECRET).encode()).hexdigest(),
        "REPLACE_WITH_MESSAGE_ID": sent_id,
        "REPLACE_WITH_SES_EVENTS_TOPIC_ARN": aws_stack.refs[TEMPLATE.ses_event_topic()],
    }
    event = json.loads((ROOT / "events" / f"{name}.json").read_text())
    encoded = event.get("isBase64Encoded")
    text = json.dumps({**event, "body": base64.b64decode(event["body"]).decode() if encoded else event.get("body")})
    for placeholder, value in placeholders.items():
        text = text.replace(placeholder, value)
    event = json.loads(text)
    if encoded:  # API Gateway hands urlencoded and other non-text bodies over base64-encoded
        event["body"] = base64.b64encode(event["body"].encode()).decode()

    if name == "sns-ses-bounce":
        subscriber = TEMPLATE.sns_subscribers(TEMPLATE.ses_event_topic())[0]
        assert handler(subscriber)(event, context(subscriber)) == {"applied": 1, "ignored": 0}
        return
    if name == "relay-get-message":  # the sample names a made-up id: ask for the one sent above
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/messages/{sent_id}"
        event["pathParameters"] = {"id": sent_id}
    if name == "webhook-mailgun":  # the sample's signature is a placeholder: sign it now
        body = json.loads(event["body"])
        body["signature"] = mailgun_webhook(SIGNING_KEY, {})["signature"]
        event["body"] = json.dumps(body)
    result = invoke_event(event)
    assert result.status == EXPECTED[name], result.body
    if name.startswith(("relay-send", "relayery-send")):
        assert result.json["status"] == "sent" and len(sent()) == 2
    if name.startswith("form-submit"):
        mail = sent()[-1]
        assert mail["reply_to"] == "Ada Visitor <visitor@example.org>" and "company: Example Ltd" in mail["text"]
