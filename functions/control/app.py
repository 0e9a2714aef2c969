"""Control (admin) API: channels CRUD, token rotation, mailgun-relayery aliases. Every route needs the admin key."""

from __future__ import annotations

from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths

from mailrelay import timebox
from mailrelay.http import error_doc, guarded, json_response, make_resolver, model_doc
from mailrelay.lazy import lazy
from mailrelay.observability import logger, metrics

# Loaded by the first request that needs them (INIT stays at the router, logger and metrics: `make bench`).
auth = lazy("mailrelay.domain.auth")
channels = lazy("mailrelay.domain.channels")
suppressions = lazy("mailrelay.domain.suppressions")
diagnose = lazy("mailrelay.domain.doctor")
params = lazy("mailrelay.params")

app = make_resolver()

ADMIN = [{"adminKey": []}]
COMMON = {400: error_doc("malformed JSON or cursor"), 401: error_doc("admin key missing or wrong")}
NOT_FOUND = {404: error_doc("no such channel")}


@app.put(
    "/v1/channels/<descriptor>",
    summary="Create or replace a channel",
    tags=["control"],
    security=ADMIN,
    enable_validation=True,
    responses={
        200: model_doc("replaced; `token` only when this request set one", "ChannelWithToken"),
        201: model_doc("created; `token` is shown this once", "ChannelWithToken"),
        **COMMON,
    },
)
def put_channel(descriptor: params.Descriptor, spec: params.ChannelSpecBody):
    channel, created = channels.put_channel(descriptor, spec)
    hidden = {name for name in ("token", "warnings") if getattr(channel, name) is None}
    return json_response(201 if created else 200, channel.model_dump(mode="json", exclude=hidden))


@app.get(
    "/v1/channels/<descriptor>",
    summary="Read a channel",
    tags=["control"],
    security=ADMIN,
    enable_validation=True,
    responses={200: model_doc("the channel (never its token)", "ChannelView"), **COMMON, **NOT_FOUND},
)
def get_channel(descriptor: params.Descriptor):
    return json_response(200, channels.get_channel(descriptor))


@app.get(
    "/v1/channels",
    summary="List channels",
    tags=["control"],
    security=ADMIN,
    enable_validation=True,
    responses={200: model_doc("a page of channels", "ChannelPage"), **COMMON},
)
def list_channels(limit: params.Limit = 50, cursor: params.Cursor = None):
    return json_response(200, channels.list_channels(limit, cursor))


@app.delete(
    "/v1/channels/<descriptor>",
    summary="Delete a channel",
    tags=["control"],
    security=ADMIN,
    enable_validation=True,
    responses={204: {"description": "deleted"}, **COMMON, **NOT_FOUND},
)
def delete_channel(descriptor: params.Descriptor):
    channels.delete_channel(descriptor)
    return Response(status_code=204)


@app.post(
    "/v1/channels/<descriptor>/token",
    summary="Rotate a channel's token",
    tags=["control"],
    security=ADMIN,
    enable_validation=True,
    responses={200: model_doc("the new token, shown this once", "TokenResponse"), **COMMON, **NOT_FOUND},
)
def rotate_token(descriptor: params.Descriptor, request: params.RotateTokenBody = None):
    grace = request.grace_seconds if request else 0
    return json_response(200, channels.rotate_token(descriptor, grace).model_dump(mode="json", exclude_none=True))


@app.get(
    "/v1/doctor",
    summary="Can this deployment really send? SES account and identities, event wiring, Mailgun, alarms",
    tags=["control"],
    security=ADMIN,
    enable_validation=True,
    responses={200: model_doc("one line per check: ok, warn or fail, with what to do", "DoctorReport"), **COMMON},
)
def doctor():
    return json_response(200, diagnose.run().model_dump(mode="json", exclude_none=True))


# ---- suppression list (shared by every provider)


@app.get(
    "/v1/suppressions",
    summary="List suppressed addresses",
    tags=["suppressions"],
    security=ADMIN,
    enable_validation=True,
    responses={200: model_doc("a page of suppressions", "SuppressionPage"), **COMMON},
)
def list_suppressions(limit: params.Limit = 50, cursor: params.Cursor = None):
    return json_response(200, suppressions.list_page(limit, cursor))


@app.get(
    "/v1/suppressions/<address>",
    summary="Read one suppression",
    tags=["suppressions"],
    security=ADMIN,
    enable_validation=True,
    responses={200: model_doc("suppressed", "Suppression"), 404: error_doc("not suppressed"), **COMMON},
)
def get_suppression(address: params.AddressParam):
    return json_response(200, suppressions.get(unquote(address)))


@app.put(
    "/v1/suppressions/<address>",
    summary="Suppress an address",
    tags=["suppressions"],
    security=ADMIN,
    enable_validation=True,
    responses={
        201: model_doc("added", "Suppression"),
        200: model_doc("was suppressed already", "Suppression"),
        **COMMON,
    },
)
def put_suppression(address: params.AddressParam, request: params.SuppressionBody = None):
    entry, created = suppressions.add(unquote(address), (request or params.SuppressionRequest()).reason, "admin")
    return json_response(201 if created else 200, entry)


@app.delete(
    "/v1/suppressions/<address>",
    summary="Remove a suppression",
    tags=["suppressions"],
    security=ADMIN,
    enable_validation=True,
    responses={204: {"description": "removed"}, 404: error_doc("not suppressed"), **COMMON},
)
def delete_suppression(address: params.AddressParam):
    suppressions.remove(unquote(address))
    return Response(status_code=204)


# ---- mailgun-relayery compatible aliases


@app.put(
    "/api/channel",
    summary="Create or replace a channel (mailgun-relayery)",
    tags=["mailgun-relayery"],
    security=ADMIN,
    enable_validation=True,
    responses={200: model_doc("replaced", "ChannelWithToken"), 201: model_doc("created", "ChannelWithToken"), **COMMON},
)
def relayery_put_channel(spec: params.RelayeryChannelBody):
    return put_channel(spec.descriptor, params.ChannelSpec.model_validate(spec.model_dump(exclude={"descriptor"})))


@app.delete(
    "/api/channel",
    summary="Delete a channel (mailgun-relayery; body: the descriptor as a JSON string)",
    tags=["mailgun-relayery"],
    security=ADMIN,
    enable_validation=True,
    responses={204: {"description": "deleted"}, **COMMON, **NOT_FOUND},
)
def relayery_delete_channel(descriptor: params.RelayeryDescriptorBody):
    return delete_channel(descriptor)


@app.get(
    "/api/list_channels",
    summary="List channels by page (mailgun-relayery)",
    tags=["mailgun-relayery"],
    security=ADMIN,
    enable_validation=True,
    responses={200: model_doc("one page", "RelayeryChannelPage"), **COMMON},
)
def relayery_list_channels(page: params.Page = 1, per_page: params.PerPage = 20):
    return json_response(200, channels.list_channels_paged(page, per_page))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    timebox.start(context)
    source_ip = event.get("requestContext", {}).get("http", {}).get("sourceIp")
    return guarded(app, lambda headers: auth.require_admin(headers, source_ip), event, context, json_bodies=True)
