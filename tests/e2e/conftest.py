"""End-to-end: the real local stack (`python -m local`, what `make run` starts) over real HTTP on a free port.

The stack's stdout/stderr - every Lambda function's log lines, the local gateway's and the local AWS stand-ins' -
goes to one log file. At the end of the session the `stack` fixture fails on IAM denials in it and on any sensitive
value in it (the leak check, `Sensitive` below): every log line is in scope - the functions' JSON lines, the
gateway's (an unhandled error's traceback: what Lambda itself would log), the stand-ins' - except the stack's own
start-up banner, which prints the local admin key and example addresses by design and is cut out by exact match.
Not in scope: what `python -m local invoke` runs in its own child process (tests/e2e/test_invoke.py captures that
output), and the stacks other tests start for themselves.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import boto3
import pytest
import requests

from local.__main__ import banner
from local.template import ROOT

ADMIN_KEY = "e2e-admin-key-0123456789abcdef"
START_TIMEOUT_S = 60
SENDER_DOMAIN = os.environ.get("MAILRELAY_LOCAL_SENDER_DOMAIN", "example.com")  # what the stack reads too


# ---------------------------------------------------------------- the leak check: what must never be logged

MIN_LENGTH = 8  # shorter values ("x", "py-1", "hi") occur in log lines by chance
MIN_DISTINCT = 4  # nor values of fewer different characters ("x" * 43, "00000000"): no secret looks like that
MIN_CONTENT, MAX_CONTENT = 12, 1_000  # submitted text: not single words ("failover"), not filler ("x" * 2000)
MAX_BODY = 1_000_000  # bodies above this (the size-limit tests' megabytes of filler) are not parsed
ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Keys whose values are credentials wherever they occur in a request or response body (channel token, page and
# CAPTCHA secrets, a form's nonce and hash, a Mailgun webhook's signature token and signature).
CREDENTIAL_KEYS = {"token", "secret", "nonce", "hash", "signature", "password", "api_key", "admin_key"}
CREDENTIAL_HEADERS = ("authorization", "x-token", "x-admin-key")
# Routes whose bodies carry what a sender or a site visitor wrote (subject, text, form fields): that content too.
CONTENT_ROUTES = re.compile(r"^/(v1/messages|api/message|v1/forms/[^/]+)$")
# Requests that can drop a stored token hash or page secret (replace, rotate, delete): snapshot the table first.
CHANNEL_CHANGES = re.compile(r"^/(v1/channels/[^/]+(/token)?|api/channel)$")


def _spellings(value: str) -> set[str]:
    """The value as a log line could carry it: as is, escaped inside a JSON string, URL-encoded."""
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
    }


class Sensitive:
    """Every sensitive value the e2e session handled, with what it is: the admin key, every channel token the API
    handed out or a test presented, the token hashes and page/CAPTCHA secrets the channels table holds, the relay
    secret's values (Mailgun API key, webhook signing key, admin keys), the functions' AWS credentials, form nonces
    and hashes, every address a test submitted (bodies, paths, queries) or a table holds, and what senders and form
    visitors wrote. Values shorter than MIN_LENGTH or with fewer than MIN_DISTINCT different characters are not
    kept (they would match by chance).

    `observe_*` see every request the test process makes to the session's stack through `requests` (a session-wide
    wrapper of `requests.Session.send`, which the tests, the Python client and the Django backend all go through);
    the CLI's and `python -m local invoke`'s subprocesses are not seen, but the table snapshots
    (`Stack.remember_stored`: at start, before each channel change the recorder sees, at the end) catch the
    channels, addresses and hashes they leave behind.

    Each value is kept in every spelling (`_spellings`), indexed by its first MIN_LENGTH characters, so that finding
    them all in a log costs one dictionary look-up per character of the log, however many values there are."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: dict[str, dict[str, str]] = {}  # first MIN_LENGTH characters -> {spelling: kind}
        self.url: str | None = None  # the session stack's: requests elsewhere (another test's own stack) are not seen
        self.before_channel_change: Callable[[], None] | None = None

    def add(self, kind: str, value: Any) -> None:
        if not isinstance(value, str) or len(value) < MIN_LENGTH or len(set(value)) < MIN_DISTINCT:
            return
        spellings = [spelling for spelling in _spellings(value) if len(spelling) >= MIN_LENGTH]
        with self._lock:
            for spelling in spellings:
                self._index.setdefault(spelling[:MIN_LENGTH], {}).setdefault(spelling, kind)

    def add_credential(self, kind: str, value: Any) -> None:
        """A credential, and its plain SHA-256 (what a careless "log the key's hash" would write)."""
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            self.add(kind, value)
            self.add(f"SHA-256 of the {kind}", hashlib.sha256(value.encode()).hexdigest())

    def add_addresses(self, text: str) -> None:
        for address in ADDRESS.findall(text):
            self.add("address", address.strip(".'"))

    def find(self, text: str) -> list[tuple[int, str, str]]:
        """(offset, spelling, kind) of every known value in `text`."""
        with self._lock:
            index = {prefix: dict(group) for prefix, group in self._index.items()}
        found = []
        for offset in range(len(text) - MIN_LENGTH + 1):
            group = index.get(text[offset : offset + MIN_LENGTH])
            if group:
                found += [(offset, s, kind) for s, kind in group.items() if text.startswith(s, offset)]
        return found

    # -- what the test process sends and receives

    def observe_request(self, request: requests.PreparedRequest) -> None:
        if self.url is None or not (request.url or "").startswith(self.url + "/"):
            return
        url = urlsplit(request.url or "")
        if url.path.startswith("/_local/"):
            return  # the local stack's own routes (faults, outbox): nothing a function sees
        changes = CHANNEL_CHANGES.match(url.path) and request.method in ("PUT", "POST", "DELETE")
        if changes and self.before_channel_change is not None:
            self.before_channel_change()
        headers = {k.lower(): v for k, v in request.headers.items()}
        for name in CREDENTIAL_HEADERS:
            value = headers.get(name, "")
            scheme, _, rest = value.partition(" ")
            credential = rest.strip() if rest and scheme.lower() in ("bearer", "basic") else value
            self.add_credential("credential", credential)
            if ":" in credential:  # Bearer descriptor:token
                self.add_credential("channel token", credential.partition(":")[2])
        self.add_addresses(unquote(url.path) + " " + unquote(url.query))
        for key, value in parse_qsl(url.query):
            self._field(key, value, content=False)
        body = request.body
        if not body or len(body) > MAX_BODY:
            return
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        content = bool(CONTENT_ROUTES.match(url.path))
        kind = headers.get("content-type", "")
        if "json" in kind:
            try:
                self._walk(json.loads(text), None, content)
            except ValueError:
                self.add_addresses(text)
        elif "x-www-form-urlencoded" in kind:
            for key, value in parse_qsl(text, keep_blank_values=True):
                self._field(key, value, content)
        else:  # a raw message, multipart: its addresses
            self.add_addresses(text)

    def observe_response(self, response: requests.Response) -> None:
        if self.url is None or not response.url.startswith(self.url + "/"):
            return
        if "json" not in response.headers.get("Content-Type", "") or len(response.content) > MAX_BODY:
            return
        if b'"token"' not in response.content and b'"nonce"' not in response.content:
            return
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict):
            self.add_credential("channel token", body.get("token"))
            self.add_credential("form nonce", body.get("nonce"))

    def _walk(self, node: Any, key: str | None, content: bool) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                self._walk(value, str(name), content)
        elif isinstance(node, list):
            for value in node:
                self._walk(value, key, content)
        elif isinstance(node, str):
            self._field(key, node, content)

    def _field(self, key: str | None, value: str, content: bool) -> None:
        name = (key or "").lower()
        if name in CREDENTIAL_KEYS or name.endswith(("_secret", "-response")):  # captcha responses too
            self.add_credential("credential" if name != "hash" else "form hash", value)
            return
        self.add_addresses(value)
        if content and name != "content_type" and MIN_CONTENT <= len(value) <= MAX_CONTENT:
            self.add("submitted content", value)


SENSITIVE = Sensitive()


@pytest.fixture(scope="session", autouse=True)
def sensitive_values() -> Iterator[Sensitive]:
    """Record what every request of the session sends and receives (see `Sensitive`): well under a millisecond per
    request, plus one table scan (~30 ms) before each channel change - about 2 s for the whole e2e suite."""
    real_send = requests.Session.send

    def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        SENSITIVE.observe_request(request)
        response = real_send(session, request, **kwargs)
        if not kwargs.get("stream"):
            SENSITIVE.observe_response(response)
        return response

    SENSITIVE.add_credential("admin key", ADMIN_KEY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "send", send)
        yield SENSITIVE


# ---------------------------------------------------------------- the stack


class Leak:
    """A log line that carries sensitive values, shown with each of them replaced by what it is."""

    def __init__(self, number: int, line: str, found: dict[str, str]):
        self.number = number
        self.kinds = sorted(set(found.values()))
        shown = line
        for spelling in sorted(found, key=len, reverse=True):  # longest first: a value inside another goes with it
            shown = shown.replace(spelling, f"<{found[spelling]}>")
        self.shown = shown if len(shown) <= 600 else shown[:600] + "..."

    def __str__(self) -> str:
        return f"stack log line {self.number} carries {' + '.join(self.kinds)}: {self.shown}"


class Stack:
    def __init__(self, url: str, log: Path, state_path: Path):
        self.url = url
        self.log = log
        self.state_path = state_path  # the running stack's self-description (python -m local env-vars / invoke)
        self.admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        self._scan_lock = threading.Lock()
        self._secrets_known = False

    def create_channel(self, name: str, **spec) -> str:
        body = {"sender": {"email": "noreply@example.com", "name": "Site"}, "recipients": ["team@example.com"], **spec}
        response = requests.put(f"{self.url}/v1/channels/{name}", json=body, headers=self.admin, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def outbox(self) -> list[dict]:
        return requests.get(f"{self.url}/_local/outbox", timeout=30).json()["messages"]

    # -- what the stack stores (read with the control function's own credentials: its role may Scan the tables)

    @cached_property
    def _control_env(self) -> dict[str, str]:
        return json.loads(self.state_path.read_text())["functions"]["ControlFunction"]

    def _client(self, service: str):
        env = self._control_env
        return boto3.client(
            service,
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        )

    @cached_property
    def _dynamodb(self):
        return self._client("dynamodb")

    @cached_property
    def relay_secret(self) -> dict[str, Any]:
        """The relay secret as the stack provisioned it (admin key, Mailgun API key, webhook signing key...)."""
        arn = self._control_env["RELAY_SECRET_ID"]
        return json.loads(self._client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])

    def remember_stored(self, suppressions: bool = True) -> None:
        """Add to SENSITIVE what the stack holds now: the relay secret's values and the functions' AWS credentials
        (once), and from the channels table (and the suppressions table) every stored token hash, page and CAPTCHA
        secret and address (before a channel change: the channels table alone)."""
        if not self.state_path.exists():
            return  # the stack has stopped
        with self._scan_lock:
            if not self._secrets_known:
                self._secrets_known = True
                for key, value in self.relay_secret.items():
                    if key == "mailgun_domain":
                        continue  # a domain name, not a secret (the sender domain, named in the banner)
                    for item in value if isinstance(value, list) else [value]:
                        SENSITIVE.add_credential(f"relay secret's {key}", item)
                api_key = self.relay_secret.get("mailgun_api_key")
                if api_key:  # as the Mailgun provider sends it: Authorization: Basic base64("api:<key>")
                    basic = base64.b64encode(f"api:{api_key}".encode()).decode()
                    SENSITIVE.add("relay secret's mailgun_api_key", basic)
                for function in json.loads(self.state_path.read_text())["functions"].values():
                    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
                        SENSITIVE.add("function AWS credential", function.get(name))
            env = self._control_env
            for table in (env["CHANNELS_TABLE"], env["SUPPRESSIONS_TABLE"])[: 2 if suppressions else 1]:
                for page in self._dynamodb.get_paginator("scan").paginate(TableName=table):
                    for item in page["Items"]:
                        _remember_item(item)

    # -- the log

    @cached_property
    def _banner(self) -> str:
        return banner(self.url, ADMIN_KEY, SENDER_DOMAIN, generated=False) + "\n"

    def log_mark(self) -> int:
        """Where the log ends now: `leaks(since=...)` then reads only what was written after."""
        return self.log.stat().st_size

    def log_text(self, since: int = 0) -> tuple[int, str]:
        """(number of the first line, text) of the log from byte `since`; the start-up banner - it prints the admin
        key and example addresses by design, local only - is blanked out by exact match (lines keep their numbers).
        """
        with self.log.open("rb") as log:
            first = 1 + log.read(since).count(b"\n") if since else 1
            text = log.read().decode("utf-8", "replace")
        return first, text.replace(self._banner, "\n" * self._banner.count("\n"), 1)

    def leaks(self, since: int = 0) -> list[Leak]:
        """Log lines (from byte `since`) that carry any value SENSITIVE knows, in any spelling."""
        first, text = self.log_text(since)
        hits = SENSITIVE.find(text)
        if not hits:
            return []
        starts = [0] + [newline.end() for newline in re.finditer("\n", text)]
        lines = text.split("\n")
        by_line: dict[int, dict[str, str]] = {}
        for offset, spelling, kind in hits:
            by_line.setdefault(bisect.bisect_right(starts, offset) - 1, {})[spelling] = kind
        return [Leak(first + index, lines[index], found) for index, found in sorted(by_line.items())]


def _remember_item(item: dict[str, Any]) -> None:
    """A DynamoDB item (typed JSON): `digest` (token hashes) and `secret` (page, CAPTCHA) values, and addresses."""

    def walk(node: Any, key: str | None) -> None:
        if isinstance(node, dict):
            if set(node) == {"S"}:
                value = node["S"]
                if key == "digest":
                    SENSITIVE.add_credential("stored token hash", value)
                elif key == "secret":
                    SENSITIVE.add_credential("stored form or CAPTCHA secret", value)
                else:
                    SENSITIVE.add_addresses(value)
                return
            for name, value in node.items():
                walk(value, key if name in ("M", "L") else name)
        elif isinstance(node, list):
            for value in node:
                walk(value, key)

    walk(item, None)


@pytest.fixture(scope="session")
def stack(sensitive_values: Sensitive) -> Iterator[Stack]:
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
        running = Stack(url, log, state)
        running.remember_stored()
        sensitive_values.url = url
        sensitive_values.before_channel_change = lambda: running.remember_stored(suppressions=False)
        yield running
        running.remember_stored()
    finally:
        sensitive_values.url = sensitive_values.before_channel_change = None
        stop(process)
    # Every function ran as its own IAM role with moto enforcing it: a denial anywhere means template.yaml lacks
    # a grant the code uses (a handler may have turned it into a 5xx or a degraded answer that a test accepted).
    denials = [line for line in log.read_text().splitlines() if line.startswith("local IAM: denied")]
    assert not denials, f"IAM denied calls on the local stack: {denials[:5]}"
    # No token, key, secret, hash, submitted address or submitted text in any line the session's stack wrote (the
    # whole log, the gateway's and the stand-ins' lines too; only the start-up banner is exempt).
    leaks = running.leaks()
    if leaks:
        shown = "\n".join(str(leak) for leak in leaks[:20])
        pytest.fail(f"sensitive values in the local stack's log {log} (values redacted here):\n{shown}", pytrace=False)


def stop(process: subprocess.Popen) -> None:
    """Stop a local stack as Ctrl-C does (it stops its worker pools and servers), killing it if it hangs."""
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
