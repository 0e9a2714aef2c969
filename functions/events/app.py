"""SES bounce and complaint notifications, delivered by SNS from the stack's own topic, into the suppression list.

SNS invokes this function asynchronously. An error (e.g. DynamoDB unavailable) is raised, not swallowed: Lambda
retries the invocation twice and then hands the event to the dead-letter queue (template: EventInvokeConfig).
"""

from __future__ import annotations

from mailrelay import timebox
from mailrelay.lazy import lazy
from mailrelay.observability import logger, metrics

provider_events = lazy("mailrelay.domain.provider_events")  # loaded by the first event (`make bench`)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    timebox.start(context)
    return provider_events.handle_sns(event.get("Records") or [])
