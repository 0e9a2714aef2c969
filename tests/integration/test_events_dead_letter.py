"""No lost provider events: SNS invokes the events function asynchronously, and what it cannot record (DynamoDB down,
say) must end in the template's dead-letter queue - played here by the local stack's asynchronous-invocation
simulation (local/ses.py), with the real handler under its own IAM role."""

import json

import boto3

from local.faults import Faults
from local.provider_events import ses_notification, sns_event
from local.ses import LocalSes, ServiceSimulation
from tests.integration.conftest import TEMPLATE, context, handler


class InProcessPools:
    """What FunctionPools.invoke answers, with the handler run in this process."""

    def invoke(self, function, event, timeout=None):
        try:
            return {"ok": handler(function)(event, context(function))}
        except Exception as exc:  # noqa: BLE001 (an unhandled error is what Lambda reports)
            return {"error": f"Traceback ...\n{type(exc).__name__}: {exc}"}


def simulation(aws_stack) -> ServiceSimulation:
    services = ServiceSimulation(TEMPLATE, LocalSes(None, Faults(), "us-east-1"), aws_stack.client, log=lambda _: None)
    services.pools, services.refs, services.RETRY_DELAY_S = InProcessPools(), aws_stack.refs, 0
    return services


def bounce_event(aws_stack) -> dict:
    notification = ses_notification("Bounce", ["gone@example.org"], None)
    return sns_event(aws_stack.refs["SesEventsTopic"], notification)


def dead_letters(aws_stack) -> list[dict]:
    sqs = aws_stack.client("sqs")
    url = aws_stack.refs["ProviderEventsDeadLetterQueue"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_recorded_bounce_leaves_nothing_in_the_dead_letter_queue(aws_stack):
    assert simulation(aws_stack).invoke_async("EventsFunction", bounce_event(aws_stack)) is True
    item = (
        boto3.resource("dynamodb")
        .Table(aws_stack.refs["SuppressionsTable"])
        .get_item(Key={"address": "gone@example.org"})
    )
    assert item["Item"]["reason"] == "bounce" and dead_letters(aws_stack) == []


def test_a_bounce_that_cannot_be_recorded_ends_in_the_dead_letter_queue_after_two_retries(aws_stack):
    boto3.client("dynamodb").delete_table(TableName=aws_stack.refs["SuppressionsTable"])  # DynamoDB "down"
    event = bounce_event(aws_stack)
    assert simulation(aws_stack).invoke_async("EventsFunction", event) is False
    [record] = dead_letters(aws_stack)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # the first try and Lambda's two retries
    assert record["requestPayload"] == event  # the whole event, ready to be redriven
    assert "ResourceNotFoundException" in record["responsePayload"]["errorMessage"]
