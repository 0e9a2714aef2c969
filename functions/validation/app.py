"""Validation API: check an address (channel credentials or admin key); ask SES to verify one (admin only)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths

from mailrelay import timebox
from mailrelay.domain import auth, validation
from mailrelay.http import error_doc, json_response, make_resolver, model_doc
from mailrelay.models.suppressions import AddressCheck, VerificationRequested
from mailrelay.observability import logger, metrics

app = make_resolver()

AddressParam = Annotated[str, Path(min_length=1, max_length=320, description="the address (URL-encoded or not)")]


@app.get(
    "/v1/validation/<address>",
    summary="Check an address",
    tags=["validation"],
    security=[{"channelToken": []}, {"channelBearer": []}, {"adminKey": []}],
    responses={
        200: model_doc("what is known about the address", AddressCheck),
        401: error_doc("no or wrong channel credentials / admin key"),
    },
)
def check_address(address: AddressParam):
    auth.require_channel_or_admin(app.current_event.headers)
    return json_response(200, validation.check(unquote(address)))


@app.post(
    "/v1/validation/<address>",
    summary="Ask SES to send its verification mail to the address",
    tags=["validation"],
    security=[{"adminKey": []}],
    responses={
        202: model_doc("SES was asked", VerificationRequested),
        401: error_doc("admin key missing or wrong (channel credentials are not enough)"),
        422: error_doc("not an email address"),
    },
)
def verify_address(address: AddressParam):
    auth.require_admin(app.current_event.headers)
    return json_response(202, validation.request_verification(unquote(address)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    timebox.start(context)
    return app.resolve(event, context)
