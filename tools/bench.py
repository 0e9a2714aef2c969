"""`make bench`: figures for the local stack, each compared with a baseline measured in the same run.

1. `make run` (warm venv) to the first accepted message: start, wait for the banner, create a channel, send.
2. Warm relay latency: POST /v1/messages (auth + DynamoDB + SES under moto) against GET /v1/health through the same
   gateway and worker pool (the fixed cost of HTTP -> event -> worker process -> response); the ratio is the figure.
3. Failover through the local faults: SES down -> Mailgun, against a plain SES send.
4. Both providers failing slowly: SES and Mailgun each accept the connection and never answer; the channel opts in
   to at_least_once so both are tried. Compared with API Gateway's 29 s limit.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from local.aws import FAKE_CREDENTIALS
from local.template import ROOT

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
ROUNDS = 50


def start_stack() -> tuple[subprocess.Popen, str, float, Path]:
    log = Path(tempfile.mkstemp(prefix="mailrelay-bench-", suffix=".log")[1])
    state = Path(tempfile.mkdtemp(prefix="mailrelay-bench-")) / "local-stack.json"  # not a running `make run`'s
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
            raise SystemExit(f"local stack did not start:\n{log.read_text()}")
        time.sleep(0.05)


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] if len(samples) > 1 else samples[0]


def timed(call) -> list[float]:
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.text
    return samples


def main() -> None:
    process, url, started, _log = start_stack()
    try:
        banner_s = time.perf_counter() - started
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        body = {"sender": "noreply@example.com", "recipients": ["team@example.com"]}
        token = requests.put(f"{url}/v1/channels/bench", json=body, headers=admin, timeout=30).json()["token"]
        channel = {"X-Descriptor": "bench", "X-Token": token}
        first = requests.post(f"{url}/v1/messages", headers=channel, json={"subject": "first", "text": "x"}, timeout=30)
        assert first.status_code == 200, first.text
        first_s = time.perf_counter() - started
        print(f"make run -> banner (stack ready):        {banner_s:6.2f} s")
        print(f"make run -> first accepted message:      {first_s:6.2f} s")

        health = timed(lambda: requests.get(f"{url}/v1/health", timeout=30))
        send = timed(
            lambda: requests.post(
                f"{url}/v1/messages", headers=channel, json={"subject": "bench", "text": "x"}, timeout=30
            )
        )
        for name, samples in (("GET /v1/health (baseline)", health), ("POST /v1/messages", send)):
            print(
                f"{name:<28} p50 {statistics.median(samples):6.1f} ms   p95 {percentile(samples, 95):6.1f} ms"
                f"   (n={ROUNDS})"
            )
        print(f"send / health, p50 ratio:                {statistics.median(send) / statistics.median(health):5.1f}x")

        requests.put(f"{url}/_local/faults", json={"ses": "down"}, timeout=30)
        failover = timed(
            lambda: requests.post(
                f"{url}/v1/messages", headers=channel, json={"subject": "bench", "text": "x"}, timeout=30
            )
        )
        requests.put(f"{url}/_local/faults", json={}, timeout=30)
        print(
            f"{'POST /v1/messages, SES down':<28} p50 {statistics.median(failover):6.1f} ms   "
            f"p95 {percentile(failover, 95):6.1f} ms   (circuit opens after 3; then SES is skipped)"
        )
        print(f"failover / SES send, p50 ratio:          {statistics.median(failover) / statistics.median(send):5.1f}x")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)


def worst_case() -> None:
    """Both providers accept the connection and never answer: the longest a send can take."""
    import socket
    import threading

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
    t0 = time.perf_counter()
    try:
        chain.send([SesProvider(), MailgunProvider(lambda: mailgun)], message, Deadline(budget), at_least_once=True)
    except chain.Undelivered as undelivered:
        outcomes = ", ".join(f"{a.provider}={a.outcome}" for a in undelivered.attempts)
    elapsed = time.perf_counter() - t0
    print(
        f"both providers silent (at_least_once): {elapsed:6.2f} s  [{outcomes}]  budget {budget:g} s, "
        f"{elapsed / 29:.2f} of API Gateway's 29 s"
    )


if __name__ == "__main__":
    main()
    worst_case()
