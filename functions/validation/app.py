"""Validation API: check an address (channel credentials or admin key); ask SES to verify one (admin only)."""

from __future__ import annotations

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from mailrelay import timebox
from mailrelay.http import error_doc, json_response, make_resolver, model_doc
from mailrelay.lazy import lazy
from mailrelay.observability import logger, metrics

auth = lazy("mailrelay.domain.auth")  # loaded by the first request (INIT stays small: `make bench`)
validation = lazy("mailrelay.domain.validation")
params = lazy("mailrelay.params")

app = make_resolver()


@app.get(
    "/v1/validation/<address>",
    summary="Check an address",
    tags=["validation"],
    security=[{"channelToken": []}, {"channelBearer": []}, {"adminKey": []}],
    responses={
        200: model_doc("what is known about the address", "AddressCheck"),
        401: error_doc("no or wrong channel credentials / admin key"),
    },
    enable_validation=True,
)
def check_address(address: params.AnyAddressParam):
    auth.require_channel_or_admin(app.current_event.headers, app.current_event.request_context.http.source_ip)
    return json_response(200, validation.check(unquote(address)))


@app.post(
    "/v1/validation/<address>",
    summary="Ask SES to send its verification mail to the address",
    tags=["validation"],
    security=[{"adminKey": []}],
    responses={
        202: model_doc("SES was asked", "VerificationRequested"),
        401: error_doc("admin key missing or wrong (channel credentials are not enough)"),
        422: error_doc("not an email address"),
    },
    enable_validation=True,
)
def verify_address(address: params.AddressParam):
    auth.require_admin(app.current_event.headers, app.current_event.request_context.http.source_ip)
    return json_response(202, validation.request_verification(unquote(address)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    timebox.start(context)
    return app.resolve(event, context)
