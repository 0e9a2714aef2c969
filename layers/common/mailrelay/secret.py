"""The relay's one secret (admin keys, Mailgun key), through Powertools parameters with caching."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters

from mailrelay.config import settings


def relay_secret() -> dict[str, Any]:
    return parameters.get_secret(settings().relay_secret_id, transform="json", max_age=settings().secret_max_age)
