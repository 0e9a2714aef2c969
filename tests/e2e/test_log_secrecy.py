"""The classic leak paths, provoked against the running local stack and checked in its log right away.

conftest.py checks the whole log at the end of the session; these tests show a leak in the test that caused it. Each
takes a mark of the log, sends its requests - conftest's recorder notes every credential, address and text they
carry; the distinctive invalid values a test sends are added here - and fails on any line written since the mark
that carries one of them (in any spelling: as is, JSON-escaped, URL-encoded). A positive control in each test (the
line the request must log) proves that the log is read live, so that a clean result is not an empty one.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
import requests

from local.provider_events import mailgun_event, mailgun_webhook
from tests.e2e.conftest import SENSITIVE, Stack

ORIGIN = "https://leaks.example.com"


@pytest.fixture
def made(stack: Stack):
    """Names of the channels a test makes, deleted afterwards (the recorder snapshots their stored hashes first)."""
    names: list[str] = []
    yield names
    for name in names:
        requests.delete(f"{stack.url}/v1/channels/{name}", headers=stack.admin, timeout=30)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def address(prefix: str) -> str:
    return f"{unique(prefix)}@example.net"


def hostile(value: str, kind: str = "submitted invalid value") -> str:
    """A value a test sends that the recorder would not classify by itself (not an address, under no credential
    key): it must not be logged either."""
    SENSITIVE.add(kind, value)
    return value


def sent_id(stack: Stack, name: str, token: str) -> str:
    """A good send through the channel; its id, which its "message accepted" line carries (a positive control)."""
    sent = requests.post(
        f"{stack.url}/v1/messages",
        json={"subject": "control", "text": "control"},
        headers={"X-Descriptor": name, "X-Token": token},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    return sent.json()["id"]


def assert_no_leaks(stack: Stack, mark: int, what: str, control: str | None = None, known: str = "") -> None:
    """No line since `mark` carries a sensitive value; `control`, when given, must be in those lines."""
    _, text = stack.log_text(mark)
    if control is not None and control not in text:  # (no `assert ... in text`: pytest would print the text)
        pytest.fail(f"{control!r} was not logged: the stack log read is not the one the functions write")
    leaks = stack.leaks(since=mark)
    if leaks:
        pytest.fail(
            f"{what} put sensitive values in the stack log {stack.log} (redacted here){known}:\n"
            + "\n".join(str(leak) for leak in leaks)
        )


def test_validation_errors_never_log_the_submitted_values(stack: Stack, made: list[str]):
    """Bodies, paths and queries that break the schema, on control, suppression, validation and relay routes: each
    invalid value is distinctive, and pydantic's `input_value` (or the value itself) must reach no log line."""
    name = unique("leak-validation")
    made.append(name)
    token = stack.create_channel(name)
    mark = stack.log_mark()
    admin = stack.admin
    answers = [
        requests.put(
            f"{stack.url}/v1/channels/{unique('leak-invalid')}",
            json={
                "sender": {"email": address("sender"), "name": hostile(unique("Sender Name"))},
                "recipients": [address("recipient"), hostile(unique("not-an-address"))],
                "min_period": hostile(unique("soon")),
                "form": {"allowed_origins": [hostile(f"ftp://{unique('origin')}.example")], "secret": unique("s")},
                "colour": hostile(unique("extra-field")),
            },
            headers=admin,
            timeout=30,
        ),
        requests.put(
            f"{stack.url}/api/channel",
            json={"descriptor": hostile(unique("no spaces allowed")), "sender": address("relayery"), "recipients": []},
            headers=admin,
            timeout=30,
        ),
        requests.put(
            f"{stack.url}/v1/suppressions/{address('suppressed')}",
            json={"reason": hostile(unique("no-such-reason"))},
            headers=admin,
            timeout=30,
        ),
        requests.post(
            f"{stack.url}/v1/channels/{name}/token",
            json={"grace_seconds": hostile(unique("forever"))},
            headers=admin,
            timeout=30,
        ),
        requests.post(f"{stack.url}/v1/validation/{hostile(unique('no-at-sign'))}", headers=admin, timeout=30),
        requests.get(
            f"{stack.url}/v1/channels", params={"cursor": hostile(unique("cursor"))}, headers=admin, timeout=30
        ),
        requests.post(
            f"{stack.url}/v1/messages",
            json={
                "subject": hostile(unique("Subject of an invalid message")),
                "text": hostile(unique("text of an invalid message")),
                "reply_to": hostile(f"{unique('reply')}@@example.net"),
                "attachments": [{"filename": "a.txt", "content": hostile(unique("not base64!"))}],
            },
            headers={"X-Descriptor": name, "X-Token": token},
            timeout=30,
        ),
    ]
    assert [a.status_code for a in answers] == [422, 422, 422, 422, 422, 400, 422], [a.text for a in answers]
    assert_no_leaks(stack, mark, "validation errors", control=sent_id(stack, name, token))
    _, text = stack.log_text(mark)
    logged = [field for field in ("input_value", "'input'", '"input"') if field in text]
    assert not logged, f"pydantic's input fields are in the log: {logged}"


def test_wrong_admin_keys_are_not_logged(stack: Stack, made: list[str]):
    """A wrong admin key (Authorization: Bearer and X-Admin-Key), on the control and the validation function, with
    an address in the path: neither the key nor the address in any log line (three keys: under the brake's 10)."""
    name = unique("leak-admin")
    made.append(name)
    token = stack.create_channel(name)
    mark = stack.log_mark()
    answers = [
        requests.get(
            f"{stack.url}/v1/channels", headers={"Authorization": f"Bearer {unique('wrong-admin-key')}"}, timeout=30
        ),
        requests.get(
            f"{stack.url}/v1/suppressions/{address('looked-up')}",
            headers={"X-Admin-Key": unique("wrong-admin-key")},
            timeout=30,
        ),
        requests.post(
            f"{stack.url}/v1/validation/{address('to-verify')}",
            headers={"Authorization": f"Bearer {unique('wrong-admin-key')}"},
            timeout=30,
        ),
    ]
    assert {a.status_code for a in answers} <= {401, 429}, [a.text for a in answers]
    assert_no_leaks(stack, mark, "wrong admin keys", control=sent_id(stack, name, token))


def test_channel_tokens_and_their_stored_hashes_are_not_logged(stack: Stack, made: list[str]):
    """A send and a status read with a good token (X-Token and Bearer descriptor:token), wrong tokens, an unknown
    descriptor with a real token, a rotation with grace and sends with the new and the old token: no token and no
    stored hash (current and previous) in the log, while the sends' "message accepted" lines are there."""
    name = unique("leak-token")
    made.append(name)
    token = stack.create_channel(name, recipients=[address("team")])
    mark = stack.log_mark()
    url = f"{stack.url}/v1/messages"

    def send(headers: dict[str, str]) -> requests.Response:
        return requests.post(url, json={"subject": "s", "text": "t"}, headers=headers, timeout=30)

    sent = send({"X-Descriptor": name, "X-Token": token})
    assert sent.status_code == 200, sent.text
    status = requests.get(f"{url}/{sent.json()['id']}", headers={"Authorization": f"Bearer {name}:{token}"}, timeout=30)
    assert status.status_code == 200, status.text
    for headers in (
        {"X-Descriptor": name, "X-Token": unique("wrong-channel-token")},
        {"Authorization": f"Bearer {name}:{unique('wrong-channel-token')}"},
        {"X-Descriptor": unique("unknown-channel"), "X-Token": token},
    ):
        assert send(headers).status_code == 401
    rotated = requests.post(
        f"{stack.url}/v1/channels/{name}/token", json={"grace_seconds": 60}, headers=stack.admin, timeout=30
    )
    assert rotated.status_code == 200, rotated.text
    for current in (rotated.json()["token"], token):
        again = send({"X-Descriptor": name, "X-Token": current})
        assert again.status_code == 200, again.text
    stack.remember_stored()  # this channel's stored hashes, current and previous
    assert_no_leaks(stack, mark, "channel authentication", control=sent.json()["id"])


def test_a_hostile_form_post_is_not_logged(stack: Stack, made: list[str]):
    """A public form: a header-injection attempt in `email` (refused), a good post whose name, message and extra
    field are distinctive, and a post the honeypot catches - no address, field, nonce, hash or page secret in the
    log, while the accepted and the honeypot posts are logged."""
    form, secret = unique("leak-form"), unique("page-secret")
    made.append(form)
    spec = {
        "sender": "noreply@example.com",
        "recipients": [address("inbox")],
        "form": {"allowed_origins": [ORIGIN], "require_nonce": True, "secret": secret, "per_ip_min_period": 0},
    }
    assert requests.put(f"{stack.url}/v1/channels/{form}", json=spec, headers=stack.admin, timeout=30).ok
    mark = stack.log_mark()

    def fields(**given: str) -> dict[str, str]:
        issued = requests.get(f"{stack.url}/v1/nonce", params={"form": form}, headers={"Origin": ORIGIN}, timeout=30)
        nonce = issued.json()["nonce"]
        return {"nonce": nonce, "hash": hashlib.sha256((nonce + secret).encode()).hexdigest(), **given}

    def post(body: dict[str, str], **kwargs) -> requests.Response:
        return requests.post(f"{stack.url}/v1/forms/{form}", headers={"Origin": ORIGIN}, timeout=30, **body, **kwargs)

    injected = hostile(f"{address('visitor')}\r\nBcc: {address('injected')}")
    refused = post({"json": fields(email=injected, message="hi")})
    assert refused.status_code == 422, refused.text
    accepted = post(
        {
            "json": fields(
                email=address("visitor"),
                name=unique("Visitor Name"),
                message=unique("A message only its recipient may read"),
                phone=unique("+49 30 5550"),
            )
        }
    )
    assert accepted.status_code == 200, accepted.text
    caught = post({"data": fields(email=address("bot"), message=unique("bot text"), _gotcha=unique("bot-filled"))})
    assert caught.status_code in (200, 303), caught.text
    assert_no_leaks(stack, mark, "form posts", control="honeypot filled")
    assert_no_leaks(stack, mark, "form posts", control=accepted.json()["id"])  # its "message accepted" line


def test_signed_and_forged_mailgun_webhooks_are_not_logged(stack: Stack):
    """A signed Mailgun webhook (a permanent failure, applied) and a forged one (refused): neither recipient, nor the
    webhook's token and signature, nor the signing key in the log, while the applied event is logged."""
    signing_key = stack.relay_secret["mailgun_webhook_signing_key"]
    bounced = address("bounced")
    mark = stack.log_mark()
    signed_body = mailgun_webhook(signing_key, mailgun_event("failed", bounced))
    signed = requests.post(f"{stack.url}/v1/webhooks/mailgun", json=signed_body, timeout=30)
    assert signed.status_code == 200, signed.text
    forged_body = mailgun_webhook(unique("not-the-signing-key"), mailgun_event("complained", address("forged")))
    forged = requests.post(f"{stack.url}/v1/webhooks/mailgun", json=forged_body, timeout=30)
    assert forged.status_code == 406, forged.text
    try:
        assert_no_leaks(stack, mark, "Mailgun webhooks", control="provider event applied")
    finally:
        requests.delete(f"{stack.url}/v1/suppressions/{bounced}", headers=stack.admin, timeout=30)


def test_an_ses_refusal_does_not_log_the_refused_recipients(stack: Stack, made: list[str]):
    """SES in the sandbox refuses unverified recipients, naming them in its error; the relay falls over to Mailgun.
    The refusal may be logged, the recipients' addresses may not."""
    recipient = address("sandboxed")
    name = unique("leak-sandbox")
    made.append(name)
    token = stack.create_channel(name, recipients=[recipient])
    assert requests.put(f"{stack.url}/_local/faults", json={"ses": "sandbox"}, timeout=30).status_code == 200
    mark = stack.log_mark()
    try:
        sent = requests.post(
            f"{stack.url}/v1/messages",
            json={"subject": "s", "text": "t"},
            headers={"X-Descriptor": name, "X-Token": token},
            timeout=60,
        )
    finally:
        requests.put(f"{stack.url}/_local/faults", json={}, timeout=30)
    assert sent.status_code == 200 and sent.json()["provider_used"] == "mailgun", sent.text
    assert_no_leaks(
        stack,
        mark,
        "an SES refusal",
        control="provider failed",
    )
