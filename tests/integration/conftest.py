"""Integration set-up: AWS under moto's in-process `mock_aws`, provisioned from template.yaml exactly as the local
stack does it; requests become payload-v2 events through the local gateway's builder and go to the real handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.aws import function_environment, provision
from local.gateway import LambdaContext, build_event
from local.outbox import describe
from local.template import Template, load_handler
from mailrelay import aws, config

ADMIN_KEY = "integration-admin-key-0123456789"
TEMPLATE = Template()
_HANDLERS: dict[str, Any] = {}


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def handler(function: str):
    if function not in _HANDLERS:
        _HANDLERS[function] = load_handler(TEMPLATE.functions[function])
    return _HANDLERS[function]


def invoke_event(event: dict[str, Any]) -> Result:
    route, _ = TEMPLATE.match(event["requestContext"]["http"]["method"], event["rawPath"])
    result = handler(route.function)(event, LambdaContext(route.function))
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
        path_only, _, query = path.partition("?")
        builder = EnvironBuilder(
            method=method,
            path=path_only,
            query_string=query,
            headers=headers,
            data=data,
            environ_base={"REMOTE_ADDR": source_ip},
        )
        request = Request(builder.get_environ())
        found = TEMPLATE.match(method, path_only)
        assert found is not None, f"{method} {path_only} is not routed by template.yaml"
        route, params = found
        return build_event(request, route, params, data or b"")

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
        aws.clear_caches()
        config.settings.cache_clear()
        parameters.clear_caches()
        yield local
        aws.clear_caches()
        config.settings.cache_clear()
        parameters.clear_caches()


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
