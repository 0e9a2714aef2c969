"""One Logger and one Metrics for every function (names and namespace come from template.yaml Globals).

Tracing is Lambda's own active tracing (template `Tracing: Active`): every invocation gets its X-Ray segment without
the X-Ray SDK in the layer. The SDK (Powertools Tracer) would bring a second botocore into the layer, shadowing the
runtime's while boto3 stayed the runtime's, and costs ~150 ms of cold start.
"""

import re
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# A request that records no metric (a read, a 4xx) is normal here, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
metrics = Metrics()

_ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")


def without_addresses(text: str) -> str:
    """A provider's message for the log: SES names the identities it refused ("... failed the check in region
    US-EAST-1: someone@example.org") and Mailgun may name a recipient; the log keeps the reason, not the address."""
    return _ADDRESS.sub("<address>", text)


__all__ = ["logger", "metrics", "MetricUnit", "without_addresses"]
