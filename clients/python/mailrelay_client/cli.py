"""The `mailrelay` command. Exit status: 0 success, 1 an API error (printed on stderr), 2 bad usage.

`mailrelay sendmail` (or this program installed as `sendmail`) reads an RFC 822 message on stdin like sendmail(8)
and relays it through the channel; there a temporary failure (no answer, 429, 5xx) exits 75 (EX_TEMPFAIL) so that
cron, Exim or any MTA keeps the message and retries instead of losing it.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

from mailrelay_client.client import Client, MailrelayError

EX_USAGE_ARGPARSE = 2
EX_TEMPFAIL = 75
CONFIG_FILES = ("/etc/mailrelay.conf", "~/.config/mailrelay.conf")
SETTINGS = ("MAILRELAY_URL", "MAILRELAY_ADMIN_KEY", "MAILRELAY_DESCRIPTOR", "MAILRELAY_TOKEN", "MAILRELAY_SIGV4")


class UsageError(Exception):
    pass


def _config_file_values() -> dict:
    """KEY=VALUE lines (MAILRELAY_*) from MAILRELAY_CONFIG or the usual places: cron and MTAs have no shell env."""
    values: dict = {}
    candidates = [os.environ["MAILRELAY_CONFIG"]] if os.environ.get("MAILRELAY_CONFIG") else list(CONFIG_FILES)
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if path.is_file():
            for line in path.read_text().splitlines():
                key, sep, value = line.strip().partition("=")
                if sep and key.strip() in SETTINGS and not line.lstrip().startswith("#"):
                    values.setdefault(key.strip(), value.strip().strip('"').strip("'"))
    return values


def _setting(args: argparse.Namespace, flag: str, name: str, file_values: dict) -> Optional[str]:
    return getattr(args, flag, None) or os.environ.get(name) or file_values.get(name)


def _client(args: argparse.Namespace) -> Client:
    values = _config_file_values()
    url = _setting(args, "url", "MAILRELAY_URL", values)
    if not url:
        raise UsageError("no API URL: give --url or set MAILRELAY_URL")
    sigv4_setting = os.environ.get("MAILRELAY_SIGV4") or values.get("MAILRELAY_SIGV4") or ""
    sigv4 = bool(args.sigv4) or sigv4_setting.lower() in ("1", "true", "yes")
    return Client(
        url,
        admin_key=_setting(args, "admin_key", "MAILRELAY_ADMIN_KEY", values),
        descriptor=_setting(args, "descriptor", "MAILRELAY_DESCRIPTOR", values),
        token=_setting(args, "token", "MAILRELAY_TOKEN", values),
        timeout=args.timeout,
        sigv4=sigv4,
    )


def _print(args: argparse.Namespace, raw: Any, human: str) -> None:
    print(json.dumps(raw, indent=2, sort_keys=True) if args.json else human)


def _channel_line(channel) -> str:
    recipients = ", ".join(r["email"] for r in channel.recipients)
    return f"{channel.descriptor}\t{channel.sender['email']} -> {recipients}\tmin_period={channel.min_period:g}s"


# ---------------------------------------------------------------- commands


def cmd_channels_put(args, client: Client) -> int:
    sender: Any = {"email": args.sender, "name": args.sender_name} if args.sender_name else args.sender
    channel = client.put_channel(
        args.name,
        sender=sender,
        recipients=args.to,
        cc=args.cc or [],
        bcc=args.bcc or [],
        min_period=args.min_period,
        max_size=args.max_size,
    )
    human = channel.token if channel.token else f"{channel.descriptor} replaced (token unchanged)"
    _print(args, channel.raw, human)
    for warning in channel.raw.get("warnings") or []:
        print(f"mailrelay: warning: {warning}", file=sys.stderr)
    return 0


def cmd_channels_list(args, client: Client) -> int:
    channels = list(client.iter_channels())
    _print(args, [c.raw for c in channels], "\n".join(_channel_line(c) for c in channels) or "(no channels)")
    return 0


def cmd_channels_get(args, client: Client) -> int:
    channel = client.get_channel(args.name)
    _print(args, channel.raw, json.dumps(channel.raw, indent=2, sort_keys=True))
    return 0


def cmd_channels_delete(args, client: Client) -> int:
    client.delete_channel(args.name)
    _print(args, {"deleted": args.name}, f"deleted {args.name}")
    return 0


def cmd_channels_rotate(args, client: Client) -> int:
    token = client.rotate_token(args.name, args.grace)
    _print(args, {"token": token}, token)
    return 0


def _read(path: str) -> str:
    return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")


def cmd_send(args, client: Client) -> int:
    text = args.text if args.text is not None else (_read(args.text_file) if args.text_file else None)
    html = _read(args.html_file) if args.html_file else None
    if text is None and html is None:
        raise UsageError("give --text, --text-file or --html-file")
    attachments = []
    for name in args.attach or []:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"--attach {name}: no such file")
        attachments.append(
            (path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        )
    status = client.send(
        subject=args.subject,
        text=text,
        html=html,
        reply_to=args.reply_to,
        attachments=attachments,
        idempotency_key=args.idempotency_key,
    )
    _print(args, status.raw, f"{status.id} {status.status} via {status.provider_used or '-'}")
    return 0


def cmd_sendmail(args, client: Client) -> int:
    message = sys.stdin.buffer.read()
    if not message.strip():
        raise UsageError("no message on standard input")
    status = client.send_raw(message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    if args.json:
        _print(args, status.raw, "")
    return 0


def cmd_suppressions(args, client: Client) -> int:
    if args.action == "list":
        items, cursor = [], None
        while True:
            page = client.list_suppressions(100, cursor)
            items += page.suppressions
            cursor = page.next_cursor
            if not cursor:
                break
        _print(
            args,
            [s.raw for s in items],
            "\n".join(f"{s.address}\t{s.reason}\t{s.source}\t{s.created_at}" for s in items) or "(none)",
        )
        return 0
    if not args.address:
        raise UsageError(f"suppressions {args.action} needs an ADDRESS")
    if args.action == "add":
        entry = client.add_suppression(args.address)
        _print(args, entry.raw, f"suppressed {entry.address}")
    else:
        client.remove_suppression(args.address)
        _print(args, {"removed": args.address}, f"removed {args.address}")
    return 0


def cmd_validate(args, client: Client) -> int:
    check = client.validate(args.address)
    lines = [f"{k}: {v}" for k, v in check.raw.items()]
    _print(args, check.raw, "\n".join(lines))
    return 0


def cmd_doctor(args, client: Client) -> int:
    report = client.doctor()
    lines = []
    for check in report["checks"]:
        line = f"{check['status'].upper():<4}  {check['name']}: {check['detail']}"
        if check.get("fix"):
            line += f"\n      -> {check['fix']}"
        lines.append(line)
    verdict = "this deployment can send" if report["ok"] else "this deployment cannot send as it is"
    _print(args, report, "\n".join([*lines, verdict]))
    return 0 if report["ok"] else 1


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailrelay",
        description="Talk to a mailrelay stack. Settings come from flags, MAILRELAY_* environment variables, or "
        "KEY=VALUE lines in $MAILRELAY_CONFIG, /etc/mailrelay.conf or ~/.config/mailrelay.conf.",
        epilog="Exit status: 0 success, 1 the API refused or failed (message on stderr), 2 bad usage; "
        "`sendmail` exits 75 on temporary failures so the caller retries; `doctor` exits 1 when a check fails.",
    )
    parser.add_argument("--url", help="API base URL (MAILRELAY_URL)")
    parser.add_argument("--admin-key", help="admin key (MAILRELAY_ADMIN_KEY)")
    parser.add_argument("--descriptor", help="channel name (MAILRELAY_DESCRIPTOR)")
    parser.add_argument("--token", help="channel token (MAILRELAY_TOKEN)")
    parser.add_argument("--sigv4", action="store_true", help="sign control calls with SigV4 (MAILRELAY_SIGV4=1)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    channels = commands.add_parser("channels", help="administer channels (admin key)")
    channel_commands = channels.add_subparsers(dest="channel_command", metavar="ACTION", required=True)
    put = channel_commands.add_parser("put", help="create or replace a channel; prints the new token")
    put.add_argument("name")
    put.add_argument("--sender", required=True, metavar="EMAIL", help="verified sender address")
    put.add_argument("--sender-name", metavar="NAME")
    put.add_argument("--to", required=True, nargs="+", metavar="EMAIL", help="recipients")
    put.add_argument("--cc", nargs="+", metavar="EMAIL")
    put.add_argument("--bcc", nargs="+", metavar="EMAIL")
    put.add_argument("--min-period", type=float, metavar="S", help="seconds between two accepted messages")
    put.add_argument("--max-size", type=int, metavar="BYTES", help="largest request body (default 5000000)")
    put.set_defaults(handler=cmd_channels_put)
    channel_commands.add_parser("list", help="list channels").set_defaults(handler=cmd_channels_list)
    get = channel_commands.add_parser("get", help="show one channel")
    get.add_argument("name")
    get.set_defaults(handler=cmd_channels_get)
    delete = channel_commands.add_parser("delete", help="delete a channel")
    delete.add_argument("name")
    delete.set_defaults(handler=cmd_channels_delete)
    rotate = channel_commands.add_parser("rotate", help="new token (printed); the old one stays valid --grace s")
    rotate.add_argument("name")
    rotate.add_argument("--grace", type=int, default=0, metavar="S")
    rotate.set_defaults(handler=cmd_channels_rotate)

    send = commands.add_parser("send", help="send a message through the channel")
    send.add_argument("--subject", required=True)
    body = send.add_mutually_exclusive_group()
    body.add_argument("--text", help="plain-text body")
    body.add_argument("--text-file", metavar="FILE", help="plain-text body from FILE (- for stdin)")
    send.add_argument("--html-file", metavar="FILE", help="HTML body from FILE")
    send.add_argument("--reply-to", metavar="EMAIL")
    send.add_argument("--attach", action="append", metavar="FILE", help="attach FILE (repeatable)")
    send.add_argument("--idempotency-key", metavar="KEY", help="send at most once per KEY (24 h)")
    send.set_defaults(handler=cmd_send)

    sendmail = commands.add_parser(
        "sendmail",
        help="relay an RFC 822 message from stdin, like sendmail(8)",
        description="Reads a whole message on stdin and relays it through the channel; the channel decides the "
        "recipients, so -t, -f, -F and RECIPIENTs are accepted and ignored.",
    )
    sendmail.add_argument("-t", action="store_true", help="(accepted; the channel decides the recipients)")
    sendmail.add_argument("-i", action="store_true", help="(accepted; a lone dot never ends the message)")
    sendmail.add_argument("-o", action="append", metavar="OPTION", help="(accepted: -oi, -oem, ...)")
    sendmail.add_argument("-f", "-r", dest="envelope_from", metavar="ADDR", help="(accepted; the channel's sender)")
    sendmail.add_argument("-F", dest="full_name", metavar="NAME", help="(accepted)")
    sendmail.add_argument("-B", dest="body_type", metavar="TYPE", help="(accepted)")
    sendmail.add_argument("recipients", nargs="*", metavar="RECIPIENT", help="(accepted)")
    sendmail.set_defaults(handler=cmd_sendmail)

    suppressions = commands.add_parser("suppressions", help="the suppression list (admin key)")
    suppressions.add_argument("action", choices=["list", "add", "remove"])
    suppressions.add_argument("address", nargs="?")
    suppressions.set_defaults(handler=cmd_suppressions)

    doctor = commands.add_parser("doctor", help="can this deployment really send? (admin key; exit 1 on a failure)")
    doctor.set_defaults(handler=cmd_doctor)

    validate = commands.add_parser("validate", help="check an address")
    validate.add_argument("address")
    validate.set_defaults(handler=cmd_validate)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if Path(sys.argv[0]).name == "sendmail" and argv[:1] != ["sendmail"]:
        argv = ["sendmail", *argv]  # installed as /usr/sbin/sendmail
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args, _client(args))
    except (UsageError, ValueError) as exc:
        print(f"mailrelay: {exc}", file=sys.stderr)
        return EX_USAGE_ARGPARSE
    except MailrelayError as exc:
        print(f"mailrelay: {exc.message} ({exc.status or 'no answer'} {exc.error})", file=sys.stderr)
        if args.command == "sendmail" and exc.temporary:
            return EX_TEMPFAIL
        return 1


if __name__ == "__main__":
    sys.exit(main())
