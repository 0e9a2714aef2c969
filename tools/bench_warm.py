"""Warm request path, in-process: AWS round trips and our own time per request, for each kind of request.

Method. AWS is moto's in-process `mock_aws`, provisioned from template.yaml exactly as the integration tests do it
(`local.aws.provision`, every function's Environment from `function_environment`); requests become API Gateway
payload-v2 events through the local gateway's builder and go straight to the real `lambda_handler`s, one at a time,
as in one warm Lambda container. Credentials are moto's fake ones (IAM is not enforced: see tests/integration).

Each scenario gets a fresh channel (so rate limits do not interfere), sends WARMUP requests first (clients, caches and
the channel record are then warm) and then measures `rounds` requests (default 200, env BENCH_WARM_ROUNDS); every
response's status is checked. A wrong one ends that scenario: its figures are then {"error": "..."} with the body, the
tail of the handler logs goes to stderr, and the other scenarios still run (the exit status is then 1). Per request:

- AWS round trips: `botocore.client.BaseClient._make_api_call` is wrapped (here, for the run only) to count calls by
  `service.Operation` (retries inside botocore count once). Reported as the mean per request, in all and by operation.
- Own time: the handler's wall time minus the time spent inside those calls. That time holds moto's work (AWS's time
  in production) but also botocore's serialising and parsing, which is our CPU in production: own time is therefore a
  lower bound on our CPU per request. Network latency to AWS is not in either figure (in-process: none).
  Building the event (API Gateway's work) is outside the measured time. Handler logs go to a temporary
  file, not a terminal.
- Log bytes: what the handler writes to stdout per request (its JSON log lines and, as deployed, its EMF metrics
  line), i.e. what CloudWatch Logs ingests besides Lambda's own START/END/REPORT lines.

Scenarios: json_send (min_period 0: no rate slot), json_send_min_period (min_period 0.001 s: the slot write is made,
and requests are further apart than that), rejected_429 (min_period 3600: every measured send is refused),
bad_token / unknown_channel (401), nonce_fetch and form_submission (one visitor per round, each from its own IP: the
nonce limit is per IP), idempotency_key_send (a new Idempotency-Key per request).

Run: `python -m tools.bench_warm` (prints a table, then the JSON that `run()` returns).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.utilities import parameters
from botocore.client import BaseClient
from moto import mock_aws

from local.aws import function_environment, provision
from local.gateway import LambdaContext, request_event
from local.template import Template, load_handler
from mailrelay import aws, config

ADMIN_KEY = "bench-warm-admin-key-0123456789ab"
WARMUP = 5
ROUNDS = 200
ORIGIN = "https://www.example.com"
FORM_SECRET = "bench-page-secret-0123456789"  # noqa: S105 - the bench form's own page secret
MESSAGE = {"subject": "bench", "text": "warm request path"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


class Meter:
    """Counts the botocore API calls made while installed, and the time spent inside them (outermost calls only)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0
        self._depth = 0

    @contextmanager
    def installed(self) -> Iterator[Meter]:
        original = BaseClient._make_api_call

        def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if self._depth:
                return original(client, operation, params)
            self._depth += 1
            started = time.perf_counter()
            try:
                return original(client, operation, params)
            finally:
                self.seconds += time.perf_counter() - started
                self._depth -= 1
                self.calls[f"{client.meta.service_model.service_name}.{operation}"] += 1

        BaseClient._make_api_call = counted
        try:
            yield self
        finally:
            BaseClient._make_api_call = original


class Stack:
    """The template's handlers and a way to call them with payload-v2 events (as tests/integration/conftest.py)."""

    def __init__(self, template: Template, meter: Meter) -> None:
        self.template, self.meter, self.handlers = template, meter, {}

    def event(self, method: str, path: str, headers=None, body: Any = None, ip="198.51.100.7") -> tuple[str, dict]:
        headers, data = dict(headers or {}), b""
        if body is not None:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        route, event = request_event(self.template, method, path, headers, data, ip)
        return route.function, event

    def invoke(self, function: str, event: dict[str, Any]) -> tuple[int, str, float, float, Counter[str]]:
        """(status, body, handler seconds, seconds inside AWS calls, calls by operation) of one invocation."""
        if function not in self.handlers:
            self.handlers[function] = load_handler(self.template.functions[function])
        context = LambdaContext(function, self.template.functions[function].timeout)
        self.meter.calls, self.meter.seconds = Counter(), 0.0
        started = time.perf_counter()
        result = self.handlers[function](event, context)
        wall = time.perf_counter() - started
        return result["statusCode"], result.get("body") or "", wall, self.meter.seconds, self.meter.calls

    def call(self, method: str, path: str, expected: int, **kwargs: Any) -> dict[str, Any]:
        status, body, *_ = self.invoke(*self.event(method, path, **kwargs))
        if status != expected:
            raise RuntimeError(f"{method} {path}: expected {expected}, got {status}: {body}")
        return json.loads(body) if body else {}

    def channel(self, name: str, **spec: Any) -> dict[str, str]:
        body = {"sender": {"email": "noreply@example.com", "name": "Bench"}, "recipients": ["team@example.com"], **spec}
        token = self.call("PUT", f"/v1/channels/{name}", 201, headers=ADMIN, body=body)["token"]
        return {"X-Descriptor": name, "X-Token": token}


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Descriptor 1 into a temporary file (the handlers' JSON logs); its tail goes to stderr if a scenario fails."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as logs:
        os.dup2(logs.fileno(), 1)
        try:
            yield
        except BaseException:
            sys.stdout.flush()
            logs.seek(max(0, logs.seek(0, os.SEEK_END) - 4000))
            sys.stderr.write(f"handler logs (end):\n{logs.read().decode(errors='replace')}\n")
            raise
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def measure(stack: Stack, rounds: int, status: int, request: Callable[[int], tuple[str, dict]]) -> tuple[dict, list]:
    """WARMUP requests, then `rounds` measured ones; `request(i)` gives (function, event). Figures, every body."""
    own, wall, calls, bodies = [], [], Counter(), []
    logged_before = logged_after = -1
    for i in range(WARMUP + rounds):
        if i == WARMUP:
            logged_before = _logged()
        got, body, seconds, in_aws, used = stack.invoke(*request(i))
        if got != status:
            raise RuntimeError(f"request {i}: expected {status}, got {got}: {body}")
        bodies.append(body)
        if i >= WARMUP:
            own.append((seconds - in_aws) * 1000)
            wall.append(seconds * 1000)
            calls.update(used)
    logged_after = _logged()
    figures = {
        "status": status,
        "n": rounds,
        "round_trips_mean": round(sum(calls.values()) / rounds, 3),
        "round_trips_by_operation": {op: round(count / rounds, 3) for op, count in sorted(calls.items())},
        "own_ms_p50": round(percentile(own, 50), 3),
        "own_ms_p99": round(percentile(own, 99), 3),
        "handler_ms_p50": round(percentile(wall, 50), 3),
    }
    if logged_before >= 0 and logged_after >= logged_before:  # what the function logs (CloudWatch Logs bytes)
        figures["log_bytes_per_request"] = round((logged_after - logged_before) / rounds)
    return figures, bodies


def _logged() -> int:
    """Bytes written so far to descriptor 1 (the handlers' logs and EMF metrics), -1 when it is not a file."""
    sys.stdout.flush()
    try:
        return os.lseek(1, 0, os.SEEK_CUR)
    except OSError:
        return -1


def scenarios(stack: Stack, rounds: int) -> list[tuple[str, Callable[[], dict]]]:
    """(name, run) in order; each run sets up what it needs (a channel) and returns its figures."""

    def send(channel: dict[str, str], keyed: bool = False) -> Callable[[int], tuple[str, dict]]:
        def request(i: int) -> tuple[str, dict]:
            key = {"Idempotency-Key": f"bench-{i}"} if keyed else {}
            return stack.event("POST", "/v1/messages", headers={**channel, **key}, body=MESSAGE)

        return request

    def measured(status: int, request: Callable[[int], tuple[str, dict]]) -> dict:
        return measure(stack, rounds, status, request)[0]

    def rejected_429() -> dict:
        limited = stack.channel("bench-limited", min_period=3600)
        stack.call("POST", "/v1/messages", 200, headers=limited, body=MESSAGE)  # takes the slot for an hour
        return measured(429, send(limited))

    def bad_token() -> dict:
        token = stack.channel("bench-auth")["X-Token"]
        wrong = token[:-1] + ("A" if token[-1] != "A" else "B")  # same shape, wrong value
        return measured(401, send({"X-Descriptor": "bench-auth", "X-Token": wrong}))

    def unknown_channel() -> dict:
        token = stack.channel("bench-stranger")["X-Token"]  # a real token, for a channel that does not exist
        return measured(401, send({"X-Descriptor": "bench-nobody", "X-Token": token}))

    def visitor(i: int) -> str:  # one IP per visitor: nonces are limited per IP and minute
        return f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"

    nonces: list[str] = []  # one per form post, warm-up included: filled by nonce_fetch

    def nonce_fetch() -> dict:
        stack.channel("bench-form", form={"allowed_origins": [ORIGIN], "require_nonce": True, "secret": FORM_SECRET})

        def fetch(i: int) -> tuple[str, dict]:
            return stack.event("GET", "/v1/nonce?form=bench-form", headers={"Origin": ORIGIN}, ip=visitor(i))

        figures, bodies = measure(stack, rounds, 200, fetch)
        nonces[:] = [json.loads(body)["nonce"] for body in bodies]
        return figures

    def form_submission() -> dict:
        if len(nonces) < WARMUP + rounds:
            raise RuntimeError("no nonces to post: nonce_fetch failed")

        def submit(i: int) -> tuple[str, dict]:
            nonce = nonces[i]
            fields = {"email": "visitor@example.org", "name": "Ada", "message": "Hello", "nonce": nonce}
            fields["hash"] = hashlib.sha256((nonce + FORM_SECRET).encode()).hexdigest()
            return stack.event("POST", "/v1/forms/bench-form", headers={"Origin": ORIGIN}, body=fields, ip=visitor(i))

        return measured(200, submit)

    return [
        ("json_send", lambda: measured(200, send(stack.channel("bench-plain", min_period=0)))),
        ("json_send_min_period", lambda: measured(200, send(stack.channel("bench-slot", min_period=0.001)))),
        ("rejected_429", rejected_429),
        ("bad_token", bad_token),
        ("unknown_channel", unknown_channel),
        ("nonce_fetch", nonce_fetch),
        ("form_submission", form_submission),
        ("idempotency_key_send", lambda: measured(200, send(stack.channel("bench-keyed"), keyed=True))),
    ]


def _forget_clients() -> None:
    aws.clear_caches()
    parameters.clear_caches()
    config.settings.cache_clear()


def run(rounds: int | None = None) -> dict[str, dict[str, Any]]:
    rounds = rounds or int(os.environ.get("BENCH_WARM_ROUNDS", ROUNDS))
    template, meter, results = Template(), Meter(), {}
    print(f"{'scenario':<22}{'status':>7}{'n':>6}{'calls':>7}{'own p50':>9}{'own p99':>9}{'wall p50':>9}  (ms)")
    with mock_aws():
        saved = os.environ.copy()
        try:
            local = provision(template, None, {"SenderDomain": "example.com"}, ADMIN_KEY)
            for function in template.functions:
                env = function_environment(template, function, local)
                os.environ.update({k: v for k, v in env.items() if k != "AWS_LAMBDA_FUNCTION_NAME"})
            os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"  # as deployed: the EMF line is work and log bytes
            _forget_clients()
            stack = Stack(template, meter)
            with meter.installed():
                for name, scenario in scenarios(stack, rounds):
                    try:
                        with quiet_stdout():
                            figures = scenario()
                    except Exception as exc:  # one scenario's failure leaves the others' figures
                        results[name] = {"error": f"{type(exc).__name__}: {exc}"[:1000]}
                        print(f"{name:<22}  error: {results[name]['error'][:300]}", flush=True)
                        continue
                    results[name] = figures
                    print(
                        f"{name:<22}{figures['status']:>7}{figures['n']:>6}{figures['round_trips_mean']:>7.2f}"
                        f"{figures['own_ms_p50']:>9.2f}{figures['own_ms_p99']:>9.2f}{figures['handler_ms_p50']:>9.2f}  "
                        + ", ".join(f"{op} {n:g}" for op, n in figures["round_trips_by_operation"].items()),
                        flush=True,
                    )
        finally:
            _forget_clients()
            os.environ.clear()
            os.environ.update(saved)
    return results


if __name__ == "__main__":
    results = run()
    print(json.dumps(results, indent=2))
    sys.exit(1 if any("error" in figures for figures in results.values()) else 0)
