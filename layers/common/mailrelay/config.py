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


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
