"""`python -m local invoke` / `python -m local env-vars`: one function against the running local stack.

Both read the state file `make run` writes (`MAILRELAY_LOCAL_STATE`, default `.mailrelay/local-stack.json`).

`invoke EVENT_FILE` (no Docker) picks the function as template.yaml does (HTTP: `routeKey`; SNS: the subscription to
the SES event topic; `--function` overrides), fills the samples' placeholders from the stack (admin key; a channel
token from rotating, or creating, the channel through the admin API; the events topic ARN; a Mailgun webhook signed
again with the key in the stack's secret) and runs the real handler in a child process whose environment is exactly
that function's environment from the state file (its own credentials).

`env-vars` writes `.mailrelay/env.json` for `sam local invoke --env-vars`. SAM CLI (1.170: `LocalLambdaRunner.
_make_env_vars`, `EnvironmentVariables.resolve`) merges the file's `Parameters` block and the function's block, but
sets only variables the function's template Environment (Globals included) declares: anything else, the `Parameters`
block's too, is dropped silently, and credentials and region come from the shell's AWS session. template.yaml must
not declare AWS_ENDPOINT_URL (deployed functions talk to AWS), so `env-vars` also writes `.mailrelay/env.template.yaml`
(the built template - its layer holds the dependencies - with absolute code paths and every variable of env.json
declared): `sam local invoke -t` it and each function gets its endpoint, region and credentials. A container cannot
reach the host's 127.0.0.1: `--docker-host` (default host.docker.internal) replaces 127.0.0.1/localhost in URLs; on
Linux without it, `--docker-host 127.0.0.1` and `sam local invoke --docker-network host`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import requests
import yaml

from local.demo import DEMO_FORM
from local.provider_events import mailgun_webhook
from local.template import ROOT, TEMPLATE, Template

EVENTS = ROOT / "events"
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
ADMIN_PLACEHOLDER = "REPLACE_WITH_ADMIN_KEY"
TOKEN_PLACEHOLDER = "REPLACE_WITH_CHANNEL_TOKEN"  # noqa: S105 (the samples' placeholder)
TOPIC_PLACEHOLDER = "REPLACE_WITH_SES_EVENTS_TOPIC_ARN"
NONCE_PLACEHOLDER, HASH_PLACEHOLDER = "REPLACE_WITH_NONCE", "REPLACE_WITH_SHA256_OF_NONCE_AND_SECRET"
_FORM_PATH = re.compile(r"^/v1/forms/([A-Za-z0-9._-]{1,64})$")
_LOOPBACK_URL = re.compile(r"^(https?://)(?:127\.0\.0\.1|localhost)(?=[:/]|$)")
# Runs in the child: the handler's logs go to stderr, its result (JSON) to the real stdout.
_CHILD = """
import json, os, sys
out = os.fdopen(os.dup(1), "w"); os.dup2(2, 1)
from local.gateway import LambdaContext
from local.template import Template, load_handler
function = Template().functions[sys.argv[1]]
result = load_handler(function)(json.load(sys.stdin), LambdaContext(function.logical_id, function.timeout))
json.dump(result, out); out.flush()
"""


def load_state() -> dict[str, Any]:
    from local.__main__ import state_path  # here, not at the top: local.__main__ dispatches to this module

    path = state_path()
    if not path.exists():
        raise SystemExit(f"no running local stack ({path} not found): start one with `make run`")
    return json.loads(path.read_text())


def infer_function(template: Template, event: dict[str, Any]) -> str:
    """The function template.yaml sends this event to (HTTP route, or the SES event topic's SNS subscription)."""
    if "routeKey" in event:
        method, _, path = event["routeKey"].partition(" ")
        found = template.match(method, path)
        if found is None:
            raise SystemExit(f"no route {event['routeKey']!r} in template.yaml")
        return found[0].function
    if (event.get("Records") or [{}])[0].get("EventSource") == "aws:sns":
        topic = template.ses_event_topic()
        subscribers = template.sns_subscribers(topic) if topic else []
        if subscribers:
            return subscribers[0]
    raise SystemExit("cannot tell which function takes this event: pass --function")


def channel_token(state: dict[str, Any], descriptor: str) -> str:
    """A fresh token for `descriptor`: rotate it when the channel exists, else create it (admin API)."""
    api, admin = state["api_url"], {"Authorization": f"Bearer {state['admin_key']}"}
    rotated = requests.post(f"{api}/v1/channels/{descriptor}/token", json={}, headers=admin, timeout=30)
    if rotated.status_code == 200:
        return rotated.json()["token"]
    demo = requests.get(f"{api}/v1/channels/{DEMO_FORM}", headers=admin, timeout=30)
    sender = demo.json()["sender"]["email"] if demo.ok else "noreply@example.com"  # at the verified domain
    domain = sender.split("@", 1)[1]
    body = {"sender": {"email": sender, "name": "mailrelay invoke"}, "recipients": [f"team@{domain}"]}
    created = requests.put(f"{api}/v1/channels/{descriptor}", json=body, headers=admin, timeout=30)
    if created.status_code not in (200, 201):
        raise SystemExit(f"could not create channel {descriptor!r}: {created.status_code} {created.text}")
    return created.json()["token"]


def form_descriptor(event: dict[str, Any]) -> str | None:
    """The form an event addresses (a submission, its preflight, or a nonce request), if any."""
    found = _FORM_PATH.match(event.get("rawPath", ""))
    if found:
        return found.group(1)
    return (event.get("queryStringParameters") or {}).get("form") if event.get("rawPath") == "/v1/nonce" else None


def form_ready(state: dict[str, Any], descriptor: str, origin: str | None) -> str:
    """Give the channel form settings that accept the event's Origin (creating the channel if need be) with a page
    secret of our own; returns that secret, so that a nonce's hash can be computed."""
    api, admin = state["api_url"], {"Authorization": f"Bearer {state['admin_key']}"}
    current = requests.get(f"{api}/v1/channels/{descriptor}", headers=admin, timeout=30)
    if current.status_code == 404:
        channel_token(state, descriptor)  # creates it
        current = requests.get(f"{api}/v1/channels/{descriptor}", headers=admin, timeout=30)
    channel = current.json()
    secret = secrets.token_urlsafe(24)
    spec = {key: channel[key] for key in ("sender", "recipients", "cc", "bcc", "min_period", "max_size")}
    spec["form"] = {"allowed_origins": [origin or "*"], "require_nonce": True, "secret": secret}
    replaced = requests.put(f"{api}/v1/channels/{descriptor}", json=spec, headers=admin, timeout=30)
    if replaced.status_code != 200:
        raise SystemExit(f"could not give {descriptor!r} form settings: {replaced.status_code} {replaced.text}")
    return secret


def nonce_and_hash(state: dict[str, Any], descriptor: str, origin: str | None, secret: str) -> tuple[str, str]:
    headers = {"Origin": origin} if origin else {}
    answer = requests.get(f"{state['api_url']}/v1/nonce", params={"form": descriptor}, headers=headers, timeout=30)
    if answer.status_code != 200:
        raise SystemExit(f"could not get a nonce for {descriptor!r}: {answer.status_code} {answer.text}")
    nonce = answer.json()["nonce"]
    return nonce, hashlib.sha256((nonce + secret).encode()).hexdigest()


def webhook_signing_key(env: dict[str, str]) -> str:
    """mailgun_webhook_signing_key from the relay secret in the embedded AWS, read with the function's credentials."""
    keys = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region_name", "endpoint_url")
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL")
    client = boto3.client("secretsmanager", **{k: env.get(n) or None for k, n in zip(keys, names, strict=True)})
    secret = json.loads(client.get_secret_value(SecretId=env["RELAY_SECRET_ID"])["SecretString"])
    if not secret.get("mailgun_webhook_signing_key"):
        raise SystemExit("the stack's secret holds no mailgun_webhook_signing_key: cannot sign the webhook")
    return secret["mailgun_webhook_signing_key"]


def _in_json(value: str) -> str:
    return json.dumps(value)[1:-1]  # escaped for a place inside a JSON string


def fill(event: dict[str, Any], state: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The event with the running stack's credentials in place of the samples' placeholders."""
    text = json.dumps(event)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if TOKEN_PLACEHOLDER in text:
        bearer = headers.get("authorization", "").partition(" ")[2]
        descriptor = headers.get("x-descriptor") or (bearer.split(":", 1)[0] if ":" in bearer else "website")
        text = text.replace(TOKEN_PLACEHOLDER, _in_json(channel_token(state, descriptor)))
    text = text.replace(ADMIN_PLACEHOLDER, _in_json(state["admin_key"]))
    text = text.replace(TOPIC_PLACEHOLDER, _in_json(env.get("SES_EVENTS_TOPIC_ARN", TOPIC_PLACEHOLDER)))
    event = json.loads(text)
    form = form_descriptor(event)
    if form:
        secret = form_ready(state, form, headers.get("origin"))
        event = fill_form(event, *nonce_and_hash(state, form, headers.get("origin"), secret))
    if event.get("body") and not event.get("isBase64Encoded"):
        try:
            body = json.loads(event["body"])
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("signature"), dict) and "event-data" in body:
            # Mailgun: a fresh timestamp and token (checked within 5 minutes, once each), signed with the stack's key
            event["body"] = json.dumps(mailgun_webhook(webhook_signing_key(env), body["event-data"]))
        for name in event.get("headers") or {}:
            if name.lower() == "content-length":
                event["headers"][name] = str(len(event["body"].encode()))
    return event


def fill_form(event: dict[str, Any], nonce: str, digest: str) -> dict[str, Any]:
    """Put a real nonce and its hash where the sample has placeholders (JSON or urlencoded, base64 or not)."""
    if not event.get("body"):
        return event
    body = base64.b64decode(event["body"]).decode() if event.get("isBase64Encoded") else event["body"]
    body = body.replace(NONCE_PLACEHOLDER, nonce).replace(HASH_PLACEHOLDER, digest)
    event["body"] = base64.b64encode(body.encode()).decode() if event.get("isBase64Encoded") else body
    return event


def run_handler(function: str, timeout: float, event: dict[str, Any], env: dict[str, str]) -> Any:
    """The real handler in a child process with exactly the function's environment (its logs go to stderr)."""
    try:
        child = subprocess.run(  # noqa: S603 (our own interpreter and code)
            [sys.executable, "-c", _CHILD, function],
            input=json.dumps(event),
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=timeout + 30,  # + start-up
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{function} did not finish within its Timeout ({timeout:g} s)") from None
    if child.returncode != 0:
        raise SystemExit(f"{function} raised (exit {child.returncode}); its traceback is above")
    return json.loads(child.stdout)


def readable(result: Any) -> Any:
    """The Lambda response with a JSON body decoded (for printing)."""
    if not isinstance(result, dict) or not isinstance(result.get("body"), str):
        return result
    body = base64.b64decode(result["body"]) if result.get("isBase64Encoded") else result["body"]
    try:
        return {**result, "body": json.loads(body)}
    except ValueError:
        return result


def invoke(args: argparse.Namespace) -> int:
    state, template = load_state(), Template()
    try:
        event = json.loads(Path(args.event).read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read the event {args.event}: {exc}") from None
    function = args.function or infer_function(template, event)
    if function not in state["functions"]:
        raise SystemExit(f"{function!r} is not a function of the running stack: {', '.join(state['functions'])}")
    env = state["functions"][function]
    event = fill(event, state, env)
    if args.print_event:
        print(json.dumps(event, indent=2))
        return 0
    print(f"invoking {function} with {args.event}", file=sys.stderr, flush=True)
    result = run_handler(function, template.functions[function].timeout, event, env)
    print(json.dumps(result if args.raw else readable(result), indent=2))
    return 0


def sam_template(variables: set[str], target: Path) -> Path:
    """The template `sam local invoke` should use: the built one, absolute code paths, `variables` declared."""
    base = BUILT_TEMPLATE if BUILT_TEMPLATE.exists() else TEMPLATE
    doc = Template(base).doc
    for resource in doc.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and "://" not in props[key]:
                props[key] = str((base.parent / props[key]).resolve())
    env = doc.setdefault("Globals", {}).setdefault("Function", {}).setdefault("Environment", {})
    declared = env.setdefault("Variables", {})
    declared.update({name: "" for name in sorted(variables - set(declared))})
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    return base


def _rel(path: Path) -> Path:
    path = path.resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def env_vars(args: argparse.Namespace) -> int:
    state, template = load_state(), Template()
    environments = {  # each function's whole local environment (SAM sets AWS_LAMBDA_* itself), URLs for Docker
        name: {
            k: _LOOPBACK_URL.sub(rf"\g<1>{args.docker_host}", v)
            for k, v in sorted(env.items())
            if not k.startswith("AWS_LAMBDA_")
        }
        for name, env in state["functions"].items()
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(environments, indent=2) + "\n")
    output.chmod(0o600)  # the local admin credentials of every function
    sam = output.with_name(f"{output.stem}.template.yaml")
    base = sam_template({key for env in environments.values() for key in env}, sam)
    print(f"wrote {_rel(output)} ({len(environments)} functions) and {_rel(sam)} (from {_rel(base)})")
    if set(Template(base).functions) != set(template.functions) or base != BUILT_TEMPLATE:
        print("  no current build: run `make sam-build` first (the layer needs its dependencies)")
    print("\nInvoke a function in Docker against this stack (the samples' REPLACE_WITH_* placeholders answer 401:")
    print("fill them with `python -m local invoke EVENT --print-event > .mailrelay/event.json`, then -e that file):")
    for path in sorted(EVENTS.glob("*.json")):
        try:
            function = infer_function(template, json.loads(path.read_text()))
        except SystemExit:
            continue
        print(f"  sam local invoke {function} -t {_rel(sam)} --env-vars {_rel(output)} -e {_rel(path)}")
    print(
        f"\n{args.docker_host} must reach this machine's loopback (Docker Desktop); where it cannot (Linux): "
        "`python -m local env-vars --docker-host 127.0.0.1` and `sam local invoke ... --docker-network host`"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description="Use the running local stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    env = commands.add_parser("env-vars", help="write a `sam local invoke --env-vars` file for this stack")
    env.add_argument("--output", default=str(ROOT / ".mailrelay" / "env.json"))
    env.add_argument("--docker-host", default="host.docker.internal", help="how a container reaches this machine")
    env.set_defaults(run=env_vars)
    run = commands.add_parser("invoke", help="run an event through its real handler (no Docker)")
    run.add_argument("event", help="an event file, e.g. events/relay-send-message.json")
    run.add_argument("--function", help="logical id (default: from the event and template.yaml)")
    run.add_argument("--raw", action="store_true", help="print the response as the handler returned it")
    run.add_argument("--print-event", action="store_true", help="print the filled-in event instead of invoking")
    run.set_defaults(run=invoke)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
