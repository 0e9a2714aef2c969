"""Typed route parameters and bodies (Powertools OpenAPI params over our pydantic models).

Handler modules reach this module through `mailrelay.lazy`, in string annotations: Powertools evaluates them when a
route's validation runs for the first time (or when tools/openapi.py writes the spec), so the OpenAPI machinery and
pydantic are not part of any function's INIT.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from mailrelay.models.channels import ChannelSpec, RelayeryChannelSpec, RotateTokenRequest
from mailrelay.models.common import DESCRIPTOR_PATTERN, EMAIL_MAX
from mailrelay.models.suppressions import SuppressionRequest

Descriptor = Annotated[str, Path(pattern=DESCRIPTOR_PATTERN, description="channel name, 1-64 of [A-Za-z0-9._-]")]
FormName = Annotated[str, Path(pattern=DESCRIPTOR_PATTERN, description="the form's channel")]
FormQuery = Annotated[str, Query(pattern=DESCRIPTOR_PATTERN, description="the form's channel")]
MessageId = Annotated[str, Path(max_length=64, description="message id")]
# A path segment cannot hold "/" (API Gateway routes on the decoded path: `a%2Fb` is two segments).
ONE_SEGMENT = r"^[^/]+$"
AnyAddressParam = Annotated[
    str,
    Path(
        min_length=1,
        max_length=320,
        pattern=ONE_SEGMENT,
        description="the text to check as an address (URL-encoded or not)",
    ),
]
AddressParam = Annotated[
    str,
    Path(
        min_length=1,
        max_length=EMAIL_MAX,
        pattern=ONE_SEGMENT,
        description="an email address (URL-encoded or not; an address holding `/` cannot be named in a path)",
        json_schema_extra={"format": "email"},
    ),
]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
Page = Annotated[int, Query(ge=1)]
PerPage = Annotated[int, Query(ge=1, le=100)]

ChannelSpecBody = Annotated[ChannelSpec, Body()]
RotateTokenBody = Annotated[RotateTokenRequest | None, Body()]
SuppressionBody = Annotated[SuppressionRequest | None, Body()]
RelayeryChannelBody = Annotated[RelayeryChannelSpec, Body()]
RelayeryDescriptorBody = Annotated[str, Body(pattern=DESCRIPTOR_PATTERN)]

__all__ = [
    "ChannelSpec",
    "RelayeryChannelSpec",
    "RotateTokenRequest",
    "SuppressionRequest",
]
