"""One Logger, Metrics and Tracer for every function (names and namespace come from template.yaml Globals)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
tracer = Tracer()  # responses are never captured: POWERTOOLS_TRACER_CAPTURE_RESPONSE=false (template)

__all__ = ["logger", "metrics", "tracer", "MetricUnit"]
