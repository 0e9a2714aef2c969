"""The Python client, the `mailrelay` command (as installed in the venv) and the Django backend, against the
running local stack over HTTP."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from mailrelay_client import Client, MailrelayError

from tests.e2e.conftest import ADMIN_KEY, Stack

MAILRELAY = str(Path(sys.executable).parent / "mailrelay")


def run(stack: Stack, *args: str, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "MAILRELAY_URL": stack.url,
        "MAILRELAY_ADMIN_KEY": ADMIN_KEY,
        "MAILRELAY_CONFIG": "/nonexistent",
        **env,
    }
    return subprocess.run([MAILRELAY, *args], input=stdin, capture_output=True, env=environment, timeout=60)


@pytest.fixture(scope="module")
def cli_channel(stack: Stack) -> dict:
    done = run(
        stack,
        "channels",
        "put",
        "cli",
        "--sender",
        "noreply@example.com",
        "--sender-name",
        "CLI",
        "--to",
        "ops@example.com",
        "--cc",
        "boss@example.com",
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.decode().strip()
    assert len(token) >= 43 and "\n" not in token
    return {"MAILRELAY_DESCRIPTOR": "cli", "MAILRELAY_TOKEN": token}


def test_cli_send_delivers(stack: Stack, cli_channel, tmp_path):
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    attachment = tmp_path / "report.csv"
    attachment.write_bytes(b"a,b\n1,2\n")
    html = tmp_path / "body.html"
    html.write_text("<p>hi</p>")
    done = run(
        stack,
        "send",
        "--subject",
        "From the CLI",
        "--text",
        "plain",
        "--html-file",
        str(html),
        "--reply-to",
        "me@example.org",
        "--attach",
        str(attachment),
        **cli_channel,
    )
    assert done.returncode == 0, done.stderr
    assert " sent via ses" in done.stdout.decode()
    [mail] = stack.outbox()
    assert (
        mail["subject"] == "From the CLI" and mail["to"] == ["ops@example.com"] and mail["cc"] == ["boss@example.com"]
    )
    assert mail["html"].strip() == "<p>hi</p>" and mail["reply_to"] == "me@example.org"
    assert mail["attachments"] == [{"filename": "report.csv", "content_type": "text/csv", "size": 8}]


def test_cli_sendmail_mode_relays_stdin_to_the_channel(stack: Stack, cli_channel):
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    done = run(
        stack,
        "sendmail",
        "-t",
        "-i",
        "-oi",
        "-f",
        "cron@host",
        "someone@else.example",
        stdin=b"Subject: hi\n\nbody\n",
        **cli_channel,
    )
    assert done.returncode == 0, done.stderr
    [mail] = stack.outbox()
    assert mail["subject"] == "hi" and mail["text"].strip() == "body"
    assert mail["to"] == ["ops@example.com"] and "else.example" not in mail["raw"]


def test_cli_as_sendmail_binary_name(stack: Stack, cli_channel, tmp_path):
    link = tmp_path / "sendmail"
    link.symlink_to(MAILRELAY)
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    environment = {**os.environ, "MAILRELAY_URL": stack.url, "MAILRELAY_CONFIG": "/nonexistent", **cli_channel}
    done = subprocess.run(
        [str(link), "-t", "-i"], input=b"Subject: via link\n\nx\n", capture_output=True, env=environment, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [m["subject"] for m in stack.outbox()] == ["via link"]


def test_cli_config_file(stack: Stack, cli_channel, tmp_path):
    config = tmp_path / "mailrelay.conf"
    config.write_text(
        f"# for cron\nMAILRELAY_URL={stack.url}\nMAILRELAY_DESCRIPTOR=cli\n"
        f"MAILRELAY_TOKEN={cli_channel['MAILRELAY_TOKEN']}\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILRELAY_")}
    done = subprocess.run(
        [MAILRELAY, "sendmail"],
        input=b"Subject: conf\n\nx\n",
        capture_output=True,
        env={**environment, "MAILRELAY_CONFIG": str(config)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_cli_errors_and_exit_codes(stack: Stack, cli_channel):
    wrong = run(
        stack,
        "send",
        "--subject",
        "x",
        "--text",
        "y",
        MAILRELAY_DESCRIPTOR="cli",
        MAILRELAY_TOKEN="wrong-token-0123456789",
    )
    assert wrong.returncode == 1 and b"invalid channel credentials" in wrong.stderr and wrong.stdout == b""
    assert run(stack, "send", "--text", "no subject").returncode == 2
    assert run(stack, "frobnicate").returncode == 2
    assert run(stack, "send", "--subject", "x", **cli_channel).returncode == 2  # no body
    no_url = subprocess.run(
        [MAILRELAY, "channels", "list"],
        capture_output=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "MAILRELAY_CONFIG": "/nonexistent"},
    )
    assert no_url.returncode == 2 and b"MAILRELAY_URL" in no_url.stderr
    helped = run(stack, "sendmail", "--help")
    assert helped.returncode == 0 and b"RECIPIENT" in helped.stdout


def test_cli_sendmail_temporary_failure_is_ex_tempfail(stack: Stack, cli_channel):
    requests.put(f"{stack.url}/_local/faults", json={"ses": "down", "mailgun": "down"}, timeout=30)
    try:
        done = run(stack, "sendmail", stdin=b"Subject: later\n\nx\n", **cli_channel)
    finally:
        requests.put(f"{stack.url}/_local/faults", json={}, timeout=30)
    assert done.returncode == 75 and b"all_providers_failed" in done.stderr


def test_cli_admin_commands_and_json(stack: Stack, cli_channel):
    listed = run(stack, "--json", "channels", "list")
    assert listed.returncode == 0 and "cli" in {c["descriptor"] for c in __import__("json").loads(listed.stdout)}
    assert b"token" not in run(stack, "channels", "get", "cli").stdout
    assert run(stack, "suppressions", "add", "gone@example.com").returncode == 0
    assert b"gone@example.com" in run(stack, "suppressions", "list").stdout
    assert run(stack, "suppressions", "remove", "gone@example.com").returncode == 0
    assert run(stack, "suppressions", "remove", "gone@example.com").returncode == 1
    checked = run(stack, "--json", "validate", "info@example.com", **cli_channel)
    assert checked.returncode == 0 and b'"role_address": true' in checked.stdout
    run(stack, "channels", "put", "temp", "--sender", "noreply@example.com", "--to", "a@example.com")
    rotated = run(stack, "channels", "rotate", "temp", "--grace", "0")
    assert rotated.returncode == 0 and len(rotated.stdout.strip()) >= 43
    assert run(stack, "channels", "delete", "temp").returncode == 0
    assert run(stack, "channels", "delete", "temp").returncode == 1


def test_python_client(stack: Stack):
    admin = Client(stack.url, admin_key=ADMIN_KEY)
    created = admin.put_channel("py", sender="noreply@example.com", recipients=["team@example.com"], min_period=30)
    assert created.token and created.min_period == 30
    client = Client(stack.url, descriptor="py", token=created.token)
    status = client.send(
        subject="py", text="hello", attachments=[("a.txt", b"hi", "text/plain")], idempotency_key="py-1"
    )
    assert status.status == "sent" and status.providers[0].provider == "ses"
    assert (
        client.send(subject="py", text="hello", attachments=[("a.txt", b"hi", "text/plain")], idempotency_key="py-1").id
        == status.id
    )
    assert client.message_status(status.id).status == "sent"
    with pytest.raises(MailrelayError) as caught:
        client.send(subject="again", text="too soon")
    assert caught.value.status == 429 and caught.value.error == "rate_limited" and caught.value.temporary
    with pytest.raises(MailrelayError) as unauthorized:
        Client(stack.url, descriptor="py", token="x" * 20).message_status(status.id)
    assert unauthorized.value.status == 401 and not unauthorized.value.temporary
    assert "py" in {c.descriptor for c in admin.iter_channels()}
    assert admin.health() == {"status": "ok"}


def test_django_backend_sends_alternatives_and_attachments(stack: Stack):
    django = pytest.importorskip("django")
    from django.conf import settings

    token = (
        Client(stack.url, admin_key=ADMIN_KEY)
        .put_channel(
            "django", sender={"email": "noreply@example.com", "name": "Django"}, recipients=["team@example.com"]
        )
        .token
    )
    if not settings.configured:
        settings.configure(
            EMAIL_BACKEND="mailrelay_client.django.EmailBackend",
            MAILRELAY_URL=stack.url,
            MAILRELAY_DESCRIPTOR="django",
            MAILRELAY_TOKEN=token,
            DEFAULT_FROM_EMAIL="app@example.org",
        )
        django.setup()
    from django.core import mail

    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    message = mail.EmailMultiAlternatives(
        "Welcome", "plain body", to=["user@example.org"], reply_to=["support@example.org"]
    )
    message.attach_alternative("<p>html body</p>", "text/html")
    message.attach("terms.pdf", b"%PDF-1.4 fake", "application/pdf")
    assert message.send() == 1
    assert mail.send_mail("Second", "body", None, ["x@example.org"]) == 1
    first, second = stack.outbox()
    assert first["subject"] == "Welcome" and first["from"] == "Django <noreply@example.com>"
    assert first["to"] == ["team@example.com"] and first["reply_to"] == "support@example.org"
    assert first["text"].strip() == "plain body" and first["html"].strip() == "<p>html body</p>"
    assert first["attachments"] == [{"filename": "terms.pdf", "content_type": "application/pdf", "size": 13}]
    assert second["subject"] == "Second"

    from mailrelay_client.django import EmailBackend

    broken = EmailBackend(fail_silently=True, token="wrong-token-0123456789")
    assert broken.send_messages([mail.EmailMessage("x", "y", to=["a@example.org"])]) == 0
    with pytest.raises(MailrelayError):
        EmailBackend(token="wrong-token-0123456789").send_messages([mail.EmailMessage("x", "y", to=["a@example.org"])])
