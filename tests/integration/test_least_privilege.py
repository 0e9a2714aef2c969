"""Least privilege, exactly: each function is granted the DynamoDB actions its code performs on each table - no more.

moto's IAM enforcement (every integration test) proves nothing is missing. This test proves nothing is extra: it runs
every path of every function through the real handlers, records each DynamoDB call a handler makes (action and table,
read off botocore), and compares that with what template.yaml grants - so a broad grant such as DynamoDBCrudPolicy
(Scan, Query, BatchWriteItem, ... on tables the code only reads) fails here.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import botocore.client
import pytest

from local.iam import role_policies
from local.provider_events import mailgun_event, mailgun_webhook, ses_notification, sns_event
from tests.integration import conftest
from tests.integration.conftest import TEMPLATE, Api, context, handler

SIGNING_KEY = "least-privilege-signing-key-012345"
FORM_SECRET = "least-privilege-page-secret"
ORIGIN = "https://www.example.com"
UNVERIFIED = "noreply@unverified.example.net"  # SES refuses it (no Mailgun here): a failed send


@pytest.fixture
def stack_options():
    return {"parameters": {}, "secret_values": {"mailgun_webhook_signing_key": SIGNING_KEY}}


@pytest.fixture
def dynamodb_calls(monkeypatch, aws_stack) -> dict[str, set[tuple[str, str]]]:
    """Per function: the (dynamodb:Action, table logical id) pairs its handler called."""
    logical = {name: logical_id for logical_id, name in aws_stack.refs.items() if isinstance(name, str)}
    calls: dict[str, set[tuple[str, str]]] = defaultdict(set)
    original = botocore.client.BaseClient._make_api_call

    def recording(client, operation, params):
        function = conftest._CURRENT.get("function")
        if function and client.meta.service_model.service_name == "dynamodb":
            tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
            tables += [t["Update"]["TableName"] for t in params.get("TransactItems", []) if "Update" in t]
            calls[function] |= {(f"dynamodb:{operation}", logical.get(table, table)) for table in tables}
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return calls


def granted(refs) -> dict[str, set[tuple[str, str]]]:
    """Per function: the (dynamodb:Action, table logical id) pairs its translated role allows."""
    pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for function, documents in role_policies(TEMPLATE, refs).items():
        for document in documents:
            statements = document["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                for action in (a for a in actions if a.startswith("dynamodb:")):
                    for resource in resources:
                        pairs[function].add((action, _table(function, resource)))
    return pairs


def _table(function: str, resource) -> str:
    """The table a grant names: `!GetAtt T.Arn`, or a SAM policy template's `table/${tableName}` (+ `/index/*`)."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return resource["Fn::GetAtt"][0]
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), list):
        variables = resource["Fn::Sub"][1]
        suffix = "/index/*" if resource["Fn::Sub"][0].endswith("/index/*") else ""
        return variables["tableName"]["Ref"] + suffix
    raise AssertionError(f"{function}: a DynamoDB grant on {resource!r}, not on one of the template's tables")


def exercise_every_path(api: Api, aws_stack) -> None:
    admin = api.admin
    form = {"allowed_origins": [ORIGIN], "require_nonce": True, "secret": FORM_SECRET}

    # control: channels and suppressions - create, replace, read, list (both shapes), delete
    token = api.create_channel("website", min_period=30, form=form)
    assert (
        api.call(
            "PUT",
            "/v1/channels/website",
            headers=admin,
            json_body={
                "sender": "noreply@example.com",
                "recipients": ["team@example.com"],
                "min_period": 30,
                "form": form,
            },
        ).status
        == 200
    )
    assert api.call("GET", "/v1/channels/website", headers=admin).status == 200
    assert api.call("GET", "/v1/channels", headers=admin).status == 200
    assert api.call("GET", "/api/list_channels", headers=admin).status == 200
    api.create_channel("doomed")
    assert api.call("DELETE", "/v1/channels/doomed", headers=admin).status == 204
    assert api.call("PUT", "/v1/suppressions/gone@example.org", headers=admin).status == 201
    assert api.call("GET", "/v1/suppressions/gone@example.org", headers=admin).status == 200
    assert api.call("GET", "/v1/suppressions", headers=admin).status == 200
    assert api.call("DELETE", "/v1/suppressions/gone@example.org", headers=admin).status == 204
    wrong = {"Authorization": "Bearer wrong-admin-key-0123456789"}  # counted per source address (the brake)
    assert api.call("GET", "/v1/channels", headers=wrong).status == 401
    assert api.call("POST", "/v1/validation/someone@example.com", headers=wrong).status == 401

    # relay: a keyed send, its replay, a send inside min_period, a message's status, a failed keyed send (slot and
    # key given back), a form submission with a nonce (nonce function: issue it)
    channel = api.channel("website", token)
    first = api.call(
        "POST", "/v1/messages", headers={**channel, "Idempotency-Key": "k-1"}, json_body={"subject": "a", "text": "b"}
    )
    assert first.status == 200, first.body
    replay = api.call(
        "POST", "/v1/messages", headers={**channel, "Idempotency-Key": "k-1"}, json_body={"subject": "a", "text": "b"}
    )
    assert replay.body == first.body
    assert api.call("POST", "/v1/messages", headers=channel, json_body={"subject": "c", "text": "d"}).status == 429
    assert api.call("GET", f"/v1/messages/{first.json['id']}", headers=channel).status == 200
    unverified = api.create_channel("unverified", sender=UNVERIFIED, min_period=30)
    failed = api.call(
        "POST",
        "/v1/messages",
        headers={**api.channel("unverified", unverified), "Idempotency-Key": "k-2"},
        json_body={"subject": "e", "text": "f"},
    )
    assert failed.status == 502, failed.body
    nonce = api.call("GET", "/v1/nonce?form=website", headers={"Origin": ORIGIN}).json["nonce"]
    digest = hashlib.sha256((nonce + FORM_SECRET).encode()).hexdigest()
    fields = {"email": "v@example.org", "message": "hi", "nonce": nonce, "hash": digest}
    submitted = api.call(
        "POST", "/v1/forms/website", headers={"Origin": ORIGIN, "Accept": "application/json"}, json_body=fields
    )
    assert submitted.status in (200, 429), submitted.body  # the channel's min_period may still hold: both use the nonce

    # validation (channel credentials): the channel, the suppression list
    assert api.call("GET", "/v1/validation/someone@example.org", headers=channel).status == 200

    # Mailgun webhook, twice for one address (the second finds it suppressed already), for a known message
    for _ in range(2):
        body = mailgun_webhook(SIGNING_KEY, mailgun_event("failed", "bounced@example.org", first.json["id"]))
        assert api.call("POST", "/v1/webhooks/mailgun", json_body=body).status == 200

    # SES events through SNS: a complaint for a known message, for an address already suppressed
    [subscriber] = TEMPLATE.sns_subscribers(TEMPLATE.ses_event_topic())
    topic = aws_stack.refs[TEMPLATE.ses_event_topic()]
    event = sns_event(topic, ses_notification("Complaint", ["bounced@example.org"], first.json["id"]))
    assert handler(subscriber)(event, context(subscriber)) == {"applied": 1, "ignored": 0}


def test_every_function_is_granted_exactly_the_dynamodb_actions_its_code_performs(api: Api, aws_stack, dynamodb_calls):
    exercise_every_path(api, aws_stack)
    allowed = granted(aws_stack.refs)
    for function in TEMPLATE.functions:
        extra = sorted(allowed[function] - dynamodb_calls[function])
        missing = sorted(dynamodb_calls[function] - allowed[function])
        assert not extra, f"{function} is granted DynamoDB actions its code never performs: {extra}"
        assert not missing, f"{function} performs DynamoDB actions it is not granted: {missing}"
