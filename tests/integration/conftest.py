"""Integration set-up: AWS under moto's in-process `mock_aws`, provisioned from template.yaml exactly as the local
stack does it; requests become payload-v2 events through the local gateway's builder and go to the real handlers.

Every handler runs under its function's IAM policy with moto's IAM checks on (local/iam.py), so an action that
template.yaml does not grant fails here as it would in AWS; test code between calls runs with the checks off.
In-process, all handlers share one set of credentials - those of a role that, before each call, gets the policy of
the called function's own role (`provision_roles`): credentials per function would make every switch of function
rebuild each cached boto3 client (measured: +45% suite time). A test that leaves an AccessDenied behind fails, even
when the handler swallowed it; tests that expect one clear `DENIED_ACTIONS`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from local.aws import LocalAws, function_environment, provision
from local.gateway import LambdaContext, request_event
from local.iam import DENIED, POLICY_NAME, TRUST_ANYONE, enforce, provision_roles, role_name
from local.outbox import describe
from local.template import Template, load_handler
from mailrelay import aws, config
from mailrelay.domain import delivery, idempotency

ADMIN_KEY = "integration-admin-key-0123456789"
TEMPLATE = Template()
_HANDLERS: dict[str, Any] = {}
IN_PROCESS_ROLE = "mailrelay-local-in-process"
_CURRENT: dict[str, Any] = {}  # this test's stack and its IAM client
DENIED_ACTIONS: list[str] = []  # "<function>: <action>" for each AccessDenied in this test


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _forget_clients() -> None:
    """Drop every cached boto3 client (a new stack means new credentials)."""
    aws.clear_caches()
    parameters.clear_caches()
    idempotency._runner.cache_clear()
    delivery.forget()


def handler(function: str):
    """The function's handler, called under its role's policy with IAM enforced (as `invoke_event` calls it)."""
    if function not in _HANDLERS:
        _HANDLERS[function] = load_handler(TEMPLATE.functions[function])

    def as_function(event: dict[str, Any], context: Any) -> Any:
        iam = _CURRENT["iam"]
        policy = iam.get_role_policy(RoleName=role_name(function), PolicyName=POLICY_NAME)["PolicyDocument"]
        iam.put_role_policy(RoleName=IN_PROCESS_ROLE, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
        DENIED.clear()
        enforce(_CURRENT["stack"])
        _CURRENT["function"] = function  # which function's code is running (tests that watch its AWS calls)
        try:
            return _HANDLERS[function](event, context)
        finally:
            _CURRENT["function"] = None
            enforce(_CURRENT["stack"], on=False)
            DENIED_ACTIONS.extend(f"{function}: {denial.rsplit(' ', 1)[1]}" for denial in DENIED)

    return as_function


def _in_process_credentials(local: LocalAws) -> dict[str, str]:
    iam = local.client("iam")
    arn = iam.create_role(RoleName=IN_PROCESS_ROLE, AssumeRolePolicyDocument=json.dumps(TRUST_ANYONE))["Role"]["Arn"]
    credentials = local.client("sts").assume_role(RoleArn=arn, RoleSessionName="handlers")["Credentials"]
    _CURRENT.update(stack=local, iam=iam)
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def context(function: str) -> LambdaContext:
    """A Lambda context with the function's own Timeout from template.yaml (what `timebox` bounds waits by)."""
    return LambdaContext(function, TEMPLATE.functions[function].timeout)


def invoke_event(event: dict[str, Any]) -> Result:
    route, _ = TEMPLATE.match(event["requestContext"]["http"]["method"], event["rawPath"])
    result = handler(route.function)(event, context(route.function))
    return Result(result["statusCode"], result.get("headers") or {}, result.get("body") or "")


class Api:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def event(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        source_ip: str = "198.51.100.7",
    ) -> dict[str, Any]:
        headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        return request_event(TEMPLATE, method, path, headers, data, source_ip)[1]

    def call(self, method: str, path: str, **kwargs: Any) -> Result:
        return invoke_event(self.event(method, path, **kwargs))

    def create_channel(self, name: str = "website", **spec: Any) -> str:
        body = {"sender": {"email": "noreply@example.com", "name": "Site"}, "recipients": ["team@example.com"], **spec}
        result = self.call("PUT", f"/v1/channels/{name}", headers=self.admin, json_body=body)
        assert result.status == 201, result.body
        return result.json["token"]

    @staticmethod
    def channel(name: str, token: str) -> dict[str, str]:
        return {"X-Descriptor": name, "X-Token": token}


@pytest.fixture
def stack_options() -> dict[str, Any]:
    """Template parameters and secret values for `aws_stack`; override in a test module to change them."""
    return {"parameters": {}, "secret_values": {}}


@pytest.fixture
def aws_stack(monkeypatch, stack_options):
    """Fresh in-process AWS per test, with the template's tables, secret and SES identity."""
    with mock_aws():
        local = provision(
            TEMPLATE,
            None,
            {"SenderDomain": "example.com", **stack_options["parameters"]},
            ADMIN_KEY,
            secret_values=stack_options["secret_values"],
        )
        for function in TEMPLATE.functions:
            for name, value in function_environment(TEMPLATE, function, local).items():
                if name != "AWS_LAMBDA_FUNCTION_NAME":
                    monkeypatch.setenv(name, value)
        provision_roles(TEMPLATE, local)
        for name, value in _in_process_credentials(local).items():
            monkeypatch.setenv(name, value)
        DENIED_ACTIONS.clear()
        _forget_clients()
        config.settings.cache_clear()
        yield local
        denied = list(DENIED_ACTIONS)
        DENIED_ACTIONS.clear()
        _CURRENT.clear()
        _forget_clients()
        config.settings.cache_clear()
        assert not denied, f"IAM denied (template.yaml lacks a grant the code uses): {denied}"


@pytest.fixture
def api(aws_stack) -> Api:
    return Api()


@pytest.fixture
def sent(aws_stack):
    """Everything moto's SES accepted in this test, parsed like the local outbox parses it."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    def read() -> list[dict[str, Any]]:
        backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        return [describe("ses", m.raw_data.encode(), list(m.destinations)) for m in backend.sent_messages]

    return read
