"""The deployment doctor's report (GET /v1/doctor)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Check(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str | None = Field(default=None, description="what to do about it")


class DoctorReport(BaseModel):
    ok: bool = Field(description="no check failed (warnings allowed)")
    checks: list[Check]
