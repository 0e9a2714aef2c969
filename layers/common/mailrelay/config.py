"""Settings parsed once from the environment that template.yaml gives every function."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    channels_table: str = Field(validation_alias="CHANNELS_TABLE")
    rate_table: str = Field(validation_alias="RATE_TABLE")
    messages_table: str = Field(validation_alias="MESSAGES_TABLE")
    relay_secret_id: str = Field(validation_alias="RELAY_SECRET_ID")
    message_retention_days: int = Field(default=30, ge=1, le=365, validation_alias="MESSAGE_RETENTION_DAYS")
    # How long a fetched secret is reused before Secrets Manager is asked again (admin key revocation delay).
    secret_max_age: int = Field(default=60, ge=0, validation_alias="SECRET_MAX_AGE")
    idempotency_table: str = Field(default="", validation_alias="IDEMPOTENCY_TABLE")
    nonces_table: str = Field(default="", validation_alias="NONCES_TABLE")
    suppressions_table: str = Field(default="", validation_alias="SUPPRESSIONS_TABLE")
    ses_configuration_set: str = Field(default="", validation_alias="SES_CONFIGURATION_SET")
    ses_events_topic_arn: str = Field(default="", validation_alias="SES_EVENTS_TOPIC_ARN")
    alarm_topic_arn: str = Field(default="", validation_alias="ALARM_TOPIC_ARN")
    dns_nameserver: str = Field(
        default="", pattern=r"^$|^[0-9a-fA-F.:]+(@[0-9]{1,5})?$", validation_alias="DNS_NAMESERVER"
    )

    # Wrong admin keys per source address and minute before 429 (template parameter AdminFailuresPerMinute).
    admin_failures_per_minute: int = Field(default=10, ge=1, validation_alias="ADMIN_FAILURES_PER_MINUTE")

    # Public forms: nonce lifetime, how many nonces one IP may fetch per minute, CAPTCHA verification endpoints.
    nonce_ttl_seconds: int = Field(default=600, ge=10, le=86_400, validation_alias="NONCE_TTL_SECONDS")
    nonces_per_ip_per_minute: int = Field(default=20, ge=1, validation_alias="NONCES_PER_IP_PER_MINUTE")
    turnstile_verify_url: str = Field(
        default="https://challenges.cloudflare.com/turnstile/v0/siteverify", validation_alias="TURNSTILE_VERIFY_URL"
    )
    hcaptcha_verify_url: str = Field(
        default="https://api.hcaptcha.com/siteverify", validation_alias="HCAPTCHA_VERIFY_URL"
    )
    recaptcha_verify_url: str = Field(
        default="https://www.google.com/recaptcha/api/siteverify", validation_alias="RECAPTCHA_VERIFY_URL"
    )

    # Sending: providers in order, Mailgun's API base URL (US or EU), the time all attempts together may take.
    provider_order: str = Field(
        default="ses,mailgun", pattern=r"^(ses|mailgun)(,(ses|mailgun))*$", validation_alias="PROVIDER_ORDER"
    )
    mailgun_base_url: str = Field(
        default="https://api.mailgun.net", pattern=r"^https?://", validation_alias="MAILGUN_BASE_URL"
    )
    send_budget_seconds: float = Field(default=24.0, gt=0, le=27, validation_alias="SEND_BUDGET_SECONDS")
    circuit_failure_threshold: int = Field(default=3, ge=1, validation_alias="CIRCUIT_FAILURE_THRESHOLD")
    circuit_window_seconds: float = Field(default=60.0, gt=0, validation_alias="CIRCUIT_WINDOW_SECONDS")
    circuit_cooldown_seconds: float = Field(default=60.0, ge=0, validation_alias="CIRCUIT_COOLDOWN_SECONDS")
    # How long a container reuses the circuit state it read (0: read it on every send; the local stack uses 0 so
    # that a change of /_local/faults shows at the very next request).
    circuit_cache_seconds: float = Field(default=2.0, ge=0, le=10, validation_alias="CIRCUIT_CACHE_SECONDS")

    @property
    def providers(self) -> list[str]:
        return list(dict.fromkeys(self.provider_order.split(",")))


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
