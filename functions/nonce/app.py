"""Nonce API: single-use tokens that public contact forms put into their hash (no credentials: the form decides)."""

from __future__ import annotations

from aws_lambda_powertools.logging import correlation_paths

from mailrelay import timebox
from mailrelay.http import error_doc, json_response, make_resolver, model_doc
from mailrelay.lazy import lazy
from mailrelay.observability import logger, metrics

nonces = lazy("mailrelay.domain.nonces")  # loaded by the first request (INIT stays small: `make bench`)
params = lazy("mailrelay.params")

app = make_resolver()


@app.get(
    "/v1/nonce",
    summary="Issue a single-use nonce for a public form",
    tags=["forms"],
    responses={
        200: model_doc("a fresh nonce; send it with hash = sha256(nonce + secret)", "NonceResponse"),
        403: error_doc("the page's Origin may not use this form"),
        404: error_doc("no such form"),
        429: error_doc("too many nonces for this address; see Retry-After"),
    },
    enable_validation=True,
)
def get_nonce(form: params.FormQuery):
    event = app.current_event
    body, cors = nonces.issue(form, event.headers, event.request_context.http.source_ip)
    return json_response(200, body, {**cors, "Cache-Control": "no-store"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    timebox.start(context)
    return app.resolve(event, context)
