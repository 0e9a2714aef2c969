"""Relay API: send through a channel, read a message's status; plus health and the API docs."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths

from mailrelay import apidocs, timebox
from mailrelay.errors import RelayError
from mailrelay.http import body_bytes, error_doc, html_error_response, json_response, make_resolver, model_doc
from mailrelay.lazy import lazy
from mailrelay.observability import logger, metrics

# Loaded by the first request that needs them (INIT stays at the router, logger and metrics: `make bench`).
formaccess = lazy("mailrelay.domain.formaccess")
forms = lazy("mailrelay.domain.forms")
relay = lazy("mailrelay.domain.relay")
params = lazy("mailrelay.params")

app = make_resolver()

CHANNEL = [{"channelToken": []}, {"channelBearer": []}]
SEND_RESPONSES = {
    200: model_doc("sent", "MessageStatus"),
    400: error_doc("malformed JSON"),
    401: error_doc("channel credentials missing or wrong (unknown descriptor looks the same)"),
    409: error_doc("a request with the same Idempotency-Key is still in progress"),
    413: error_doc("body larger than the channel's max_size"),
    415: error_doc("neither application/json nor message/rfc822"),
    422: error_doc(
        "invalid body; a provider refused the message (`message_rejected`, with `providers`); "
        "or the Idempotency-Key was used with another body (`idempotency_key_reused`)"
    ),
    429: error_doc("inside the channel's min_period; see Retry-After"),
    502: error_doc("every provider failed; `providers` lists each attempt and `id` the failed message"),
}


def _send():
    event = app.current_event
    headers = event.headers
    status = relay.send_message(
        headers, body_bytes(event.raw_event), headers.get("content-type"), headers.get("idempotency-key")
    )
    return json_response(200, status)


@app.post(
    "/v1/messages",
    summary="Send a message through a channel",
    tags=["relay"],
    security=CHANNEL,
    responses=SEND_RESPONSES,
)
def send_message():
    return _send()


@app.post(
    "/api/message",
    summary="Send a message (mailgun-relayery alias)",
    tags=["mailgun-relayery"],
    security=CHANNEL,
    responses=SEND_RESPONSES,
)
def relayery_send_message():
    return _send()


@app.get(
    "/v1/messages/<id>",
    summary="Status of a message sent through this channel",
    tags=["relay"],
    security=CHANNEL,
    responses={
        200: model_doc("the message", "MessageStatus"),
        401: error_doc("bad credentials"),
        404: error_doc("no such message for this channel"),
    },
    enable_validation=True,
)
def get_message(id: params.MessageId):  # noqa: A002
    status = relay.get_message(app.current_event.headers, id)
    return json_response(200, status.model_dump(mode="json"))


@app.post(
    "/v1/forms/<descriptor>",
    summary="Submit a public contact form (JSON, urlencoded or multipart)",
    tags=["forms"],
    responses={
        200: model_doc("accepted (JSON requests, and plain posts without a redirect)", "FormAccepted"),
        303: {"description": "plain form post accepted: see Location (`_next` or the form's redirect_url)"},
        400: error_doc("malformed body"),
        403: error_doc(
            "nonce or hash missing/wrong/used/expired, `to` not allowed, origin not allowed, CAPTCHA failed"
        ),
        404: error_doc("no such form"),
        413: error_doc("body larger than the channel's max_size"),
        422: error_doc("invalid fields, or the provider refused the message"),
        429: error_doc("per-IP or channel limit; see Retry-After"),
        502: error_doc("every provider failed, or the CAPTCHA service could not be reached"),
    },
    enable_validation=True,
)
def submit_form(descriptor: params.FormName):
    event = app.current_event
    headers = event.headers
    wants_json = "json" in headers.get("content-type", "") or "application/json" in headers.get("accept", "")
    try:
        submitted = forms.submit(
            descriptor,
            headers,
            body_bytes(event.raw_event),
            headers.get("content-type"),
            event.request_context.http.source_ip,
        )
    except RelayError as error:
        if wants_json:
            raise
        return html_error_response(error)  # a plain form post: a readable page, with the real status
    if submitted.next_url and not wants_json:
        return Response(status_code=303, headers={**submitted.cors, "Location": submitted.next_url})
    return json_response(200, {"ok": True, "id": submitted.id}, submitted.cors)


@app.route(
    "/v1/forms/<descriptor>",
    method="OPTIONS",
    summary="CORS preflight of a form",
    tags=["forms"],
    responses={204: {"description": "allowed"}, 403: error_doc("origin not allowed"), 404: error_doc("no such form")},
    enable_validation=True,
)
def preflight_form(descriptor: params.FormName):
    headers = app.current_event.headers
    allowed = formaccess.preflight(descriptor, headers.get("origin"), headers.get("access-control-request-headers"))
    return Response(status_code=204, headers=allowed)


@app.get("/v1/health", summary="Liveness", tags=["meta"])
def health() -> dict:
    return {"status": "ok"}


@app.get("/v1/openapi.json", summary="This API's OpenAPI 3 document", tags=["meta"])
def openapi():
    return Response(status_code=200, content_type="application/json", body=apidocs.spec_json())


@app.get("/v1/docs", summary="Swagger UI", tags=["meta"])
def docs():
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=apidocs.swagger_html())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    timebox.start(context)
    return app.resolve(event, context)
