"""The events/ files (what `sam local invoke -e` uses) fed to the real handlers, credentials filled in."""

import base64
import hashlib
import json

import pytest

from local.template import ROOT
from tests.integration.conftest import ADMIN_KEY, Api, invoke_event

EXPECTED = {
    "control-put-channel": 200,  # the channel exists already: replaced
    "control-get-channel": 200,
    "control-list-channels": 200,
    "control-delete-channel": 204,
    "control-rotate-token": 200,
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
    "meta-health": 200,
    "meta-openapi": 200,
    "meta-docs": 200,
}


def test_every_event_file_is_expected():
    assert {p.stem for p in (ROOT / "events").glob("*.json")} == set(EXPECTED)


FORM_SECRET = "page-secret-0123456789"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_file_runs_against_the_handler(api: Api, sent, name):
    token = api.create_channel(
        "website", form={"allowed_origins": ["https://www.example.com"], "require_nonce": True, "secret": FORM_SECRET}
    )
    nonce = api.call("GET", "/v1/nonce?form=website").json["nonce"]
    text = (ROOT / "events" / f"{name}.json").read_text()
    text = text.replace("REPLACE_WITH_ADMIN_KEY", ADMIN_KEY).replace("REPLACE_WITH_CHANNEL_TOKEN", token)
    text = text.replace("REPLACE_WITH_NONCE", nonce).replace(
        "REPLACE_WITH_SHA256_OF_NONCE_AND_SECRET", hashlib.sha256((nonce + FORM_SECRET).encode()).hexdigest()
    )
    if name == "form-submit-urlencoded":  # the body is base64 in the event: fill it in decoded
        event = json.loads(text)
        body = base64.b64decode(event["body"]).decode() if event["isBase64Encoded"] else event["body"]
        body = body.replace("REPLACE_WITH_NONCE", nonce).replace(
            "REPLACE_WITH_SHA256_OF_NONCE_AND_SECRET", hashlib.sha256((nonce + FORM_SECRET).encode()).hexdigest()
        )
        event["body"], event["isBase64Encoded"] = body, False
        text = json.dumps(event)
    event = json.loads(text)
    if name == "relay-get-message":
        message = api.call(
            "POST", "/v1/messages", headers=api.channel("website", token), json_body={"subject": "s", "text": "t"}
        ).json["id"]
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/messages/{message}"
        event["pathParameters"] = {"id": message}
    result = invoke_event(event)
    assert result.status == EXPECTED[name], result.body
    if name.startswith(("relay-send", "relayery-send")):
        assert result.json["status"] == "sent" and len(sent()) == 1
    if name.startswith("form-submit"):
        [mail] = sent()
        assert mail["reply_to"] == "Ada Visitor <visitor@example.org>" and "company: Example Ltd" in mail["text"]
