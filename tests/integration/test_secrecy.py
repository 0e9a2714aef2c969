"""No token, admin key or token hash in any log line, and admin keys rotate through the secret's list."""

import json
import logging

import boto3
from aws_lambda_powertools.utilities import parameters

from mailrelay.observability import logger
from tests.integration.conftest import ADMIN_KEY, Api


def test_secrets_never_reach_the_logs(api: Api, aws_stack, capsys, caplog):
    logger.setLevel(logging.DEBUG)
    try:
        token = api.create_channel()
        api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body={"subject": "s", "text": "t"})
        api.call(
            "POST",
            "/v1/messages",
            headers=api.channel("website", "wrong-token-0123456789"),
            json_body={"subject": "s", "text": "t"},
        )
        rotated = api.call("POST", "/v1/channels/website/token", headers=api.admin).json["token"]
        digest = (
            boto3.resource("dynamodb")
            .Table(aws_stack.refs["ChannelsTable"])
            .get_item(Key={"descriptor": "website"})["Item"]["token"]["digest"]
        )
    finally:
        logger.setLevel(logging.WARNING)
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "message accepted" in logs  # the logs were captured at all
    for secret in (token, rotated, ADMIN_KEY, digest):
        assert secret not in logs


def test_admin_keys_list_allows_rotation(api: Api, aws_stack):
    secrets = boto3.client("secretsmanager")
    arn = aws_stack.refs["RelaySecret"]
    value = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({**value, "admin_keys": ["next-admin-key-0123456"]}))
    parameters.clear_caches()
    assert api.call("GET", "/v1/channels", headers={"Authorization": "Bearer next-admin-key-0123456"}).status == 200
    assert api.call("GET", "/v1/channels", headers=api.admin).status == 200  # the generated key still works
    assert api.call("GET", "/v1/channels", headers={"Authorization": "Bearer short"}).status == 401
