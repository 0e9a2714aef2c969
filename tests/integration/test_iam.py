"""IAM enforcement really bites: a real handler whose role lacks one action the code uses gets AccessDenied (the
handler's 500), the unmodified policy passes; and the local stack's way (moto server, assumed-role credentials per
function, admin user) behaves the same."""

import copy
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from local.aws import REGION, MotoServer, provision
from local.iam import DENIED, admin_environment, enforce, moto_policy, provision_roles, role_policies
from tests.integration.conftest import ADMIN_KEY, DENIED_ACTIONS, TEMPLATE, Api

MESSAGE = {"subject": "Hello", "text": "plain body"}


def without(documents: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """A copy of the policy documents with `action` taken out of every statement."""
    documents = copy.deepcopy(documents)
    removed = False
    for document in documents:
        for statement in document["Statement"]:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            removed |= action in actions
            statement["Action"] = [a for a in actions if a != action]
        document["Statement"] = [s for s in document["Statement"] if s["Action"] or "NotAction" in s]
    assert removed, f"the policy never granted {action}"
    return documents


def function_of(method: str, path: str) -> str:
    return TEMPLATE.match(method, path)[0].function


@pytest.mark.parametrize(
    ("method", "path", "action", "as_admin"),
    [
        ("POST", "/v1/messages", "dynamodb:BatchGetItem", False),
        ("GET", "/v1/channels/website", "dynamodb:GetItem", True),
    ],
)
def test_a_missing_action_fails_the_real_handler(api: Api, aws_stack, method, path, action, as_admin):
    token = api.create_channel()
    function = function_of(method, path)
    headers = api.admin if as_admin else api.channel("website", token)

    def call():
        return api.call(method, path, headers=headers, json_body=MESSAGE if method == "POST" else None)

    assert call().status == 200
    granted = role_policies(TEMPLATE, aws_stack.refs)[function]
    provision_roles(TEMPLATE, aws_stack, {function: without(granted, action)})
    refused = call()
    assert refused.status == 500 and refused.json["error"] == "internal_error", refused.body
    assert f"{function}: {action}" in DENIED_ACTIONS
    DENIED_ACTIONS.clear()  # expected: the fixture fails a test that leaves a denial behind
    provision_roles(TEMPLATE, aws_stack, {function: granted})
    assert call().status == 200


def test_a_sent_message_whose_record_cannot_be_written_is_still_a_200(api: Api, aws_stack, sent, caplog):
    """The record is written after the send: failing it must not answer 500 (the caller would send again)."""
    token = api.create_channel()
    granted = role_policies(TEMPLATE, aws_stack.refs)["RelayFunction"]
    provision_roles(TEMPLATE, aws_stack, {"RelayFunction": without(granted, "dynamodb:PutItem")})
    result = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert result.status == 200 and result.json["status"] == "sent", result.body
    assert len(sent()) == 1
    denied = list(DENIED_ACTIONS)
    DENIED_ACTIONS.clear()  # expected: the fixture fails a test that leaves a denial behind
    assert denied == ["RelayFunction: dynamodb:PutItem"]
    assert "message sent but its record could not be written" in caplog.text


def _granted(function: str, refs: dict[str, Any]) -> set[str]:
    policy = moto_policy(role_policies(TEMPLATE, refs)[function], refs)
    return {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def _client(service: str, local, environment: dict[str, str]):
    return boto3.client(
        service,
        endpoint_url=local.endpoint,
        region_name=REGION,
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=environment["AWS_SESSION_TOKEN"] or None,
    )


@pytest.fixture
def server_stack():
    server = MotoServer().start()
    try:
        local = provision(TEMPLATE, server.endpoint, {"SenderDomain": "example.com"}, ADMIN_KEY)
        yield local
    finally:
        requests.post(f"{server.endpoint}/moto-api/reset-auth", data="inf", timeout=10)  # settings are per process
        server.stop()
        DENIED.clear()


def test_local_stack_roles_on_the_moto_server(server_stack):
    """What `python -m local` does: moto's server in this process, enforcement through /moto-api/reset-auth, and
    each worker process's credentials as environment variables."""
    local = server_stack
    roles = provision_roles(TEMPLATE, local)
    admin = admin_environment(local)
    assert set(roles) == set(TEMPLATE.functions)
    enforce(local)
    function = function_of("POST", "/v1/messages")
    assert "dynamodb:GetItem" in _granted(function, local.refs)
    assert "dynamodb:ListTables" not in _granted(function, local.refs)
    dynamodb = _client("dynamodb", local, roles[function])
    dynamodb.get_item(TableName=local.refs["ChannelsTable"], Key={"descriptor": {"S": "nobody"}})
    with pytest.raises(ClientError, match="not authorized to perform: dynamodb:ListTables"):
        dynamodb.list_tables()
    assert DENIED[-1].endswith(f"assumed-role/mailrelay-local-{function}/{function} dynamodb:ListTables")
    _client("dynamodb", local, admin).list_tables()  # the stack's own housekeeping
    with pytest.raises(ClientError):  # the shared fake credentials are no IAM identity
        local.client("dynamodb").list_tables()
