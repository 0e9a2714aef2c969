"""`python -m local` (what `make run` starts): embedded AWS + the API on http://127.0.0.1:${PORT:-3000}."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
from pathlib import Path

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local import iam
from local.aws import LocalAws, MotoServer, function_environment, provision
from local.demo import DEMO_FORM, DemoSite, create_demo_channel
from local.faults import Faults
from local.gateway import FunctionPools, Gateway
from local.mailgun import MailgunStandIn
from local.outbox import Outbox
from local.provider_events import LocalEmitter
from local.ses import ServiceSimulation
from local.template import ROOT, Template


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def close_circuits(local: LocalAws) -> None:
    """Forget circuit-breaker state, so that changed faults show at the very next request."""
    table = local.client("dynamodb")
    for page in table.get_paginator("scan").paginate(TableName=local.refs["RateTable"]):
        for item in page["Items"]:
            if item["key"]["S"].startswith(("circuit#", "failures#")):
                table.delete_item(TableName=local.refs["RateTable"], Key={"key": item["key"]})


def local_routes(outbox: Outbox, faults: Faults, local: LocalAws, demo: list[DemoSite]):
    """Routes that exist only in the local stack (never deployed)."""

    def handle(request: Request) -> Response | None:
        for site in demo:
            page = site.handle(request)
            if page is not None:
                return page
        if request.path == "/_local/faults":
            if request.method == "GET":
                return _json(faults.get())
            if request.method == "PUT":
                try:
                    state = faults.replace(json.loads(request.get_data() or b"{}"))
                except ValueError as exc:
                    return _json({"error": "invalid_faults", "message": str(exc)}, 400)
                close_circuits(local)
                return _json(state)
            return _json({"error": "method_not_allowed", "message": "GET or PUT"}, 405)
        if request.path == "/_local/outbox":
            if request.method == "GET":
                return _json({"messages": outbox.messages()})
            if request.method == "DELETE":
                outbox.clear()
                return Response(status=204)
            return _json({"error": "method_not_allowed", "message": "GET or DELETE"}, 405)
        return None

    return handle


STATE_FILE = ROOT / ".mailrelay" / "local-stack.json"


def state_path() -> Path:
    """Where the running stack describes itself (`python -m local env-vars` / `invoke` read it)."""
    return Path(os.environ.get("MAILRELAY_LOCAL_STATE") or STATE_FILE)


def write_state(url: str, local: LocalAws, admin_key: str, environments: dict[str, dict[str, str]]) -> Path:
    """The running stack's address, embedded AWS endpoint, admin key and each function's environment (local only:
    the file holds the local admin key and the functions' local credentials; it is removed when the stack stops)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"api_url": url, "aws_endpoint": local.endpoint, "admin_key": admin_key, "functions": environments}
    path.write_text(json.dumps(state, indent=2, sort_keys=True))
    path.chmod(0o600)
    return path


def banner(url: str, admin_key: str, domain: str, generated: bool) -> str:
    key_note = (
        "generated for this run; set MAILRELAY_ADMIN_KEY to choose one" if generated else "from MAILRELAY_ADMIN_KEY"
    )
    return f"""
mailrelay local stack: {url}
  admin key:  {admin_key}   ({key_note})
  sender domain verified in the local SES: {domain}
  demo contact form: {url}/   (channel "{DEMO_FORM}")
  API docs:   {url}/v1/docs      outbox: {url}/_local/outbox      faults: {url}/_local/faults

Try it:
  curl -s -X PUT {url}/v1/channels/website \\
    -H "Authorization: Bearer {admin_key}" -H "Content-Type: application/json" \\
    -d '{{"sender": "noreply@{domain}", "recipients": ["team@{domain}"], "min_period": 1}}'
  # copy the "token" from the answer, then:
  curl -s -X POST {url}/v1/messages -H "X-Descriptor: website" -H "X-Token: <token>" \\
    -H "Content-Type: application/json" -d '{{"subject": "Hello", "text": "It works."}}'
  curl -s {url}/_local/outbox

Ctrl-C stops everything.
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["env-vars"], ["invoke"]):  # tools for the running stack (local/invoke.py)
        from local import invoke

        return invoke.main(argv)
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("LOCAL_WORKERS", "2")),
        help="worker processes (warm Lambda containers) per function",
    )
    parser.add_argument("--warm-all", action="store_true", help="start every worker before serving (tests)")
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter, as `sam deploy --parameter-overrides` sets it (repeatable)",
    )
    args = parser.parse_args(argv)
    template = Template()
    overrides = dict(item.partition("=")[::2] for item in args.parameter)
    unknown = sorted(set(overrides) - set(template.doc.get("Parameters", {})))
    if unknown:
        parser.error(f"template.yaml has no parameter {', '.join(unknown)}")

    admin_key = os.environ.get("MAILRELAY_ADMIN_KEY") or ""
    generated = not admin_key
    admin_key = admin_key or secrets.token_urlsafe(32)
    domain = os.environ.get("MAILRELAY_LOCAL_SENDER_DOMAIN", "example.com")

    faults = Faults()
    emitter = LocalEmitter(signing_key=secrets.token_urlsafe(24))
    moto_server = MotoServer(faults=faults).start()
    mailgun = MailgunStandIn(
        api_key=secrets.token_urlsafe(24), faults=faults, domains=(domain,), on_sent=emitter.mailgun_sent
    ).start()
    local = provision(
        template,
        moto_server.endpoint,
        {"SenderDomain": domain, **overrides, "MailgunApiBaseUrl": mailgun.endpoint},
        admin_key,
        secret_values={
            "mailgun_api_key": mailgun.api_key,
            "mailgun_domain": domain,
            "mailgun_webhook_signing_key": emitter.signing_key,
        },
    )
    # Every function as its own IAM role, made from the template's policies, with moto's IAM checks on from here.
    roles = iam.provision_roles(template, local)
    local.credentials = iam.admin_environment(local)
    iam.enforce(local)
    iam.REPORTERS.append(lambda line: print(line, file=sys.stderr, flush=True))
    services = ServiceSimulation(template, moto_server.ses, local.client)
    services.refs = local.refs
    environments = {name: {**function_environment(template, name, local), **roles[name]} for name in template.functions}
    for environment in environments.values():  # workers read circuit state on every send: faults show at once
        environment["CIRCUIT_CACHE_SECONDS"] = "0"
    pools = FunctionPools(template, environments, args.workers)
    # One warm worker per function: no cold start for the first request. Like Lambda, more start on demand
    # (with a cold start) when requests overlap; tests start them all up front.
    pools.warm(per_function=None if args.warm_all else 1)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    demo: list[DemoSite] = []  # filled once the port is known
    gateway = Gateway(
        template, pools, local_routes=local_routes(Outbox(moto_server.endpoint, mailgun), faults, local, demo), log=log
    )
    httpd = make_server(args.host, args.port, gateway, threaded=True)
    url = f"http://{args.host}:{httpd.server_port}"
    demo.append(DemoSite(url, create_demo_channel(gateway, admin_key, url, domain)))
    emitter.api_url = url
    services.pools = pools

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    state = write_state(url, local, admin_key, pools.environments)
    print(banner(url, admin_key, domain, generated), flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        pools.shutdown()
        mailgun.stop()
        moto_server.stop()
        state.unlink(missing_ok=True)
        print("mailrelay local stack stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
