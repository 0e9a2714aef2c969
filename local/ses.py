"""The local SES v2, as strict as the real one, and the AWS services it sets in motion.

moto's SES v2 accepts a configuration set that does not exist, has no GetAccount and no event destinations, never
publishes an event, and words its refusals differently from SES. `LocalSes` sits in front of it (WSGI middleware in
the embedded AWS) and adds those parts; `ServiceSimulation` plays what AWS does after SES accepted a message:

SES publishes a bounce / complaint through the configuration set's event destination to the SNS topic - only when the
topic's policy and its KMS key's policy let ses.amazonaws.com do it, as AWS checks them (local/policy.py) - and SNS
delivers it to the topic's Lambda subscriptions, invoking the function asynchronously: two retries, then the event
goes to the function's OnFailure destination (EventInvokeConfig) or is lost, exactly as template.yaml says.
"""

from __future__ import annotations

import io
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.faults import SES_ERRORS, Faults
from local.policy import service_allowed
from local.provider_events import ses_notification, sns_event, wanted_events
from local.template import Template, evaluate

ACCOUNT_ID = "123456789012"  # moto's default account, which the local stack uses
SEND_PATH = "/v2/email/outbound-emails"
_DESTINATIONS_PATH = re.compile(r"^/v2/email/configuration-sets/([^/]+)/event-destinations$")


def _unverified(region: str, identities: list[str]) -> tuple[int, str, str]:
    listed = ", ".join(identities)
    return (
        400,
        "MessageRejected",
        (
            f"Email address is not verified. The following identities failed the check in region {region.upper()}: "
            f"{listed}"
        ),
    )


class LocalSes:
    """WSGI middleware in front of moto: SendEmail checks (faults, sandbox, identities, configuration set) with SES's
    own error shapes, GetAccount, and configuration-set event destinations (kept here; moto has none)."""

    def __init__(self, app, faults: Faults, region: str):
        self.app = app
        self.faults = faults
        self.region = region
        self.destinations: dict[str, dict[str, dict[str, Any]]] = {}  # configuration set -> name -> destination
        self.on_sent: Callable[[dict[str, Any]], None] | None = None

    def __call__(self, environ, start_response):
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if path == "/v2/email/account" and method == "GET":
            return _answer(start_response, 200, self.account())
        found = _DESTINATIONS_PATH.match(path)
        if found and method in ("GET", "POST"):
            return self._destinations(found.group(1), method, environ, start_response)
        if path == SEND_PATH and method == "POST":
            return self._send(environ, start_response)
        return self.app(environ, start_response)

    def account(self) -> dict[str, Any]:
        fault = self.faults.get()["ses"]
        return {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": fault != "sandbox",
            "SendingEnabled": fault != "paused",
            "SendQuota": {"Max24HourSend": 200.0 if fault == "sandbox" else 50_000.0, "MaxSendRate": 14.0},
        }

    def _destinations(self, configuration_set: str, method: str, environ, start_response):
        if not _configuration_set_exists(configuration_set):
            return _error(start_response, *_no_configuration_set(configuration_set))
        kept = self.destinations.setdefault(configuration_set, {})
        if method == "GET":
            listed = [{"Name": name, **destination} for name, destination in kept.items()]
            return _answer(start_response, 200, {"EventDestinations": listed})
        body = json.loads(_read(environ) or b"{}")
        kept[body["EventDestinationName"]] = body["EventDestination"]
        return _answer(start_response, 200, {})

    def _send(self, environ, start_response):
        raw = _read(environ)
        request = json.loads(raw or b"{}")
        fault = self.faults.get()["ses"]
        if fault in SES_ERRORS:
            return _error(start_response, *SES_ERRORS[fault])
        refusal = self.refusal(request, sandbox=fault == "sandbox")
        if refusal:
            return _error(start_response, *refusal)
        environ["wsgi.input"] = io.BytesIO(raw)
        statuses: list[str] = []

        def remember(status, headers, exc_info=None):
            statuses.append(status)
            return start_response(status, headers, exc_info)

        result = list(self.app(environ, remember))
        if statuses and statuses[0].startswith("200") and self.on_sent is not None:
            self.on_sent(request)
        return result

    def refusal(self, request: dict[str, Any], sandbox: bool) -> tuple[int, str, str] | None:
        """What SES answers instead of sending, or None: an unknown configuration set, an unverified sender and - in
        the sandbox - any unverified recipient."""
        configuration_set = request.get("ConfigurationSetName")
        if configuration_set and not _configuration_set_exists(configuration_set):
            return _no_configuration_set(configuration_set)
        verified = _ses_backend()._is_verified_address
        sender = request.get("FromEmailAddress") or ""
        if not verified(sender):
            return _unverified(self.region, [sender])
        if sandbox:
            recipients = [a for addresses in (request.get("Destination") or {}).values() for a in addresses]
            unverified = [a for a in recipients if not verified(a)]
            if unverified:
                return _unverified(self.region, unverified)
        return None


class ServiceSimulation:
    """SES event publishing -> SNS -> asynchronous Lambda invocation, through the template's own resources."""

    DELAY_S = 0.5  # the message record is written before the event comes back, as with the real providers
    RETRY_DELAY_S = 0.2  # Lambda waits about 1 and then 2 minutes between asynchronous retries; locally, shortened

    def __init__(self, template: Template, ses: LocalSes, client: Callable[[str], Any], log=None):
        self.template = template
        self.ses = ses
        self.client = client  # boto3 client factory with the local stack's own (admin) credentials
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.pools = None  # set once the worker pools exist
        self.refs: dict[str, Any] = {}  # set once provisioned
        ses.on_sent = self.ses_sent

    def ses_sent(self, request: dict[str, Any]) -> None:
        """bounce@ / complaint@ recipients: SES publishes the event the real recipient's server would cause."""
        destinations = [a for addresses in (request.get("Destination") or {}).values() for a in addresses]
        tags = {t.get("Name"): t.get("Value") for t in request.get("EmailTags") or []}
        for kind, address in wanted_events(destinations):
            notification = ses_notification(
                "Bounce" if kind == "bounce" else "Complaint",
                [address],
                tags.get("mailrelay_id"),
                request.get("FromEmailAddress", ""),
            )
            configuration_set = request.get("ConfigurationSetName")
            self._later(lambda n=notification, k=kind, c=configuration_set: self.publish(c, k, n))

    def publish(self, configuration_set: str | None, kind: str, notification: dict[str, Any]) -> int:
        """Publish through the configuration set's event destinations; returns how many topics took it."""
        if not configuration_set:
            self.log(f"local SES: a {kind} happened, but the message named no configuration set: no event published")
            return 0
        published = 0
        for name, destination in self.ses.destinations.get(configuration_set, {}).items():
            wanted = {t.upper() for t in destination.get("MatchingEventTypes", [])}
            topic = (destination.get("SnsDestination") or {}).get("TopicArn")
            if not destination.get("Enabled") or kind.upper() not in wanted or not topic:
                continue
            why = self.ses_cannot_publish(topic, configuration_set)
            if why:
                self.log(f"local SES: destination {name} cannot publish the {kind} to {topic}: {why}. AWS drops it.")
                continue
            self.deliver(topic, notification)
            published += 1
        return published

    def ses_cannot_publish(self, topic_arn: str, configuration_set: str) -> str | None:
        """Why ses.amazonaws.com may not publish to the topic (topic policy, then the topic's KMS key), or None."""
        context = {
            "aws:SourceAccount": ACCOUNT_ID,
            "aws:SourceArn": f"arn:aws:ses:{self.ses.region}:{ACCOUNT_ID}:configuration-set/{configuration_set}",
        }
        sns = self.client("sns")
        try:
            attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        except Exception as exc:  # noqa: BLE001 (any failure means: SES cannot publish there)
            return f"the topic cannot be read ({type(exc).__name__})"
        if not service_allowed(attributes.get("Policy"), "ses.amazonaws.com", "sns:Publish", topic_arn, context):
            return "the topic policy does not allow ses.amazonaws.com to sns:Publish for this configuration set"
        key = attributes.get("KmsMasterKeyId")
        if not key:
            return None
        if "alias/aws/" in key:
            return f"the topic is encrypted with the AWS-managed key {key}, whose policy cannot allow SES to use it"
        kms = self.client("kms")
        key_id = kms.describe_key(KeyId=key)["KeyMetadata"]["KeyId"]
        policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            if not service_allowed(policy, "ses.amazonaws.com", action, "*", context):
                return f"the topic's KMS key policy does not allow ses.amazonaws.com {action}"
        return None

    def deliver(self, topic_arn: str, notification: dict[str, Any]) -> None:
        """SNS: every confirmed Lambda subscription of the topic gets the notification, invoked asynchronously."""
        subscriptions = self.client("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        for subscription in subscriptions:
            if subscription["Protocol"] == "lambda":
                function = subscription["Endpoint"].rsplit(":", 1)[-1]
                event = sns_event(topic_arn, notification)
                threading.Thread(target=self.invoke_async, args=(function, event), daemon=True).start()

    def invoke_async(self, function: str, event: dict[str, Any]) -> bool:
        """Lambda's asynchronous invocation: the first try and MaximumRetryAttempts retries (default 2), then the
        OnFailure destination, if the function has one. True when the function succeeded."""
        config = self.template.resources[function].get("Properties", {}).get("EventInvokeConfig") or {}
        retries = int(config.get("MaximumRetryAttempts", 2))
        error = ""
        for attempt in range(1 + retries):
            outcome = self.pools.invoke(function, event)
            if "ok" in outcome:
                return True
            error = outcome["error"].strip().splitlines()[-1]
            self.log(f"local Lambda: asynchronous invocation {attempt + 1} of {function} failed: {error}")
            time.sleep(self.RETRY_DELAY_S)
        on_failure = (config.get("DestinationConfig") or {}).get("OnFailure")
        if not on_failure:
            self.log(f"local Lambda: {function} has no OnFailure destination: the event is lost")
            return False
        destination = str(evaluate(on_failure["Destination"], self.refs))
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "functionArn": f"arn:aws:lambda:{self.ses.region}:{ACCOUNT_ID}:function:{function}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1 + retries,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": error},
        }
        sqs = self.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
        self.log(f"local Lambda: {function} failed {1 + retries} times: the event went to {destination}")
        return False

    def _later(self, action) -> None:
        timer = threading.Timer(self.DELAY_S, action)
        timer.daemon = True
        timer.start()


def _no_configuration_set(name: str) -> tuple[int, str, str]:
    return 404, "NotFoundException", f"Configuration set <{name}> does not exist."


def _configuration_set_exists(name: str) -> bool:
    return name in _ses_backend().config_sets  # moto keeps SES v1 and v2 configuration sets in one place


def _ses_backend():
    from moto.ses.models import ses_backends

    return ses_backends[ACCOUNT_ID]["us-east-1"]


def _read(environ) -> bytes:
    return environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))


def _answer(start_response, status: int, body: dict[str, Any]):
    data = json.dumps(body).encode()
    start_response(f"{status} OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _error(start_response, status: int, code: str, message: str):
    """SES v2 (REST-JSON) errors: the type in a header, the text in the body."""
    data = json.dumps({"__type": code, "message": message}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code), ("Content-Length", str(len(data)))]
    start_response(f"{status} {code}", headers)
    return [data]
