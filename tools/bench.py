"""`make bench`: every figure of the performance issue, each against a baseline measured in the same run.

Parts, in this order (env BENCH_PARTS, a comma list of cold,warm,stack,worst, runs some of them; default all):

- cold  (tools/bench_cold.py): each function's cold INIT against a bare boto3 handler, and the built layer's size.
- warm  (tools/bench_warm.py): in-process (moto), AWS round trips and our own time per request, by kind of request.
- stack (here): the local stack that `make run` starts, over HTTP.
  1. `make run` (warm venv) to the banner and to the first accepted message: start, create a channel, send.
  2. Warm latency through the local gateway and worker pool, BENCH_STACK_ROUNDS rounds (default 100) after 3 unmeasured
     warm-up rounds. Each round makes, in turn, GET /v1/health (the baseline: the fixed cost of HTTP -> event ->
     worker process -> response), POST /v1/messages (accepted), POST /v1/messages on a channel whose slot is taken
     (429), a send with a wrong token and one naming no channel (both 401: their medians may differ by at most 1 ms,
     or timing would tell which channels exist), GET /v1/nonce and POST /v1/forms/NAME with that nonce.
     Interleaving the kinds spreads any drift of the
     machine over all of them. Every request is a new connection (as a browser's first). Each visitor (nonce + form
     post) comes from its own 127.x.y.z address, as nonces are limited per IP and minute; where only 127.0.0.1 can
     be bound (macOS), form rounds stop below that limit. The ratio of each p50 to health's p50 is the figure.
  3. Failover: with SES down (`PUT /_local/faults`), BENCH_STACK_ROUNDS sends (no warm-up: the first three really
     try SES, then its circuit is open and SES is skipped) against the plain sends of 2.
- worst (here): both providers accept the connection and never answer; the channel opts in to at_least_once so both
  are tried. The time a send takes then, against API Gateway's 29 s limit.

Each part's figures go into one dict, written to bench/results.json (with the time, the commit and the machine), and
a summary prints one line per target of the issue with PASS/FAIL, computed from that dict (a figure that is not
there shows as "missing"). A part that fails is recorded as {"error": ...}, the others still run, and the exit
status is then 1; a FAIL is a figure, not an error. bench/README.md explains every figure.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from local.aws import FAKE_CREDENTIALS
from local.template import ROOT, Template

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
ROUNDS = max(1, int(os.environ.get("BENCH_STACK_ROUNDS", "100")))
WARMUP = 3
PARTS = ("cold", "warm", "stack", "worst")
RESULTS = ROOT / "bench" / "results.json"
ORIGIN = "https://www.example.com"
FORM_SECRET = "bench-stack-page-secret-0123456789"  # noqa: S105 - the bench form's own page secret
NONCES_PER_IP = 15  # below the NonceFunction's 20 per IP and minute
API_GATEWAY_LIMIT_S = 29


# --- the local stack -------------------------------------------------------------------------------------------------


def start_stack() -> tuple[subprocess.Popen, str, float, Path]:
    work = Path(tempfile.mkdtemp(prefix="mailrelay-bench-"))
    log, state = work / "stack.log", work / "local-stack.json"  # not a running `make run`'s state file
    env = {**os.environ, "MAILRELAY_ADMIN_KEY": ADMIN_KEY, "PYTHONUNBUFFERED": "1", "PORT": "0"}
    env["MAILRELAY_LOCAL_STATE"] = str(state)
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    while True:
        found = re.search(r"mailrelay local stack: (http://\S+)", log.read_text())
        if found:
            return process, found.group(1), started, log
        if process.poll() is not None or time.perf_counter() - started > 120:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
            raise RuntimeError(f"local stack did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0]


def series(samples: list[float], baseline: list[float] | None = None, name: str = "") -> dict[str, Any]:
    """p50/p95 of one kind of request; with a baseline, the ratio of the p50s."""
    figures: dict[str, Any] = {"n": len(samples)}
    if samples:
        figures |= {"p50_ms": round(statistics.median(samples), 2), "p95_ms": round(percentile(samples, 95), 2)}
    if samples and baseline:
        figures |= {"baseline": name, "ratio_p50": round(statistics.median(samples) / statistics.median(baseline), 2)}
    return figures


class FromAddress(HTTPAdapter):
    """Connections from one local source address (the gateway sees it as the visitor's IP)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def visitor(i: int, distinct: bool) -> requests.Session:
    """A new session (so a new connection) from visitor i's own loopback address, or from 127.0.0.1."""
    session = requests.Session()
    if distinct:
        high, low = divmod(i, 254)
        session.mount("http://", FromAddress(f"127.{1 + high // 256 % 254}.{high % 256}.{1 + low}"))
    return session


def distinct_loopback() -> bool:
    """Whether the OS routes all of 127/8 to loopback (Linux does; macOS has only 127.0.0.1 by default)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.1.2.3", 0))
        except OSError:
            return False
    return True


def check(response: requests.Response, status: int) -> requests.Response:
    if response.status_code != status:
        method, url = response.request.method, response.request.url
        raise RuntimeError(f"{method} {url}: expected {status}, got {response.status_code}: {response.text[:500]}")
    return response


def local_stack() -> dict[str, Any]:
    process, url, started, log = start_stack()
    try:
        return measure_stack(url, time.perf_counter() - started, started)
    except Exception as exc:
        raise RuntimeError(f"{exc}\nlocal stack log (end):\n{log.read_text()[-3000:]}") from exc
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        shutil.rmtree(log.parent, ignore_errors=True)


def measure_stack(url: str, banner_s: float, started: float) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def channel(name: str, **spec: Any) -> dict[str, str]:
        body = {"sender": "noreply@example.com", "recipients": ["team@example.com"], **spec}
        token = check(requests.put(f"{url}/v1/channels/{name}", json=body, headers=admin, timeout=30), 201)
        return {"X-Descriptor": name, "X-Token": token.json()["token"]}

    def send(headers: dict[str, str]) -> requests.Response:
        return requests.post(f"{url}/v1/messages", headers=headers, json={"subject": "bench", "text": "x"}, timeout=30)

    plain = channel("bench")
    check(send(plain), 200)
    first_s = time.perf_counter() - started
    print(f"make run -> banner (stack ready):        {banner_s:6.2f} s")
    print(f"make run -> first accepted message:      {first_s:6.2f} s", flush=True)

    limited = channel("bench-limited", min_period=3600)
    check(send(limited), 200)  # takes the slot for an hour: every later send is a 429
    channel("bench-form", form={"allowed_origins": [ORIGIN], "require_nonce": True, "secret": FORM_SECRET})
    distinct = distinct_loopback()
    form_rounds = WARMUP + ROUNDS if distinct else NONCES_PER_IP

    def health() -> requests.Response:
        return requests.get(f"{url}/v1/health", timeout=30)

    def nonce_and_form(i: int) -> tuple[float, float]:
        with visitor(i, distinct) as session:
            t0 = time.perf_counter()
            got = check(session.get(f"{url}/v1/nonce?form=bench-form", headers={"Origin": ORIGIN}, timeout=30), 200)
            nonce_ms = (time.perf_counter() - t0) * 1000
        nonce = got.json()["nonce"]
        fields = {"email": "visitor@example.org", "name": "Ada", "message": "Hello", "nonce": nonce}
        fields["hash"] = hashlib.sha256((nonce + FORM_SECRET).encode()).hexdigest()
        with visitor(i, distinct) as session:
            t0 = time.perf_counter()
            check(session.post(f"{url}/v1/forms/bench-form", headers={"Origin": ORIGIN}, json=fields, timeout=30), 200)
            return nonce_ms, (time.perf_counter() - t0) * 1000

    kinds = ("health", "send", "rejected_429", "wrong_token", "unknown_channel", "nonce_fetch", "form")
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    wrong = {**plain, "X-Token": plain["X-Token"][::-1]}
    unknown = {"X-Descriptor": "bench-no-such-channel", "X-Token": plain["X-Token"]}
    simple: list[tuple[str, Callable[[], requests.Response], int]] = [
        ("health", health, 200),
        ("send", lambda: send(plain), 200),
        ("rejected_429", lambda: send(limited), 429),
        ("wrong_token", lambda: send(wrong), 401),  # these two must not be told apart by time (issue 11)
        ("unknown_channel", lambda: send(unknown), 401),
    ]
    for i in range(WARMUP + ROUNDS):
        for name, call, status in simple:
            t0 = time.perf_counter()
            check(call(), status)
            if i >= WARMUP:
                samples[name].append((time.perf_counter() - t0) * 1000)
        if i < form_rounds:
            nonce_ms, form_ms = nonce_and_form(i)
            if i >= WARMUP:
                samples["nonce_fetch"].append(nonce_ms)
                samples["form"].append(form_ms)

    check(requests.put(f"{url}/_local/faults", json={"ses": "down"}, timeout=30), 200)
    failover = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        check(send(plain), 200)
        failover.append((time.perf_counter() - t0) * 1000)
    check(requests.put(f"{url}/_local/faults", json={}, timeout=30), 200)

    base = samples["health"]
    results = {
        "method": (
            f"{ROUNDS} rounds after {WARMUP} warm-up, kinds interleaved, a new connection per request;"
            " ratio_p50 = p50 / baseline's p50 (health for every kind, the plain send for failover)"
        ),
        "rounds": ROUNDS,
        "startup": {"banner_s": round(banner_s, 2), "first_message_s": round(first_s, 2)},
        "health": series(base),
        "send": series(samples["send"], base, "health"),
        "rejected_429": series(samples["rejected_429"], base, "health"),
        "wrong_token": series(samples["wrong_token"], base, "health"),
        "unknown_channel": series(samples["unknown_channel"], base, "health"),
        "auth_timing_gap_ms": round(
            abs(statistics.median(samples["unknown_channel"]) - statistics.median(samples["wrong_token"])), 3
        ),
        "nonce_fetch": series(samples["nonce_fetch"], base, "health"),
        "form_submission": series(samples["form"], base, "health")
        | {"visitors": "one 127.x.y.z address each" if distinct else "all from 127.0.0.1"},
        "failover_ses_down": series(failover, samples["send"], "send"),
    }
    for name, label in (
        ("health", "GET /v1/health (baseline)"),
        ("send", "POST /v1/messages"),
        ("rejected_429", "POST /v1/messages, 429"),
        ("wrong_token", "POST /v1/messages, wrong token"),
        ("unknown_channel", "POST /v1/messages, no such channel"),
        ("nonce_fetch", "GET /v1/nonce"),
        ("form_submission", "POST /v1/forms/NAME"),
        ("failover_ses_down", "POST /v1/messages, SES down"),
    ):
        r = results[name]
        ratio = f"{r['ratio_p50']:5.1f}x {r['baseline']}" if "ratio_p50" in r else ""
        print(f"{label:<30} p50 {r['p50_ms']:6.1f} ms   p95 {r['p95_ms']:6.1f} ms   (n={r['n']})  {ratio}".rstrip())
    return results


# --- both providers silent -------------------------------------------------------------------------------------------


def worst_case() -> dict[str, Any]:
    """Both providers accept the connection and never answer: the longest a send can take."""
    from mailrelay import aws
    from mailrelay.providers import chain
    from mailrelay.providers.base import Deadline, Outgoing
    from mailrelay.providers.mailgun import MailgunProvider, MailgunSettings
    from mailrelay.providers.ses import SesProvider

    holes = []
    for _ in range(2):
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        threading.Thread(target=lambda h=hole: [h.accept() for _ in range(8)], daemon=True).start()
        holes.append(hole)
    saved = os.environ.copy()
    os.environ.update(
        {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_SESV2": f"http://127.0.0.1:{holes[0].getsockname()[1]}",
        }
    )
    aws.clear_caches()
    mailgun = MailgunSettings("key", "mg.example.com", f"http://127.0.0.1:{holes[1].getsockname()[1]}")
    message = Outgoing(sender="a@example.com", to=["b@example.com"], cc=[], bcc=[], raw=b"Subject: x\r\n\r\nx")
    budget = float(os.environ.get("SEND_BUDGET_SECONDS", "24"))
    attempts: list[dict[str, str]] = []
    t0 = time.perf_counter()
    try:
        chain.send([SesProvider(), MailgunProvider(lambda: mailgun)], message, Deadline(budget), at_least_once=True)
        raise RuntimeError("a provider answered: no worst case measured")
    except chain.Undelivered as undelivered:
        attempts = [{"provider": a.provider, "outcome": a.outcome} for a in undelivered.attempts]
    finally:
        elapsed = time.perf_counter() - t0
        for hole in holes:
            hole.close()
        aws.clear_caches()
        os.environ.clear()
        os.environ.update(saved)
    outcomes = ", ".join(f"{a['provider']}={a['outcome']}" for a in attempts)
    print(
        f"both providers silent (at_least_once): {elapsed:6.2f} s  [{outcomes}]  budget {budget:g} s, "
        f"{elapsed / API_GATEWAY_LIMIT_S:.2f} of API Gateway's {API_GATEWAY_LIMIT_S} s"
    )
    return {
        "elapsed_s": round(elapsed, 2),
        "attempts": attempts,
        "budget_s": budget,
        "api_gateway_limit_s": API_GATEWAY_LIMIT_S,
        "ratio_to_api_gateway_limit": round(elapsed / API_GATEWAY_LIMIT_S, 2),
    }


# --- the report ------------------------------------------------------------------------------------------------------


def git_commit() -> str:
    """HEAD, plus "-dirty" when the work tree differs from it (bench/, this report's own output, aside)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--", ".", ":(exclude)bench") else "")


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def figure(results: dict[str, Any], *path: str) -> float | None:
    """The number at results[path[0]][path[1]]..., or None when any step is missing or it is not a number."""
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, int | float) and not isinstance(node, bool) else None


def shown(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "missing" if value is None else f"{value:.{digits}f}{unit}"


def summary(results: dict[str, Any]) -> list[dict[str, str]]:
    """One row per target of the issue (figure, value, target, verdict), then informational rows (no target)."""
    rows: list[dict[str, str]] = []

    def target(label: str, value: float | None, limit: float, unit: str, digits: int = 2) -> None:
        verdict = "missing" if value is None else "PASS" if value <= limit else "FAIL"
        rows.append(
            {"figure": label, "value": shown(value, unit, digits), "target": f"<= {limit:g}{unit}"}
            | {"verdict": verdict}
        )

    functions = list((results.get("cold_init") or {}).get("functions") or {})
    with contextlib.suppress(Exception):  # every function gets a row, measured or not
        functions += [name for name in Template().functions if name not in functions]
    limit = figure(results, "cold_init", "target_ratio") or 1.3
    for name in functions:
        target(f"cold init / bare boto3, {name}", figure(results, "cold_init", "functions", name, "ratio"), limit, "x")
    for scenario in ("json_send", "json_send_min_period"):
        target(
            f"AWS round trips per JSON send ({scenario})", figure(results, "warm", scenario, "round_trips_mean"), 4, ""
        )
    target("own time per send p50 (json_send)", figure(results, "warm", "json_send", "own_ms_p50"), 1, " ms", 3)
    target("own time per send p99 (json_send)", figure(results, "warm", "json_send", "own_ms_p99"), 3, " ms", 3)
    target(
        "unknown channel vs wrong token, |median gap| over HTTP",
        figure(results, "local_stack", "auth_timing_gap_ms"),
        1,
        " ms",
        3,
    )
    layer_bytes = figure(results, "layer", "bytes")
    target("layer size", None if layer_bytes is None else layer_bytes / 1e6, 15, " MB", 2)

    for label, scenario in (
        ("per 429", "rejected_429"),
        ("per form submission", "form_submission"),
        ("per Idempotency-Key send", "idempotency_key_send"),
        ("per bad token", "bad_token"),
    ):
        calls = figure(results, "warm", scenario, "round_trips_mean")
        p50, p99 = (figure(results, "warm", scenario, f"own_ms_p{q}") for q in (50, 99))
        value = f"{shown(calls)} round trips, own p50 {shown(p50, ' ms', 3)}, p99 {shown(p99, ' ms', 3)}"
        value = "missing" if calls is None and p50 is None and p99 is None else value
        rows.append({"figure": f"{label} ({scenario})", "value": value, "target": "", "verdict": "info"})
    for label, name in (
        ("local stack send / health p50", "send"),
        ("local stack 429 / health p50", "rejected_429"),
        ("local stack form post / health p50", "form_submission"),
        ("local stack failover / send p50", "failover_ses_down"),
    ):
        ratio, p50 = figure(results, "local_stack", name, "ratio_p50"), figure(results, "local_stack", name, "p50_ms")
        value = "missing" if ratio is None else f"{ratio:.1f}x ({shown(p50, ' ms', 1)})"
        rows.append({"figure": label, "value": value, "target": "", "verdict": "info"})
    elapsed = figure(results, "worst_case", "elapsed_s")
    value = "missing" if elapsed is None else f"{elapsed:.1f} s of API Gateway's {API_GATEWAY_LIMIT_S} s"
    rows.append({"figure": "both providers silent", "value": value, "target": "", "verdict": "info"})
    return rows


def print_summary(rows: list[dict[str, str]], results: dict[str, Any]) -> None:
    width = max(len(r["figure"]) for r in rows) + 2
    print(f"\n== summary ({results['git_commit']}, {results['when']}) -> {RESULTS.relative_to(ROOT)}")
    print(f"{'figure':<{width}}{'value':>12}  {'target':<10}verdict")
    for row in rows:
        if row["verdict"] != "info":
            print(f"{row['figure']:<{width}}{row['value']:>12}  {row['target']:<10}{row['verdict']}")
    print("informational (no target)")
    for row in rows:
        if row["verdict"] == "info":
            print(f"{row['figure']:<{width}}{row['value']}")


def selected_parts() -> list[str]:
    asked = [p.strip() for p in os.environ.get("BENCH_PARTS", ",".join(PARTS)).split(",") if p.strip()]
    unknown = sorted(set(asked) - set(PARTS))
    if unknown or not asked:
        raise SystemExit(f"BENCH_PARTS: {', '.join(unknown) or '(empty)'}: use a comma list of {','.join(PARTS)}")
    return [p for p in PARTS if p in asked]


def main() -> int:
    from tools import bench_cold, bench_warm

    parts = selected_parts()
    started = time.perf_counter()
    results: dict[str, Any] = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine(),
        "parts": parts,
        "durations_s": {},
    }
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "cold": bench_cold.run,  # {"cold_init": ..., "layer": ...}
        "warm": lambda: {"warm": bench_warm.run()},
        "stack": lambda: {"local_stack": local_stack()},
        "worst": lambda: {"worst_case": worst_case()},
    }
    sections = {"cold": ("cold_init", "layer"), "warm": ("warm",), "stack": ("local_stack",), "worst": ("worst_case",)}
    errors = []
    for part in parts:
        print(f"\n== {part}", flush=True)
        t0 = time.perf_counter()
        try:
            results |= runs[part]()
        except (Exception, SystemExit) as exc:
            traceback.print_exc()
            errors.append(part)
            results |= {section: {"error": f"{type(exc).__name__}: {exc}"[:2000]} for section in sections[part]}
        results["durations_s"][part] = round(time.perf_counter() - t0, 1)
    results["durations_s"]["total"] = round(time.perf_counter() - started, 1)
    errors += [f"warm.{name}" for name, figures in (results.get("warm") or {}).items() if "error" in figures]
    cold = (results.get("cold_init") or {}).get("functions") or {}
    errors += [f"cold_init.{name}" for name, figures in cold.items() if figures.get("status") == "error"]
    results["errors"] = errors

    rows = summary(results)
    results["summary"] = rows
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_summary(rows, results)
    print(f"wall time {results['durations_s']['total']:.0f} s" + (f"; errors: {', '.join(errors)}" if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
