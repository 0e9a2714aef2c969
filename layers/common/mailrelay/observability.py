"""One Logger and one Metrics for every function (names and namespace come from template.yaml Globals).

Tracing is Lambda's own active tracing (template `Tracing: Active`): every invocation gets its X-Ray segment without
the X-Ray SDK in the layer. The SDK (Powertools Tracer) would bring a second botocore into the layer, shadowing the
runtime's while boto3 stayed the runtime's, and costs ~150 ms of cold start.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# A request that records no metric (a read, a 4xx) is normal here, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
metrics = Metrics()

__all__ = ["logger", "metrics", "MetricUnit"]
