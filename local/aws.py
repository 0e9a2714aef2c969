"""Embedded AWS: a moto server, provisioned from template.yaml's own resources."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests

from local.faults import Faults
from local.ses import ACCOUNT_ID, LocalSes
from local.template import Template, evaluate, evaluate_deep

REGION = "us-east-1"
# moto accepts any credentials; these never leave the machine.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}

# CreateTable takes only some of AWS::DynamoDB::Table's properties; TTL is a separate call.
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "ProvisionedThroughput",
)


@dataclass
class LocalAws:
    endpoint: str | None  # None: in-process moto (`mock_aws`), as the integration tests use it
    refs: dict[str, Any]  # what !Ref gives for each parameter and provisioned resource
    # The local stack's own identity: moto's anything-goes keys while provisioning, an admin IAM user once IAM is
    # enforced (local/iam.py). Functions never use it: each runs with its own role's credentials.
    credentials: dict[str, str] = field(default_factory=lambda: dict(FAKE_CREDENTIALS))

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.credentials.get("AWS_SESSION_TOKEN") or None,
        )

    def environment(self) -> dict[str, str]:
        """Process environment that points boto3 (and so every function) at this moto server."""
        env = {**FAKE_CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
        if self.endpoint:
            env["AWS_ENDPOINT_URL"] = self.endpoint
        return env


class AtomicDynamoDB:
    """WSGI middleware: one DynamoDB request at a time.

    moto checks a ConditionExpression and then writes without a lock, so under truly simultaneous requests two
    conditional writes can both succeed (seen: 2 winners of 20 threads released by a barrier). Real DynamoDB makes
    each conditional write atomic; serialising DynamoDB calls gives the local stack that same guarantee.
    """

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


class MotoServer:
    """moto's server on a loopback port in a background thread (like ThreadedMotoServer, plus AtomicDynamoDB)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.ses = LocalSes(AtomicDynamoDB(DomainDispatcherApplication(create_backend_app)), faults or Faults(), REGION)
        app = self.ses
        self._server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.endpoint = f"http://{host}:{self._server.server_port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and forget every resource (moto's state is per process)."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10)
        self._server.shutdown()
        self._thread.join()


def provision(
    template: Template,
    endpoint: str | None,
    parameters: Mapping[str, str],
    admin_key: str,
    secret_values: Mapping[str, str] | None = None,
) -> LocalAws:
    """Create every table, secret and SES identity the template declares (honouring resource Conditions).

    A secret's generated value becomes `admin_key`; `secret_values` fill keys its template declares (Mailgun's).
    """
    refs: dict[str, Any] = {
        **template.parameter_defaults(),
        **parameters,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::StackName": "mailrelay-local",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    local = LocalAws(endpoint=endpoint, refs=refs)
    conditions = template.doc.get("Conditions", {})

    def wanted(resource: dict[str, Any]) -> bool:
        return "Condition" not in resource or bool(evaluate(conditions[resource["Condition"]], refs, conditions))

    dynamodb = local.client("dynamodb")
    for logical_id, resource in template.of_type("AWS::DynamoDB::Table").items():
        if not wanted(resource):
            continue
        props = resource["Properties"]
        name = props.get("TableName", f"mailrelay-local-{logical_id}")
        created = dynamodb.create_table(TableName=name, **{k: props[k] for k in _CREATE_TABLE_KEYS if k in props})
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        refs[logical_id], refs[f"{logical_id}.Arn"] = name, created["TableDescription"]["TableArn"]

    secrets = local.client("secretsmanager")
    for logical_id, resource in template.of_type("AWS::SecretsManager::Secret").items():
        if not wanted(resource):
            continue
        props = resource["Properties"]
        generate = props.get("GenerateSecretString", {})
        value = json.loads(generate.get("SecretStringTemplate", "{}"))
        value.update({k: v for k, v in (secret_values or {}).items() if k in value})
        if "GenerateStringKey" in generate:
            value[generate["GenerateStringKey"]] = admin_key  # the one generated value is the local admin key
        created = secrets.create_secret(
            Name=props.get("Name", f"mailrelay-local-{logical_id}"), SecretString=json.dumps(value)
        )
        refs[logical_id] = created["ARN"]

    sqs = local.client("sqs")
    for logical_id, resource in template.of_type("AWS::SQS::Queue").items():
        if wanted(resource):
            name = f"mailrelay-local-{logical_id}"
            refs[logical_id] = sqs.create_queue(QueueName=name)["QueueUrl"]
            refs[f"{logical_id}.QueueName"] = name
            refs[f"{logical_id}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"

    ses = local.client("sesv2")
    for logical_id, resource in template.of_type("AWS::SES::ConfigurationSet").items():
        if wanted(resource):
            name = str(evaluate(resource.get("Properties", {}).get("Name", f"mailrelay-local-{logical_id}"), refs))
            ses.create_configuration_set(ConfigurationSetName=name)
            refs[logical_id] = name

    kms = local.client("kms")
    for logical_id, resource in template.of_type("AWS::KMS::Key").items():
        if wanted(resource):
            policy = json.dumps(evaluate_deep(resource["Properties"]["KeyPolicy"], refs))
            key = kms.create_key(Policy=policy, Description=str(resource["Properties"].get("Description", "")))
            refs[logical_id], refs[f"{logical_id}.Arn"] = key["KeyMetadata"]["KeyId"], key["KeyMetadata"]["Arn"]

    sns = local.client("sns")
    for logical_id, resource in template.of_type("AWS::SNS::Topic").items():
        if wanted(resource):
            key = resource.get("Properties", {}).get("KmsMasterKeyId")
            attributes = {"KmsMasterKeyId": str(evaluate(key, refs))} if key else {}
            refs[logical_id] = sns.create_topic(Name=f"mailrelay-local-{logical_id}", Attributes=attributes)["TopicArn"]
    for resource in template.of_type("AWS::SNS::TopicPolicy").values():
        if wanted(resource):
            policy = json.dumps(evaluate_deep(resource["Properties"]["PolicyDocument"], refs))
            for topic in resource["Properties"]["Topics"]:
                sns.set_topic_attributes(TopicArn=evaluate(topic, refs), AttributeName="Policy", AttributeValue=policy)
    for function, topic, properties in template.sns_subscriptions():
        attributes = {}
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(evaluate_deep(properties["RedrivePolicy"], refs))
        endpoint = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function}"
        sns.subscribe(TopicArn=refs[topic], Protocol="lambda", Endpoint=endpoint, Attributes=attributes)

    if local.endpoint:  # event destinations live in the local SES (local/ses.py), which in-process moto lacks
        for resource in template.of_type("AWS::SES::ConfigurationSetEventDestination").values():
            if wanted(resource):
                props = evaluate_deep(resource["Properties"], refs)
                given = props["EventDestination"]
                destination = {
                    "Enabled": bool(given.get("Enabled", False)),
                    "MatchingEventTypes": [t.upper() for t in given.get("MatchingEventTypes", [])],
                }
                if "SnsDestination" in given:
                    destination["SnsDestination"] = {"TopicArn": given["SnsDestination"]["TopicARN"]}
                ses.create_configuration_set_event_destination(
                    ConfigurationSetName=props["ConfigurationSetName"],
                    EventDestinationName=given["Name"],
                    EventDestination=destination,
                )
    for _logical_id, resource in template.of_type("AWS::SES::EmailIdentity").items():
        if wanted(resource):
            ses.create_email_identity(EmailIdentity=evaluate(resource["Properties"]["EmailIdentity"], refs))
    return local


def function_environment(template: Template, function: str, local: LocalAws) -> dict[str, str]:
    """A function's Environment from the template, resolved against the local resources, plus local settings."""
    env = {name: str(evaluate(value, local.refs)) for name, value in template.functions[function].environment.items()}
    env.update(local.environment())
    env.setdefault("POWERTOOLS_METRICS_DISABLED", os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"))
    env["AWS_LAMBDA_FUNCTION_NAME"] = function
    return env
