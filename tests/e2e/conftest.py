"""End-to-end: the real local stack (`python -m local`, what `make run` starts) over real HTTP on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.template import ROOT

ADMIN_KEY = "e2e-admin-key-0123456789abcdef"
START_TIMEOUT_S = 60


class Stack:
    def __init__(self, url: str, log: Path, state_path: Path):
        self.url = url
        self.log = log
        self.state_path = state_path  # the running stack's self-description (python -m local env-vars / invoke)
        self.admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def create_channel(self, name: str, **spec) -> str:
        body = {"sender": {"email": "noreply@example.com", "name": "Site"}, "recipients": ["team@example.com"], **spec}
        response = requests.put(f"{self.url}/v1/channels/{name}", json=body, headers=self.admin, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def outbox(self) -> list[dict]:
        return requests.get(f"{self.url}/_local/outbox", timeout=30).json()["messages"]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    log = Path(tempfile.mkstemp(prefix="mailrelay-e2e-", suffix=".log")[1])
    state = Path(tempfile.mkdtemp(prefix="mailrelay-e2e-")) / "local-stack.json"  # never a running `make run`'s
    env = {**os.environ, "MAILRELAY_ADMIN_KEY": ADMIN_KEY, "PYTHONUNBUFFERED": "1", "MAILRELAY_LOCAL_STATE": str(state)}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", "0", "--workers", "4", "--warm-all"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = _wait_for_url(process, log)
        yield Stack(url, log, state)
        # Every function ran as its own IAM role with moto enforcing it: a denial anywhere means template.yaml lacks
        # a grant the code uses (a handler may have turned it into a 5xx or a degraded answer that a test accepted).
        denials = [line for line in log.read_text().splitlines() if line.startswith("local IAM: denied")]
        assert not denials, f"IAM denied calls on the local stack: {denials[:5]}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_url(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local stack exited with {process.returncode}:\n{log.read_text()}")
        found = re.search(r"mailrelay local stack: (http://\S+)", log.read_text())
        if found:
            url = found.group(1)
            if requests.get(f"{url}/v1/health", timeout=30).status_code == 200:
                return url
        time.sleep(0.2)
    raise RuntimeError(f"local stack did not start in {START_TIMEOUT_S}s:\n{log.read_text()}")
