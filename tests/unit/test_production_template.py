"""template.yaml against what a real AWS account does with it (each test fails if its fix is reverted).

The local stack plays these parts too (SES publishing through the topic, the OnFailure queue, the timeouts); these
tests pin the template itself, statically, and run its policies through the same evaluator the local SES uses.
"""

import json
import os
from pathlib import Path

import pytest

from local.policy import service_allowed
from local.template import Template, evaluate_deep
from mailrelay import timebox
from mailrelay.config import Settings

TEMPLATE = Template()
RESOURCES = TEMPLATE.resources
REFS = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "111122223333",
    "SesConfigurationSet": "mailrelay-events",
    "SesEventsTopic": "arn:aws:sns:eu-west-1:111122223333:events",
}
OUR_SET = "arn:aws:ses:eu-west-1:111122223333:configuration-set/mailrelay-events"


def _ses(source_arn: str, account: str = "111122223333") -> dict[str, str]:
    return {"aws:SourceAccount": account, "aws:SourceArn": source_arn}


# ---------------------------------------------------------------- 1. SES -> SNS -> events


def test_events_topic_key_is_customer_managed_and_lets_only_our_configuration_set_use_it():
    key_ref = RESOURCES["SesEventsTopic"]["Properties"]["KmsMasterKeyId"]
    assert key_ref == {"Ref": "SesEventsKey"}  # not alias/aws/sns: SES can never use the AWS-managed key
    key = RESOURCES[key_ref["Ref"]]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    policy = evaluate_deep(key["Properties"]["KeyPolicy"], REFS)
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert service_allowed(policy, "ses.amazonaws.com", action, "*", _ses(OUR_SET))
        assert not service_allowed(policy, "ses.amazonaws.com", action, "*", _ses(OUR_SET.replace("events", "x")))
        assert not service_allowed(policy, "ses.amazonaws.com", action, "*", _ses(OUR_SET, account="999999999999"))


def test_topic_policy_lets_ses_publish_for_our_configuration_set_only():
    policy = evaluate_deep(RESOURCES["SesEventsTopicPolicy"]["Properties"]["PolicyDocument"], REFS)
    topic = REFS["SesEventsTopic"]
    assert service_allowed(policy, "ses.amazonaws.com", "sns:Publish", topic, _ses(OUR_SET))
    assert not service_allowed(policy, "ses.amazonaws.com", "sns:Publish", topic, _ses(OUR_SET + "-other"))
    assert not service_allowed(policy, "sns.amazonaws.com", "sns:Publish", topic, _ses(OUR_SET))


def test_event_destination_is_created_after_ses_may_publish():
    destination = RESOURCES["SesEventDestination"]
    assert {"SesEventsTopicPolicy", "SesEventsKey"} <= set(destination["DependsOn"])
    assert destination["Properties"]["EventDestination"]["SnsDestination"]["TopicARN"] == {"Ref": "SesEventsTopic"}


def test_the_policy_evaluator_refuses_what_aws_refuses():
    statement = {"Effect": "Allow", "Principal": {"Service": "ses.amazonaws.com"}, "Action": "sns:Publish"}
    assert service_allowed({"Statement": [statement]}, "ses.amazonaws.com", "sns:Publish", "t", {})
    assert not service_allowed({"Statement": [statement]}, "ses.amazonaws.com", "sns:Subscribe", "t", {})
    unknown = {**statement, "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}}
    assert not service_allowed({"Statement": [unknown]}, "ses.amazonaws.com", "sns:Publish", "t", {})
    denied = {"Effect": "Deny", "Principal": "*", "Action": "sns:*"}
    assert not service_allowed({"Statement": [statement, denied]}, "ses.amazonaws.com", "sns:Publish", "t", {})
    assert not service_allowed(None, "ses.amazonaws.com", "sns:Publish", "t", {})


# ---------------------------------------------------------------- 4. timeouts


def test_every_function_stops_before_api_gateway_gives_up_on_it():
    for route in TEMPLATE.routes:
        function = TEMPLATE.functions[route.function]
        assert route.integration_timeout <= 30, route.key  # HTTP API's maximum
        assert function.timeout < route.integration_timeout, (route.key, function.timeout, route.integration_timeout)


def test_relay_send_budget_and_reserve_fit_inside_the_relay_timeout():
    relay = TEMPLATE.functions["RelayFunction"]
    budget = Settings.model_fields["send_budget_seconds"].default
    assert budget + timebox.RESERVE_SECONDS <= relay.timeout  # and what is left bounds it anyway (timebox)
    relay_route = next(r for r in TEMPLATE.routes if r.function == "RelayFunction")
    assert relay_route.integration_timeout - relay.timeout >= 3  # room for a cold start's init, not counted in Timeout


def test_timebox_bounds_waits_by_the_invocation_time_left():
    class Context:
        def get_remaining_time_in_millis(self):
            return 3_000

    timebox.start(Context())
    try:
        assert 1.3 < timebox.left() <= 3 - timebox.RESERVE_SECONDS
        assert timebox.left(0.5) == 0.5 and timebox.left(25) <= 1.5
    finally:
        timebox.start(None)  # back to unbounded (no context)
    assert timebox.left(25) == 25


# ---------------------------------------------------------------- 5. no lost provider events


def test_sns_invoked_events_function_has_a_dead_letter_queue_with_an_alarm():
    events = RESOURCES["EventsFunction"]["Properties"]
    on_failure = events["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    queue = on_failure["Destination"]["Fn::GetAtt"][0]
    assert on_failure["Type"] == "SQS" and RESOURCES[queue]["Type"] == "AWS::SQS::Queue"
    [sns_event] = [e for e in events["Events"].values() if e["Type"] == "SNS"]
    assert sns_event["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    alarms = [r for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert any(
        a["Properties"].get("Namespace") == "AWS/SQS"
        and a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
        for a in alarms
    )
    # The webhook (HTTP) and the SNS subscriber are separate functions: one invocation model, one principal each.
    assert "Events" not in RESOURCES["WebhookFunction"]["Properties"]


# ---------------------------------------------------------------- 8. operations


def test_operator_data_survives_the_stack():
    for name in ("ChannelsTable", "SuppressionsTable", "RelaySecret", "SenderIdentity"):
        assert RESOURCES[name]["DeletionPolicy"] == "Retain" == RESOURCES[name]["UpdateReplacePolicy"], name
    for name in ("ChannelsTable", "SuppressionsTable"):
        assert RESOURCES[name]["Properties"]["DeletionProtectionEnabled"] is True
    assert RESOURCES["CommonLayer"]["Properties"]["RetentionPolicy"] == "Delete"


def test_every_function_has_a_log_group_with_retention_and_the_api_logs_json_without_credentials():
    log_groups = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Logs::LogGroup"]
    for function in TEMPLATE.functions:
        assert any(
            p.get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{function}}}"} and "RetentionInDays" in p
            for p in log_groups
        ), function
    access = RESOURCES["HttpApiStage"]["Properties"]["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]}
    fields = json.loads(access["Format"].replace("\n", " ").replace("$context.error.messageString", '"quoted"'))
    assert "requestId" in fields and not any(
        word in access["Format"] for word in ("header", "authorizer", "querystring", "body")
    )


def test_alarms_watch_every_function_for_errors_and_throttles():
    for metric in ("Errors", "Throttles"):
        [alarm] = [
            r["Properties"]
            for r in RESOURCES.values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            and any(
                m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == metric
                for m in r["Properties"].get("Metrics", [])
            )
        ]
        watched = {
            m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in alarm["Metrics"] if "MetricStat" in m
        }
        assert watched == set(TEMPLATE.functions), metric


def test_outputs_name_what_a_deployer_needs():
    outputs = TEMPLATE.doc["Outputs"]
    assert {"ConfigurationSetName", "SesEventsTopicArn", "DkimRecord1", "DkimRecord2", "DkimRecord3"} <= set(outputs)
    assert "SenderIdentity.DkimDNSTokenValue1" in outputs["DkimRecord1"]["Value"]["Fn::Sub"]


# ---------------------------------------------------------------- 7. the layer


def _built_layer() -> Path:
    built = os.environ.get("MAILRELAY_BUILT_LAYER")
    if not built:
        pytest.skip("no built layer named (make test sets MAILRELAY_BUILT_LAYER after `sam build`)")
    path = Path(built) / "python"
    assert path.is_dir(), f"{path} is missing: `sam build` did not build the layer"
    return path


def test_built_layer_has_no_botocore_of_its_own():
    layer = _built_layer()
    shadowing = [p.name for p in layer.iterdir() if p.name.split("-")[0] in ("botocore", "boto3", "s3transfer")]
    assert shadowing == []  # boto3, botocore and s3transfer stay the runtime's: one consistent set


def test_every_native_library_in_the_built_layer_is_aarch64():
    layer = _built_layer()
    libraries = [p for p in layer.rglob("*.so*") if p.is_file()]
    assert libraries, "pydantic-core at least ships a native library"
    for library in libraries:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", library
        machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
        assert machine == 183, f"{library} is not aarch64 (ELF machine {machine})"  # EM_AARCH64


def test_the_built_layer_ships_bytecode_so_no_cold_start_compiles():
    """Lambda's /opt is read-only: without .pyc files every cold start compiles what it imports (bench/README.md)."""
    layer = _built_layer()
    assert not [p.name for p in layer.iterdir() if p.name.split("-")[0] in ("requests", "urllib3", "certifi")]
    ours = sorted((layer / "mailrelay").rglob("*.py"))
    assert ours, "our package keeps its sources (tracebacks show our lines)"
    for source in ours:
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{cached}: not an unchecked-hash pyc (file times in the zip must not matter)"
    theirs = [p for p in layer.rglob("*.py") if "mailrelay" not in p.relative_to(layer).parts]
    assert theirs == [], f"third-party sources left to compile at every cold start: {theirs[:5]}"
    assert (layer / "pydantic" / "main.pyc").is_file() and (layer / "typing_extensions.pyc").is_file()
