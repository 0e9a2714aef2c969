"""The local gateway stops a request where AWS stops it: at the function's Timeout (Lambda kills it; API Gateway then
answers 500) or at the route's integration timeout (API Gateway answers 503) - whichever comes first. Never a hang."""

import json
import textwrap
import time

import pytest
from werkzeug.test import Client

from local.gateway import FunctionPools, Gateway
from local.template import Template

HANDLER = """
import time

def lambda_handler(event, context):
    seconds = float(event["queryStringParameters"]["sleep"])
    left = context.get_remaining_time_in_millis()
    time.sleep(seconds)
    return {"statusCode": 200, "body": str(left)}
"""

TEMPLATE = """
Resources:
  {name}Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code}
      Handler: app.lambda_handler
      Timeout: {timeout}
  {name}Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      IntegrationUri: !GetAtt {name}Function.Arn
      TimeoutInMillis: {integration_ms}
  {name}Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      RouteKey: GET /{path}
      Target: !Sub integrations/${{{name}Integration}}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    root = tmp_path_factory.mktemp("gateway")
    (root / "app.py").write_text(HANDLER)
    doc = TEMPLATE.format(name="Short", code=root, timeout=1, integration_ms=3000, path="short")
    doc += TEMPLATE.format(name="Long", code=root, timeout=5, integration_ms=1000, path="long").split("Resources:")[1]
    (root / "template.yaml").write_text(textwrap.dedent(doc))
    template = Template(root / "template.yaml")
    pools = FunctionPools(template, {name: {} for name in template.functions}, workers=1)
    pools.warm()
    yield Client(Gateway(template, pools, log=lambda _: None))
    pools.shutdown()


def test_the_function_sees_its_own_timeout_as_the_time_left(gateway):
    response = gateway.get("/short?sleep=0")
    assert response.status_code == 200 and 800 < int(response.get_data()) <= 1000


def test_a_function_past_its_timeout_is_stopped_and_api_gateway_answers_500(gateway):
    started = time.monotonic()
    response = gateway.get("/short?sleep=10")
    assert response.status_code == 500 and json.loads(response.get_data()) == {"message": "Internal Server Error"}
    assert time.monotonic() - started < 3  # the function's 1 s, not the integration's 3 s, nor the 10 s it wanted
    assert gateway.get("/short?sleep=0").status_code == 200  # a fresh container serves the next request


def test_an_integration_timeout_shorter_than_the_function_answers_503(gateway):
    started = time.monotonic()
    response = gateway.get("/long?sleep=10")
    assert response.status_code == 503 and json.loads(response.get_data()) == {"message": "Service Unavailable"}
    assert time.monotonic() - started < 2.5
