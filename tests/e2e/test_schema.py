"""schemathesis `--checks all` over the OpenAPI document the stack serves, once with each kind of credential: the
admin key, a channel's token, and none. Every check schemathesis has runs: no 5xx, every status / content type /
header / body the spec documents, schema-valid requests accepted and schema-violating ones refused, 405 with Allow
for methods a path does not have, authentication enforced, resources gone after DELETE.

The stack is one of its own (not the session's): schemathesis creates, replaces and deletes channels and
suppressions at random, and sends hundreds of wrong admin keys, so its brake on them is raised with
`--parameter AdminFailuresPerMinute=...` (the integration tests check the brake itself).

What the spec cannot say is in tests/e2e/schemathesis.toml (statuses an opaque cursor or a Mailgun signature cannot
avoid) and tests/e2e/schemathesis_hooks.py (generated addresses outside special-use domains; a channel's two rules
across fields). Bounded here (`MAILRELAY_FUZZ_EXAMPLES` cases per operation, default 6); `make fuzz` runs many more
and requires MAILRELAY_FUZZ_MIN_CASES generated cases in all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.template import ROOT
from tests.e2e.conftest import _wait_for_url, stop

ADMIN_KEY = "schema-admin-key-0123456789abcdef"
CHANNEL = "fuzz"
CHANNEL_TOKEN = "fuzz-channel-token-0123456789abcdef"
EXAMPLES = int(os.environ.get("MAILRELAY_FUZZ_EXAMPLES", "6"))
SEED = os.environ.get("MAILRELAY_FUZZ_SEED", "20261129")
MIN_CASES = int(os.environ.get("MAILRELAY_FUZZ_MIN_CASES", "0"))
CONFIG = Path(__file__).with_name("schemathesis.toml")
GENERATED = re.compile(r"(\d+) generated")
_generated: dict[str, int] = {}


@pytest.fixture(scope="module")
def fuzz_stack() -> Iterator[str]:
    log = Path(tempfile.mkstemp(prefix="mailrelay-schema-", suffix=".log")[1])
    state = Path(tempfile.mkdtemp(prefix="mailrelay-schema-")) / "local-stack.json"
    env = {**os.environ, "MAILRELAY_ADMIN_KEY": ADMIN_KEY, "PYTHONUNBUFFERED": "1", "MAILRELAY_LOCAL_STATE": str(state)}
    command = [sys.executable, "-m", "local", "--port", "0", "--workers", "2", "--warm-all"]
    command += ["--parameter", "AdminFailuresPerMinute=1000000"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield _wait_for_url(process, log)
        crashes = [line for line in log.read_text().splitlines() if "raised:" in line or "unhandled error" in line]
        assert not crashes, f"functions failed during the schemathesis runs: {crashes[:3]}"
    finally:
        stop(process)


def _credentials(url: str, kind: str) -> list[str]:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    if kind == "admin":
        return [f"Authorization: Bearer {ADMIN_KEY}"]
    if kind == "channel":  # the admin run may have replaced or deleted it: a fresh one with a known token
        requests.delete(f"{url}/v1/channels/{CHANNEL}", headers=admin, timeout=30)
        spec = {"sender": "noreply@example.com", "recipients": ["team@example.com"], "token": CHANNEL_TOKEN}
        assert requests.put(f"{url}/v1/channels/{CHANNEL}", json=spec, headers=admin, timeout=30).status_code == 201
        return [f"X-Descriptor: {CHANNEL}", f"X-Token: {CHANNEL_TOKEN}"]
    return []


@pytest.mark.parametrize("kind", ["admin", "channel", "none"])
def test_every_schemathesis_check_passes(fuzz_stack: str, kind: str):
    headers = [item for header in _credentials(fuzz_stack, kind) for item in ("-H", header)]
    command = [str(Path(sys.executable).with_name("st")), "--config-file", str(CONFIG), "--no-color", "run"]
    command += [f"{fuzz_stack}/v1/openapi.json", "--checks", "all", "-n", str(EXAMPLES), "--seed", SEED]
    command += ["--generation-database", "none", "--workers", "2", "--request-timeout", "35", *headers]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    output = result.stdout + result.stderr
    found = GENERATED.search(output)
    _generated[kind] = int(found.group(1)) if found else 0
    summary = output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output[-3000:]
    print(f"\nschemathesis with {kind} credentials: {_generated[kind]} generated cases\n{summary}")
    assert result.returncode == 0, output[-20_000:]
    assert _generated[kind] > 0, output[-3000:]


def test_enough_cases_were_generated():
    """`make fuzz` asks for MAILRELAY_FUZZ_MIN_CASES generated requests in all (the runs above, whichever ran)."""
    total = sum(_generated.values())
    print(f"\nschemathesis generated {total} cases in all: {_generated}")
    assert len(_generated) == 3 and total >= MIN_CASES, (total, MIN_CASES)
