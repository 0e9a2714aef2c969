"""A bounded load run (loopback only): JSON sends and contact-form submissions against several channels and forms at
once, on the session's local stack (real HTTP, 4 worker processes per function, one moto server behind them).

What runs, after a warm-up (Load.warm_up: each worker's first request loads modules; those cold starts are not what
is measured here, and their answers are printed, not asserted): THREADS client threads (started RAMP_S apart) for
RUN_SECONDS of traffic, each cycling through every target (so every channel has several concurrent senders at any
moment) and sending as fast as its answers come back:
- four relay channels, `min_period` 0, 0, 1.5 and 2 s: `POST /v1/messages` (JSON);
- two form channels (nonce + hash required): one with `min_period` 0 but `per_ip_min_period` 2 s, one with
  `min_period` 1.5 s. Each visit fetches its own nonce (`GET /v1/nonce`) and posts it as JSON (200) or as a plain
  form post with `_next` (303, never followed). Visitors come from 32 loopback addresses 127.77.0.x (nonces are
  limited per IP and minute, and 127.0.0.1's allowance belongs to the other e2e tests); where only 127.0.0.1 can be
  bound (macOS), the forms are left out and the summary says so. At most WORKERS nonce requests are in flight: the
  local gateway queues what its worker pool cannot take and counts the wait against the function's Timeout
  (NonceFunction: 5 s), where Lambda would start another container.
- one request in eight is meant to be refused or dropped, each kind with the one answer the contract gives it: a
  wrong token (401 `unauthorized`), an unknown body field (422 `validation_error`), a wrong nonce hash or a replayed
  nonce (403 `nonce_invalid`), an Origin not allowed (403 `origin_not_allowed`), a filled honeypot (200 and nothing
  sent).

What is asserted (all problems are collected and reported together):
1. Every answer has a status the contract gives that request: no 5xx, no transport error, no status outside its
   kind's set; a 429 (rate limit, on a send or on a nonce) carries `Retry-After` in whole seconds, at least 1 and at
   most the limit's period rounded up (60 for the nonces' per-minute window); JSON errors carry their `error` code.
2. Every accepted message (200/303 of a send) is in the local outbox exactly once, found by the unique marker in its
   subject, with the id the API returned in its `X-Mailrelay-Id` header and the channel's recipient; no other mail of
   this run is there: nothing of a refused request, of a honeypot post, no duplicate.
3. Each `min_period` (per channel, and per form and visitor IP) held. The server decides with one `time.time()` read
   `t` per message (mailrelay.domain.delivery.deliver): it takes the slot only when the slot's `next_at <= t` and
   then sets `next_at = t + P` (stored with microseconds), so any two accepted messages of one key are at least P
   (less a microsecond of rounding) apart in server time. The client reads the same machine's same clock
   (`time.time()`) just before sending and after the whole answer arrived, so each accepted message's `t` lies in
   its request window [start, end]. Hence for any k accepted requests of one key whose windows all lie inside one
   interval [a, b]: (k - 1) * P <= b - a. The test checks this for every a (a window's start) and b (a window's end),
   k = 2 being "two accepted requests both entirely inside one P-window". A failure is a proven violation, never
   noise from slow requests (slow requests only make windows wider, which weakens the check but cannot trip it);
   only a step of the machine's wall clock during the run could.
4. Liveness and contention: every valid send to a `min_period` 0 channel is accepted; each target accepts at least
   two messages; each channel with a `min_period` also refused some (else the check of 3 proved nothing).

The figures (requests, accepted, refused by status, duration, throughput) are printed (`pytest -s`); speed is not
asserted. The run's channels are deleted and the outbox cleared afterwards (the other e2e tests clear it first too).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from tests.e2e.conftest import Stack
from tools.bench import FromAddress

RUN_SECONDS = 20.0
THREADS = 16
# thread i starts i * RAMP_S after the first, so that the run's first requests do not all land at once
RAMP_S = 0.1
WORKERS = 4  # conftest.py starts 4 worker processes ("Lambda containers") per function
WARM_S = 20.0  # the longest the stack may take to get warm (see Load.warm_up)
BAD_EVERY = 8  # one request in eight is meant to be refused (or, for the honeypot, dropped)
VISITOR_IPS = [f"127.77.0.{n}" for n in range(1, 33)]
SECRET = "load-page-secret-0123456789"
ORIGIN = "https://www.example.com"
RECIPIENTS = ["team@example.com"]
ROUNDING_S = 1e-5  # the rate table stores times with microseconds; a margin of ten
NONCE_WINDOW_S = 60  # nonces are counted per IP in windows of a minute
SUBJECT = re.compile(r"^load (\S+)$")
MAILRELAY_ID = re.compile(r"^X-Mailrelay-Id:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Target:
    suffix: str
    min_period: float = 0.0
    form: bool = False
    per_ip: float = 0.0  # the form's per_ip_min_period

    @property
    def limited(self) -> bool:
        return self.min_period > 0 or self.per_ip > 0


TARGETS = (
    Target("p0-a"),
    Target("p0-b"),
    Target("p1.5", min_period=1.5),
    Target("p2", min_period=2.0),
    Target("form-ip2", form=True, per_ip=2.0),
    Target("form-p1.5", min_period=1.5, form=True),
)


@dataclass
class Call:
    """One HTTP request of the run and its answer."""

    target: Target
    kind: str  # send, nonce, form_json, form_plain, or a kind meant to be refused (see the module docstring)
    marker: str  # unique per message attempt (a visit's nonce request shares its post's marker)
    allowed: frozenset[int]  # the statuses the contract gives this request
    sends: bool  # whether a 200/303 answer means that a message went out
    ip: str | None = None
    code: str | None = None  # the `error` code a refusal must carry
    next_url: str | None = None
    started: float = 0.0
    ended: float = 0.0
    status: int = 0  # 0: no answer (transport error, in `failure`)
    failure: str | None = None
    text: str = ""  # the start of the body of an answer with a status outside `allowed`
    error: str | None = None
    retry_after: str | None = None
    message_id: str | None = None
    location: str | None = None

    @property
    def accepted(self) -> bool:
        return self.sends and self.status in (200, 303)

    def run(self, request: Callable[[], requests.Response]) -> requests.Response | None:
        self.started = time.time()  # the server's clock: see 3. in the module docstring
        try:
            response = request()  # not streamed: the whole body is read before this returns
        except requests.RequestException as exc:
            self.ended = time.time()
            self.failure = f"{type(exc).__name__}: {exc}"
            return None
        self.ended = time.time()
        self.status = response.status_code
        self.retry_after = response.headers.get("Retry-After")
        self.location = response.headers.get("Location")
        if self.status not in self.allowed:
            self.text = response.text[:200]
        if response.headers.get("Content-Type", "").startswith("application/json"):
            try:
                body = response.json()
            except ValueError:
                body, self.text = None, f"not JSON: {response.text[:200]}"
            self.error = body.get("error") if isinstance(body, dict) else None
            if self.status == 200 and isinstance(body, dict):
                self.message_id = body.get("id")
        return response


def session(source: str | None = None) -> requests.Session:
    made = requests.Session()
    made.trust_env = False  # no proxy from the environment: loopback only
    if source:
        made.mount("http://", FromAddress(source))
    return made


def distinct_loopback() -> bool:
    """Whether the OS routes all of 127/8 to loopback (Linux does; macOS has only 127.0.0.1 by default)."""
    with socket.socket() as probe:
        try:
            probe.bind((VISITOR_IPS[0], 0))
        except OSError:
            return False
    return True


class Load:
    def __init__(self, stack: Stack, run: str, targets: tuple[Target, ...], tokens: dict[Target, str]):
        self.stack = stack
        self.run = run
        self.targets = targets
        self.tokens = tokens
        self.stop = 0.0
        # Lambda runs as many containers as there are requests; the local gateway has WORKERS per function and lets
        # the others wait, counting the wait against the function's Timeout (NonceFunction's is 5 s). So that a busy
        # machine does not turn that local queue into timeouts, at most WORKERS nonce requests are in flight.
        self.nonce_slots = threading.BoundedSemaphore(WORKERS)

    def name(self, target: Target) -> str:
        return f"load-{self.run}-{target.suffix}"

    def warm_up(self) -> Counter[int]:
        """Requests of each kind the run makes, until the stack answers WORKERS of them at once; their statuses.

        A worker's first request loads the modules its route needs (mailrelay.lazy); on a busy machine that can take
        seconds - past NonceFunction's 5 s Timeout, whereupon the local gateway replaces that function's whole pool
        with cold workers and fails its other requests in flight with 500. Those cold starts are not what this test
        measures, so one function at a time (the relay's sends and form posts, then the nonces) gets rounds of 1, 2,
        then WORKERS concurrent requests (back to 1 after a failed round), until a round of WORKERS is answered 200 in
        full; at most WARM_S in all.
        The answers are printed, not asserted, and send nothing the outbox check counts (subjects "warm-up ...")."""
        plain = next(t for t in self.targets if not t.form and not t.limited)
        form = next((t for t in self.targets if t.form), None)
        form_name = self.name(form) if form else ""

        def ask(job: tuple[str, str | None]) -> int:
            kind, ip = job
            http = session(ip)  # one each: a Session is not meant to be shared by threads
            origin = {"Origin": ORIGIN}
            try:
                if kind == "send":
                    headers = {"X-Descriptor": self.name(plain), "X-Token": self.tokens[plain]}
                    body = {"subject": f"warm-up {self.run}", "text": "warm-up"}
                    answer = http.post(f"{self.stack.url}/v1/messages", json=body, headers=headers, timeout=60)
                elif kind == "nonce":
                    params = {"form": form_name}
                    answer = http.get(f"{self.stack.url}/v1/nonce", params=params, headers=origin, timeout=60)
                else:  # a filled honeypot: the form's code path, nothing sent, no nonce needed
                    body = {"email": "bot@example.org", "message": "warm-up", "_gotcha": "bot"}
                    url = f"{self.stack.url}/v1/forms/{form_name}"
                    answer = http.post(url, json=body, headers=origin, timeout=60, allow_redirects=False)
            except requests.RequestException:
                return 0
            finally:
                http.close()
            return answer.status_code

        statuses: Counter[int] = Counter()
        deadline = time.monotonic() + WARM_S
        groups = [("send", "honeypot"), ("nonce",)] if form else [("send",)]
        with ThreadPoolExecutor(max_workers=2 * WORKERS) as pool:
            for kinds in groups:
                width = 1
                while True:
                    # warm-up visitors have addresses of their own (a nonce each per round: far below 20 a minute)
                    jobs = [(kind, f"127.77.1.{k + 1}" if form else None) for k in range(width) for kind in kinds]
                    answers = list(pool.map(ask, jobs))
                    statuses.update(answers)
                    if all(status == 200 for status in answers):
                        if width == WORKERS:
                            break
                        width = min(2 * width, WORKERS)
                    else:
                        width = 1  # a timeout replaced the pool: its new workers start one at a time again
                    assert time.monotonic() < deadline, f"the stack was not warm after {WARM_S:g} s: {dict(statuses)}"
        return statuses

    def go(self) -> list[Call]:
        self.stop = time.monotonic() + RUN_SECONDS
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            return [call for calls in pool.map(self.worker, range(THREADS)) for call in calls]

    def worker(self, thread: int) -> list[Call]:
        time.sleep(thread * RAMP_S)
        rng = random.Random(thread)
        calls: list[Call] = []
        own = session()
        visitors: dict[str, requests.Session] = {}
        used: dict[Target, dict[str, str]] = {}  # a form's fields whose nonce this thread saw accepted
        n = 0
        while time.monotonic() < self.stop:
            target = self.targets[(thread + n) % len(self.targets)]
            marker = f"{self.run}-{thread}-{n}"
            bad = n % BAD_EVERY == BAD_EVERY - 1
            if target.form:
                ip = rng.choice(VISITOR_IPS)
                if ip not in visitors:
                    visitors[ip] = session(ip)
                kinds = ("wrong_hash", "replayed_nonce", "bad_origin", "honeypot")
                kind = kinds[n // BAD_EVERY % len(kinds)] if bad else rng.choice(("form_json", "form_plain"))
                calls += self.visit(visitors[ip], ip, target, marker, kind, used)
            else:
                kind = ("wrong_token", "unknown_field")[n // BAD_EVERY % 2] if bad else "send"
                calls.append(self.send(own, target, marker, kind))
            n += 1
        return calls

    def send(self, http: requests.Session, target: Target, marker: str, kind: str) -> Call:
        token = "x" * 43 if kind == "wrong_token" else self.tokens[target]
        body: dict[str, Any] = {"subject": f"load {marker}", "text": f"load test message {marker}"}
        if kind == "unknown_field":
            body["to"] = ["someone@example.org"]  # the channel decides the recipients: refused, never ignored
        allowed, code = {
            "send": ({200, 429} if target.limited else {200}, None),
            "wrong_token": ({401}, "unauthorized"),
            "unknown_field": ({422}, "validation_error"),
        }[kind]
        call = Call(target, kind, marker, frozenset(allowed), sends=True, code=code)
        headers = {"X-Descriptor": self.name(target), "X-Token": token}
        url = f"{self.stack.url}/v1/messages"
        call.run(lambda: http.post(url, json=body, headers=headers, timeout=60, allow_redirects=False))
        return call

    def visit(
        self,
        http: requests.Session,
        ip: str,
        target: Target,
        marker: str,
        kind: str,
        used: dict[Target, dict[str, str]],
    ) -> list[Call]:
        """One visitor: a fresh nonce (unless the kind needs none), then the post."""
        form = self.name(target)
        calls: list[Call] = []
        fields = {"email": "visitor@example.org", "name": "Load", "subject": f"load {marker}", "message": marker}
        if kind == "replayed_nonce" and target not in used:
            kind = "wrong_hash"  # nothing to replay yet
        if kind == "replayed_nonce":
            fields |= {k: used[target][k] for k in ("nonce", "hash")}
        elif kind == "bad_origin":
            fields |= {"nonce": "n" * 32, "hash": "0" * 64}  # the Origin is refused before the nonce is looked at
        else:
            nonce = Call(target, "nonce", marker, frozenset({200, 429}), sends=False, ip=ip)
            calls.append(nonce)
            url = f"{self.stack.url}/v1/nonce"
            with self.nonce_slots:
                issued = nonce.run(lambda: http.get(url, params={"form": form}, headers={"Origin": ORIGIN}, timeout=60))
            if issued is None or nonce.status != 200:
                return calls
            value = issued.json()["nonce"]
            secret = "not-the-secret" if kind == "wrong_hash" else SECRET
            fields |= {"nonce": value, "hash": hashlib.sha256((value + secret).encode()).hexdigest()}
        limited = {429} if target.limited else set()
        allowed, code, sends = {
            "form_json": ({200} | limited, None, True),
            "form_plain": ({303} | limited, None, True),
            "wrong_hash": ({403}, "nonce_invalid", True),
            "replayed_nonce": ({403}, "nonce_invalid", True),
            "bad_origin": ({403}, "origin_not_allowed", True),
            "honeypot": ({200}, None, False),
        }[kind]
        post = Call(target, kind, marker, frozenset(allowed), sends=sends, ip=ip, code=code)
        calls.append(post)
        headers = {"Origin": "https://evil.example.net" if kind == "bad_origin" else ORIGIN}
        url = f"{self.stack.url}/v1/forms/{form}"
        if kind == "form_plain":
            post.next_url = f"{ORIGIN}/thanks/{marker}"
            data = {**fields, "_next": post.next_url}
            # never follow the 303: its Location is not on this machine
            post.run(lambda: http.post(url, data=data, headers=headers, timeout=60, allow_redirects=False))
        else:
            if kind == "honeypot":
                fields["_gotcha"] = "a bot filled this"
            post.run(lambda: http.post(url, json=fields, headers=headers, timeout=60, allow_redirects=False))
        if post.accepted:
            used[target] = fields
        return calls


def answer_problems(calls: list[Call]) -> list[str]:
    """1. of the module docstring: every status one the contract gives that request, and its details."""
    problems = []
    for call in calls:
        what = f"{call.kind} {call.marker} on {call.target.suffix}"
        if call.failure:
            problems.append(f"{what}: no answer: {call.failure}")
            continue
        if call.status not in call.allowed or call.text.startswith("not JSON"):
            problems.append(f"{what}: status {call.status}, expected one of {sorted(call.allowed)}: {call.text!r}")
            continue
        if call.status == 429:
            period = NONCE_WINDOW_S if call.kind == "nonce" else max(call.target.min_period, call.target.per_ip)
            ok = call.retry_after is not None and call.retry_after.isdigit()
            if not ok or not 1 <= int(call.retry_after) <= math.ceil(period):
                problems.append(f"{what}: 429 with Retry-After {call.retry_after!r}, expected 1..{math.ceil(period)}")
            json_answer = call.kind != "form_plain"  # a plain form post's refusal is an HTML page
            if json_answer and call.error != "rate_limited":
                problems.append(f"{what}: 429 with error {call.error!r}")
        elif call.code is not None and call.error != call.code:
            problems.append(f"{what}: {call.status} with error {call.error!r}, expected {call.code!r}")
        if call.status == 303 and call.location != call.next_url:
            problems.append(f"{what}: 303 to {call.location!r}, expected {call.next_url!r}")
        if call.accepted and call.kind in ("send", "form_json") and not call.message_id:
            problems.append(f"{what}: accepted without an id")
    return problems


def outbox_problems(calls: list[Call], mails: list[dict]) -> list[str]:
    """2. of the module docstring: every accepted message in the outbox exactly once, nothing else of this run."""
    problems = []
    accepted = {call.marker: call for call in calls if call.accepted}
    attempted = {call.marker for call in calls if call.kind != "nonce"}
    seen: Counter[str] = Counter()
    for mail in mails:
        found = SUBJECT.match(mail["subject"])
        marker = found.group(1) if found else None
        if marker is None:
            problems.append(f"a mail of this run with an unexpected subject: {mail['subject']!r}")
            continue
        seen[marker] += 1
        call = accepted.get(marker)
        if call is None:
            why = "refused or dropped" if marker in attempted else "never sent"
            problems.append(f"mail {marker} ({why} by the API) is in the outbox")
            continue
        header = MAILRELAY_ID.search(mail.get("raw") or "")
        if call.message_id and (header is None or header.group(1) != call.message_id):
            problems.append(f"mail {marker}: X-Mailrelay-Id {header and header.group(1)!r}, API said {call.message_id}")
        if mail["to"] != RECIPIENTS:
            problems.append(f"mail {marker} went to {mail['to']}, not the channel's {RECIPIENTS}")
    problems += [f"mail {marker} is in the outbox {count} times" for marker, count in seen.items() if count > 1]
    problems += [
        f"accepted {m} ({c.kind} on {c.target.suffix}) is not in the outbox"
        for m, c in accepted.items()
        if m not in seen
    ]
    return problems


def spacing_violation(windows: list[tuple[float, float, str]], period: float) -> str | None:
    """3. of the module docstring: the first k accepted requests whose windows fit inside [a, b] with
    (k - 1) * P > b - a, i.e. that the server cannot have accepted at least P apart; None when there are none."""
    windows = sorted(windows)
    least = period - ROUNDING_S
    for first, (a, _, _) in enumerate(windows):
        later = sorted(windows[first:], key=lambda w: w[1])  # all start at or after a; by end
        for k, (_, b, _) in enumerate(later, start=1):
            if (k - 1) * least > b - a:
                markers = ", ".join(w[2] for w in later[:k][:6])
                return f"{k} accepted within {b - a:.3f} s < {k - 1} x {period:g} s ({markers})"
    return None


def spacing_problems(calls: list[Call], targets: tuple[Target, ...], name: Callable[[Target], str]) -> list[str]:
    problems = []
    keys: dict[tuple[str, str], tuple[float, list[tuple[float, float, str]]]] = {}
    for target in targets:
        if target.min_period > 0:
            keys[(name(target), "channel")] = (target.min_period, [])
    for call in calls:
        if not call.accepted:
            continue
        window = (call.started, call.ended, call.marker)
        if call.target.min_period > 0:
            keys[(name(call.target), "channel")][1].append(window)
        if call.target.per_ip > 0:
            key = (name(call.target), f"visitor {call.ip}")
            keys.setdefault(key, (call.target.per_ip, []))[1].append(window)
    for (channel, scope), (period, windows) in sorted(keys.items()):
        violation = spacing_violation(windows, period)
        if violation:
            problems.append(f"{channel} ({scope}, min period {period:g} s): {violation}")
    return problems


def liveness_problems(calls: list[Call], targets: tuple[Target, ...]) -> list[str]:
    """4. of the module docstring."""
    problems = []
    for target in targets:
        mine = [call for call in calls if call.target == target]
        accepted = sum(call.accepted for call in mine)
        if accepted < 2:
            problems.append(f"{target.suffix}: only {accepted} accepted in {RUN_SECONDS:g} s")
        if target.min_period > 0 and not any(call.status == 429 and call.kind != "nonce" for call in mine):
            problems.append(f"{target.suffix}: no 429 at all - the senders never contended for its slot")
    return problems


def summary(calls: list[Call], targets: tuple[Target, ...], seconds: float, forms: bool) -> str:
    statuses = Counter(call.status for call in calls)
    accepted = sum(call.accepted for call in calls)
    refused = {status: count for status, count in sorted(statuses.items()) if status >= 400}
    lines = [
        f"load: {len(calls)} requests in {seconds:.1f} s ({len(calls) / seconds:.1f}/s) from {THREADS} threads; "
        f"{accepted} messages accepted ({accepted / seconds:.1f}/s); statuses {dict(sorted(statuses.items()))}; "
        f"refused by status {refused}" + ("" if forms else "; forms left out (only 127.0.0.1 can be bound here)")
    ]
    for target in targets:
        mine = [call for call in calls if call.target == target]
        by_kind = Counter(f"{call.kind}:{call.status}" for call in mine)
        lines.append(
            f"  {target.suffix:10} min_period {target.min_period:g} s, per IP {target.per_ip:g} s: "
            f"{sum(c.accepted for c in mine)} accepted; {dict(sorted(by_kind.items()))}"
        )
    return "\n".join(lines)


def test_bounded_load_keeps_every_promise(stack: Stack):
    began = time.monotonic()
    run = uuid.uuid4().hex[:10]
    forms = distinct_loopback()
    targets = tuple(t for t in TARGETS if forms or not t.form)
    tokens: dict[Target, str] = {}
    load = Load(stack, run, targets, tokens)
    for target in targets:
        spec: dict[str, Any] = {"min_period": target.min_period}
        if target.form:
            spec["form"] = {
                "allowed_origins": [ORIGIN],
                "require_nonce": True,
                "secret": SECRET,
                "per_ip_min_period": target.per_ip,
            }
        tokens[target] = stack.create_channel(load.name(target), **spec)
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    try:
        warming = time.monotonic()
        warm = load.warm_up()
        started = time.monotonic()
        calls = load.go()
        seconds = time.monotonic() - started
        mails = [m for m in stack.outbox() if m["subject"].startswith(f"load {run}-")]
        read = time.monotonic() - started - seconds
    finally:
        for target in targets:
            requests.delete(f"{stack.url}/v1/channels/{load.name(target)}", headers=stack.admin, timeout=30)
        requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    print()
    warm_answers = dict(sorted(warm.items()))
    print(
        f"load: set-up {warming - began:.1f} s, warm-up {started - warming:.1f} s (answers {warm_answers}, not "
        f"asserted), run {seconds:.1f} s, outbox read {read:.1f} s"
    )
    print(summary(calls, targets, seconds, forms))

    problems = answer_problems(calls)
    problems += outbox_problems(calls, mails)
    problems += spacing_problems(calls, targets, load.name)
    problems += liveness_problems(calls, targets)
    print(f"load: the whole test took {time.monotonic() - began:.1f} s; {len(problems)} problems")
    assert not problems, f"{len(problems)} problems, the first 25:\n" + "\n".join(problems[:25])
