"""The providers this deployment sends through, in PROVIDER_ORDER, and their shared circuit breaker."""

from __future__ import annotations

from collections.abc import Callable

from mailrelay.config import Settings
from mailrelay.dal.circuit import CircuitStore
from mailrelay.providers.base import Provider
from mailrelay.providers.circuit import Breaker, BreakerSettings
from mailrelay.providers.mailgun import MailgunProvider, MailgunSettings
from mailrelay.providers.ses import SesProvider
from mailrelay.secret import relay_secret


def mailgun_settings(config: Settings) -> MailgunSettings | None:
    secret = relay_secret()
    if not secret.get("mailgun_api_key") or not secret.get("mailgun_domain"):
        return None
    return MailgunSettings(secret["mailgun_api_key"], secret["mailgun_domain"], config.mailgun_base_url)


def providers(config: Settings) -> list[Provider]:
    """The sending chain in the configured order (SES first by default)."""
    made: dict[str, Callable[[], Provider]] = {
        "ses": lambda: SesProvider(configuration_set=config.ses_configuration_set),
        "mailgun": lambda: MailgunProvider(lambda: mailgun_settings(config)),
    }
    return [made[name]() for name in config.providers]


def breaker(config: Settings) -> Breaker:
    return Breaker(
        CircuitStore(config.rate_table),
        BreakerSettings(
            config.circuit_failure_threshold,
            config.circuit_window_seconds,
            config.circuit_cooldown_seconds,
            config.circuit_cache_seconds,
        ),
    )
