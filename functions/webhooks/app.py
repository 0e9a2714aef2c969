"""Mailgun webhooks: permanent failures and complaints into the suppression list (the signature is the credential)."""

from __future__ import annotations

from aws_lambda_powertools.logging import correlation_paths

from mailrelay import timebox
from mailrelay.http import body_bytes, error_doc, json_response, make_resolver
from mailrelay.lazy import lazy
from mailrelay.observability import logger, metrics

provider_events = lazy("mailrelay.domain.provider_events")  # loaded by the first request (`make bench`)

app = make_resolver()


@app.post(
    "/v1/webhooks/mailgun",
    summary="Mailgun webhook (permanent failures, complaints)",
    tags=["events"],
    responses={
        200: {"description": "accepted"},
        406: error_doc("bad, stale or replayed signature: Mailgun stops retrying"),
    },
)
def mailgun_webhook():
    applied = provider_events.mailgun_webhook(body_bytes(app.current_event.raw_event))
    return json_response(200, {"status": "applied" if applied else "ignored"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    timebox.start(context)
    return app.resolve(event, context)
