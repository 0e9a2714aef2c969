"""A local stand-in for API Gateway's HTTP API: HTTP request -> payload v2 event -> the real lambda_handler.

Each function runs in its own pool of worker processes, like Lambda containers: one event at a time per worker,
several workers side by side, so concurrent requests really race on the (moto) DynamoDB tables.
"""

from __future__ import annotations

import base64
import io
import json
import multiprocessing
import os
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from local.template import Function, Route, Template, load_handler
from mailrelay.limits import API_GATEWAY_LIMIT, LAMBDA_REQUEST_LIMIT, is_text

# What API Gateway (HTTP API) and Lambda answer themselves, before or instead of the function (bodies as in AWS).
PAYLOAD_TOO_LARGE = (413, "Request Entity Too Large")  # over 10 MB, or an event over Lambda's 6,291,456 bytes
FUNCTION_FAILED = (500, "Internal Server Error")  # unhandled error, or the function ran into its own Timeout
INTEGRATION_TIMEOUT = (503, "Service Unavailable")  # the route's TimeoutInMillis passed first


class LambdaContext:
    def __init__(self, function_name: str, timeout_s: float = 29.0):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def request_event(
    template: Template,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    source_ip: str | None = None,
) -> tuple[Route, dict[str, Any]]:
    """The route and the payload-v2 event of a request given by parts (`path` may carry a query string), as API
    Gateway would build them; LookupError when template.yaml routes no such request."""
    path_only, _, query = path.partition("?")
    builder = EnvironBuilder(
        method=method,
        path=path_only,
        query_string=query,
        headers=dict(headers or {}),
        input_stream=io.BytesIO(data or b""),  # not `data=`: for an empty one werkzeug writes a form of its own
        environ_base={"REMOTE_ADDR": source_ip} if source_ip else None,
    )
    found = template.match(method, path_only)
    if found is None:
        raise LookupError(f"{method} {path_only} is not routed by template.yaml")
    route, params = found
    return route, build_event(Request(builder.get_environ()), route, params, data or b"")


def build_event(request: Request, route: Route, path_parameters: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The HTTP API payload format 2.0 event API Gateway would send for this request."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in request.args.items(multi=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    text = is_text(headers.get("content-type", ""))
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:20],
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(body) and not text,  # no body: nothing to encode
    }
    if request.cookies:
        event["cookies"] = [f"{k}={v}" for k, v in request.cookies.items()]
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        event["body"] = body.decode("utf-8", "replace") if text else base64.b64encode(body).decode()
    return event


def to_response(result: Any) -> Response:
    """Lambda proxy result (payload v2) -> HTTP response, as API Gateway does it."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response(json.dumps(result), status=200, content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    response.headers.clear()
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = value
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response


# ---------------------------------------------------------------- worker processes

_worker_handler: Callable[[dict, Any], Any] | None = None
_worker_function: Function | None = None


def _init_worker(function: Function, environment: dict[str, str]) -> None:
    global _worker_handler, _worker_function
    os.environ.update(environment)
    _worker_function = function
    _worker_handler = load_handler(function)


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    assert _worker_handler is not None and _worker_function is not None
    context = LambdaContext(_worker_function.logical_id, _worker_function.timeout)
    try:
        return {"ok": _worker_handler(event, context)}
    except Exception:
        return {"error": traceback.format_exc()}


def _busy_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


class FunctionPools:
    """One process pool per function; `warm()` starts every worker up front (like provisioned concurrency)."""

    def __init__(self, template: Template, environments: Mapping[str, dict[str, str]], workers: int):
        self.workers = workers
        self.functions = template.functions
        self.environments = {name: dict(environments[name]) for name in template.functions}
        self._pools = {name: self._new_pool(name) for name in template.functions}

    def _new_pool(self, name: str) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.functions[name], self.environments[name]),
        )

    def warm(self, per_function: int | None = None, timeout: float = 120.0) -> None:
        """Start and initialise `per_function` workers of each function (all by default), so that the first request
        pays no cold start and a burst of requests really runs side by side."""
        wanted = min(per_function or self.workers, self.workers)
        deadline = time.monotonic() + timeout
        pids: dict[str, set[int]] = {name: set() for name in self._pools}
        while any(len(p) < wanted for p in pids.values()) and time.monotonic() < deadline:
            # All pools at once (their start-ups overlap); each task holds its worker a moment, so that the
            # next task of the same pool needs another worker.
            futures = {
                name: [pool.submit(_busy_pid, 0.3) for _ in range(wanted)]
                for name, pool in self._pools.items()
                if len(pids[name]) < wanted
            }
            for name, started in futures.items():
                pids[name] |= {f.result(timeout=timeout) for f in started}

    def invoke(self, function: str, event: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Run the event; past `timeout` (default: the function's Timeout) the function is stopped, as Lambda stops
        it, and TimeoutError raised. A process cannot be stopped alone in a pool, so the function's whole pool is
        replaced: requests of that function still running then fail (Lambda would stop only the one container)."""
        limit = self.functions[function].timeout if timeout is None else timeout
        future = self._pools[function].submit(_invoke, event)
        try:
            return future.result(timeout=limit)
        except TimeoutError:
            stale, self._pools[function] = self._pools[function], self._new_pool(function)
            for process in list(getattr(stale, "_processes", {}).values()):
                process.kill()
            stale.shutdown(wait=False, cancel_futures=True)
            raise

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


class Gateway:
    """WSGI app: template routes -> functions; `local_routes` handles paths the template does not route (local only)."""

    def __init__(
        self,
        template: Template,
        pools: FunctionPools,
        local_routes: Callable[[Request], Response | None] | None = None,
        log: Callable[[str], None] = print,
    ):
        self.template = template
        self.pools = pools
        self.local_routes = local_routes
        self.log = log

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if self.local_routes is not None:
            handled = self.local_routes(request)
            if handled is not None:
                return handled
        found = self.template.match(request.method, request.path)
        if found is None:
            return _gateway_error(404, "Not Found")
        route, params = found
        body = request.get_data(cache=False)
        if len(body) > API_GATEWAY_LIMIT:
            return _gateway_error(*PAYLOAD_TOO_LARGE)
        event = build_event(request, route, params, body)
        if len(json.dumps(event)) > LAMBDA_REQUEST_LIMIT:  # the limit applies to the event, after base64
            return _gateway_error(*PAYLOAD_TOO_LARGE)
        function_timeout = self.pools.functions[route.function].timeout
        try:
            outcome = self.pools.invoke(route.function, event, min(function_timeout, route.integration_timeout))
        except BrokenProcessPool:  # its pool was replaced while it ran (another request of it timed out)
            self.log(f"{route.function}: the container running this request was stopped")
            return _gateway_error(*FUNCTION_FAILED)
        except TimeoutError:
            if function_timeout < route.integration_timeout:
                self.log(f"{route.function} timed out after {function_timeout:g} s (its Timeout)")
                return _gateway_error(*FUNCTION_FAILED)
            self.log(f"{route.key}: no answer within the integration timeout ({route.integration_timeout:g} s)")
            return _gateway_error(*INTEGRATION_TIMEOUT)
        if "error" in outcome:
            self.log(f"{route.function} raised:\n{outcome['error']}")
            return _gateway_error(*FUNCTION_FAILED)
        return to_response(outcome["ok"])


def _gateway_error(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status=status, content_type="application/json")
