"""The one place where domain errors become HTTP responses, plus small request helpers shared by the handlers."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from mailrelay.errors import BadRequest, InvalidBody, MethodNotAllowed, NotFound, RelayError, UnsupportedMediaType
from mailrelay.limits import media_type
from mailrelay.observability import logger

JSON = "application/json"
SCHEMAS = "#/components/schemas/"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "additionalProperties": True,
}


def error_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ERROR_SCHEMA}}}


def model_doc(description: str, model: str) -> dict[str, Any]:
    """A response documented by one of our pydantic models, by name: tools/openapi.py adds its schema to the spec
    (naming the class here would import pydantic at every function's INIT)."""
    return {"description": description, "content": {JSON: {"schema": {"$ref": f"{SCHEMAS}{model}"}}}}


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    if hasattr(body, "model_dump"):  # a pydantic model
        body = body.model_dump(mode="json")
    # Sorted keys: a replayed (idempotent) response is byte-for-byte the first one.
    return Response(
        status_code=status, content_type=JSON, body=json.dumps(body, sort_keys=True), headers=dict(headers or {})
    )


def error_response(error: RelayError) -> Response:
    return json_response(error.status, error.body(), error.headers)


def html_error_response(error: RelayError) -> Response:
    """For a plain HTML form post: a short page that says what went wrong, with the error's real status."""
    from html import escape

    page = (
        "<!doctype html><meta charset=utf-8><title>Message not sent</title>"
        f"<h1>Your message was not sent</h1><p>{escape(error.message)}</p>"
        '<p><a href="javascript:history.back()">Go back</a> and try again.</p>'
    )
    return Response(
        status_code=error.status, content_type="text/html; charset=utf-8", body=page, headers=dict(error.headers)
    )


def validation_error(errors: list[dict[str, Any]]) -> RelayError:
    """pydantic / Powertools error list -> 400 for malformed JSON, 422 for a well-formed body that breaks the schema."""
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors
    ]
    if any(d["type"] == "json_invalid" for d in detail):
        return BadRequest("request body is not valid JSON", error="invalid_json")
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    return InvalidBody(f"{where}: {first['msg']}", detail=detail)


def parse_json(model: Any, raw: bytes) -> Any:
    """Validate a JSON body against the pydantic `model`, raising the same errors as the resolver's own validation."""
    from pydantic import ValidationError

    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        raise validation_error(exc.errors(include_url=False, include_context=False)) from None


class Resolver(APIGatewayHttpResolver):
    """Powertools' resolver, except that a path parameter is any non-empty text without a slash, as API Gateway's
    `{name}` is: Powertools' own pattern refuses characters such as U+00A1 or %15, and the request that API Gateway
    routed here would end as a 404 `no_route` instead of reaching the route's own validation."""

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}$"):
        return re.compile(base_regex.format(re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", rule)))


def no_route(method: str, path: str) -> RelayError:
    """405 with Allow when the API has this path under other methods (as the OpenAPI document lists them), else 404.
    API Gateway sends every request that matches no route to the `$default` route (template.yaml), which ends here."""
    from mailrelay.apidocs import allowed_methods

    allowed = allowed_methods(path)
    if allowed and method.upper() not in allowed:
        return MethodNotAllowed(
            f"{method.upper()} is not allowed on {path}; use {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    return NotFound("no such route", error="no_route")


def log_unexpected(error: BaseException) -> None:
    """An unhandled error, logged by type and place: its message only when AWS wrote it (botocore), because any other
    can hold what the caller sent (pydantic's `input_value`, a KeyError's key), and no submitted value may reach a
    log. A pydantic error adds where and what kind of problem, without the value."""
    import traceback

    extra: dict[str, Any] = {
        "exception_name": type(error).__name__,
        "frames": [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(error.__traceback__)[-10:]],
    }
    if type(error).__module__.startswith("botocore"):
        extra["exception_message"] = str(error)
    if hasattr(error, "errors") and type(error).__name__ == "ValidationError":  # pydantic's
        extra["errors"] = [
            {"loc": list(e.get("loc", ())), "type": e.get("type")} for e in error.errors(include_input=False)
        ]
    logger.error("unhandled error", extra=extra)


def make_resolver() -> APIGatewayHttpResolver:
    """The resolver every HTTP function uses. Validation is switched on per route (`enable_validation=True` where a
    route declares typed parameters or a body), so that its machinery loads with the first such request, not at INIT.
    """
    app = Resolver(enable_validation=False)

    @app.exception_handler(RelayError)
    def _relay_error(error: RelayError):
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    def _request_invalid(error: RequestValidationError):
        return error_response(validation_error(list(error.errors())))

    @app.not_found
    def _no_route(_: Exception):
        return error_response(no_route(app.current_event.http_method, app.current_event.path))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception):
        log_unexpected(error)
        return json_response(500, {"error": "internal_error", "message": "internal error; see the function's logs"})

    return app


def headers_of(event: Mapping[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in (event.get("headers") or {}).items()}


def body_bytes(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8")


def _json_body_only(event: dict, headers: Mapping[str, str]) -> None:
    """A control route's body: application/json only (415), JSON Python can read (400: not JSON, nested past the
    parser, an integer of more than 4,300 digits), never an array (422: Powertools would read its first element).
    The Content-Type is handed on as `application/json`, the one spelling Powertools' validation matches."""
    kind = media_type(headers.get("content-type"))
    if kind != JSON:
        raise UnsupportedMediaType(f"send the body as application/json, not {kind or 'without a type'!r}")
    for name in list(event.get("headers") or {}):
        if name.lower() == "content-type":
            event["headers"][name] = JSON
    raw = body_bytes(event)
    if not raw.strip():
        return
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON", error="invalid_json") from None
    if isinstance(parsed, list):
        raise InvalidBody("body: a JSON array is not accepted here; send an object")


def guarded(
    app: APIGatewayHttpResolver,
    guard: Callable[[dict[str, str]], None],
    event: dict,
    context: Any,
    json_bodies: bool = False,
) -> dict:
    """Run `guard` on the request headers before the resolver parses anything (auth before body); with
    `json_bodies`, a body in any other media type is a 415 before any route sees it, and a JSON array is a 422: no
    route takes one, and Powertools' validation would quietly read an array body as its first element."""
    try:
        headers = headers_of(event)
        guard(headers)
        method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
        if json_bodies and (event.get("body") or (headers.get("content-type") and method != "GET")):
            _json_body_only(event, headers)
    except RelayError as error:
        response = error_response(error)
        return {
            "statusCode": response.status_code,
            "headers": {k: v for k, v in response.headers.items() if isinstance(v, str)},
            "body": response.body,
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)
