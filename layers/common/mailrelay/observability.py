"""One Logger, Metrics and Tracer for every function (names and namespace come from template.yaml Globals)."""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# A request that records no metric (a read, a 4xx) is normal here, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
metrics = Metrics()
tracer = Tracer()  # responses are never captured: POWERTOOLS_TRACER_CAPTURE_RESPONSE=false (template)

__all__ = ["logger", "metrics", "tracer", "MetricUnit"]
