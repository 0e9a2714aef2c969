"""Suppression list and address-validation models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mailrelay.models.common import Strict

Reason = Literal["bounce", "complaint", "manual"]
Source = Literal["ses", "mailgun", "admin"]


class SuppressionRequest(Strict):
    reason: Reason = "manual"


class Suppression(BaseModel):
    address: str
    reason: Reason
    source: Source
    created_at: str


class SuppressionPage(BaseModel):
    suppressions: list[Suppression]
    next_cursor: str | None


class AddressCheck(BaseModel):
    address: str
    normalized: str | None
    valid_syntax: bool
    domain: str | None
    mx_found: bool | None = Field(description="null when DNS could not be asked")
    role_address: bool
    disposable: bool
    suppressed: bool
    ses_identity_status: str | None = Field(
        description="SES verification status of the address (or else its domain): SUCCESS, PENDING, FAILED, "
        "TEMPORARY_FAILURE, NOT_STARTED; NOT_FOUND when SES has no such identity; null when SES could not be asked"
    )
    reason: str | None = Field(default=None, description="why the syntax is invalid")


class VerificationRequested(BaseModel):
    address: str
    ses_identity_status: str
