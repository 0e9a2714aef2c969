"""`python -m local invoke` / `env-vars` against the running local stack (the session `stack` of conftest.py).

The commands read the stack's state file. The fixture starts the stack with the environment of this process, so the
stack wrote it where `state_path()` says here (`MAILRELAY_LOCAL_STATE`, else `.mailrelay/local-stack.json`) - unless
the fixture names its own path as `stack.state_path`, which is then used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from local.__main__ import state_path
from local.template import ROOT, Template
from tests.dnsserver import LocalDns

EVENT_FILES = sorted((ROOT / "events").glob("*.json"))
SENDS = {"POST /v1/messages", "POST /api/message", "POST /v1/forms/{descriptor}"}
FORMS = {"GET /v1/nonce", "OPTIONS /v1/forms/{descriptor}"}


@pytest.fixture(scope="module")
def state_file(stack, tmp_path_factory) -> Iterator[Path]:
    """A copy of the stack's state file whose functions resolve DNS at a loopback server (validation looks up MX
    records; no test may ask the machine's resolver)."""
    source = Path(getattr(stack, "state_path", None) or state_path())
    state = json.loads(source.read_text())
    assert state["api_url"] == stack.url, f"{source} describes another stack than {stack.url}"
    dns = LocalDns({("example.org", "MX"): ["10 mx.example.org."], ("mx.example.org", "A"): ["192.0.2.25"]}).start()
    for env in state["functions"].values():
        env["DNS_NAMESERVER"] = dns.nameserver
    copy = tmp_path_factory.mktemp("state") / "local-stack.json"
    copy.write_text(json.dumps(state))
    yield copy
    dns.stop()


def run(state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MAILRELAY_LOCAL_STATE": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "local.invoke", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.stem)
def test_invoke_runs_every_sample_event(stack, state_file, path):
    event = json.loads(path.read_text())
    send = event.get("routeKey") in SENDS
    if send:
        time.sleep(1.1)  # the sample channel's min_period is 1 s
    before = len(stack.outbox())
    done = run(state_file, "invoke", str(path))
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    if "routeKey" not in event:  # the SNS sample: its placeholder topic became the stack's events topic
        assert response == {"applied": 1, "ignored": 0}, done.stderr
        return
    assert response["statusCode"] < 500, done.stderr
    assert response["statusCode"] != 401, response  # the admin key / channel token placeholders were filled
    if event["routeKey"] == "POST /v1/webhooks/mailgun":
        assert response["statusCode"] == 200, response  # signed again with the stack's key, fresh timestamp and token
    if event["routeKey"] in FORMS:  # the channel got form settings; nonce and hash were filled in
        assert response["statusCode"] in (200, 204), response
    if send:
        assert response["statusCode"] in (200, 303), response  # 303: the urlencoded sample names a `_next`
        if event["routeKey"] != "POST /v1/forms/{descriptor}":
            assert response["body"]["status"] == "sent", response
        assert len(stack.outbox()) > before


def test_invoke_takes_the_function_from_the_command_line(stack, state_file):
    done = run(state_file, "invoke", str(ROOT / "events" / "meta-health.json"), "--function", "NonceFunction")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 404  # the nonce function has no health route


def test_env_vars_point_every_function_at_the_stack(stack, state_file, tmp_path):
    output = tmp_path / "env.json"
    done = run(state_file, "env-vars", "--output", str(output), "--docker-host", "host.docker.internal")
    assert done.returncode == 0, done.stderr
    state, written = json.loads(state_file.read_text()), json.loads(output.read_text())
    endpoint = state["aws_endpoint"].replace("127.0.0.1", "host.docker.internal")
    assert endpoint.startswith("http://host.docker.internal:")
    template = Template()
    assert set(written) == set(template.functions)
    for name, function in template.functions.items():
        env = written[name]
        assert env["AWS_ENDPOINT_URL"] == endpoint
        assert set(function.environment) <= set(env)
        for key in ("AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[key] == state["functions"][name][key]
        assert not [v for v in env.values() if v.startswith(("http://127.0.0.1", "http://localhost"))]
    assert f"sam local invoke RelayFunction -t {tmp_path / 'env.template.yaml'} --env-vars {output}" in done.stdout

    # What SAM CLI itself would hand each function's container (no Docker needed to resolve it).
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(str(tmp_path / "env.template.yaml"))
    provider = SamFunctionProvider(stacks)
    runner = LocalLambdaRunner(mock.Mock(), provider, str(tmp_path), str(tmp_path), env_vars_values=written)
    functions = list(provider.get_all())
    assert functions
    for function in functions:
        container = runner.get_invoke_config(function).env_vars.resolve()
        expected = dict(written[function.name])
        assert {k: container.get(k) for k in expected} == expected
