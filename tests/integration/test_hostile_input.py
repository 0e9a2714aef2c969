"""Hostile input gets a JSON 4xx, never a 500, and a refused request sends nothing (a start on issue 11: the
cases its report listed on public routes, the control routes' media type, and `_next` decided before sending)."""

import json
import time

import pytest

from local.provider_events import mailgun_event, mailgun_webhook
from mailrelay.domain.auth import AUTH_FAILURE_FLOOR_S
from tests.integration.conftest import ADMIN_KEY, TEMPLATE, Api
from tests.integration.test_forms import FORM, ORIGIN, post, post_urlencoded, signed

MESSAGE = {"subject": "Hello", "text": "plain body"}
DEEP = b"[" * 100_000 + b"]" * 100_000  # deeper than Python's JSON parser recurses


@pytest.fixture
def contact(api: Api):
    api.create_channel("contact", form=FORM)


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [("/v1/forms/contact", 400, "invalid_json"), ("/v1/webhooks/mailgun", 406, "invalid_payload")],
)
def test_json_nested_too_deeply_is_a_4xx_on_public_routes(api: Api, contact, sent, path, status, error):
    result = api.call("POST", path, headers={"Content-Type": "application/json", "Origin": ORIGIN}, data=DEEP)
    assert result.status == status and result.json["error"] == error, result.body
    assert sent() == []


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"])
def test_a_subject_with_any_line_separator_is_refused_before_sending(api: Api, sent, separator):
    token = api.create_channel()
    message = {"subject": f"Hello{separator}Bcc: victim@elsewhere.test", "text": "x"}
    result = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=message)
    assert result.status == 422 and result.json["error"] == "validation_error", result.body
    assert sent() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_control_routes_take_json_only(api: Api, content_type):
    headers = {**api.admin, **({"Content-Type": content_type} if content_type else {})}
    result = api.call("PUT", "/v1/channels/website", headers=headers, data=b"<channel/>")
    assert result.status == 415 and result.json["error"] == "unsupported_media_type", result.body
    assert api.call("GET", "/v1/channels/website", headers=api.admin).status == 404  # nothing was created


@pytest.mark.parametrize("next_url", ["https://[x", f"{ORIGIN}/ok\r\nSet-Cookie: a=b", f"{ORIGIN}/a b"])
def test_a_bad_next_never_breaks_the_answer_and_is_not_echoed(api: Api, contact, sent, next_url):
    result = post_urlencoded(api, signed(api, _next=next_url))
    assert result.status == 303, result.body
    assert result.headers["Location"] == FORM["redirect_url"]  # the checked value, not the submitted one
    assert len(sent()) == 1  # sent once: the visitor has no reason to send again


def test_json_form_post_with_a_bad_next_is_200_not_500(api: Api, contact, sent):
    result = post(api, signed(api, _next="https://[x"))
    assert result.status == 200 and result.json["ok"] is True, result.body
    assert len(sent()) == 1


def test_a_deleted_channels_messages_stay_unreadable_to_a_new_channel_of_the_same_name(api: Api):
    first = api.create_channel("website")
    sent_id = api.call("POST", "/v1/messages", headers=api.channel("website", first), json_body=MESSAGE).json["id"]
    replaced = {"sender": "noreply@example.com", "recipients": ["team@example.com"], "min_period": 0}
    assert api.call("PUT", "/v1/channels/website", headers=api.admin, json_body=replaced).status == 200
    assert api.call("GET", f"/v1/messages/{sent_id}", headers=api.channel("website", first)).status == 200  # same life
    assert api.call("DELETE", "/v1/channels/website", headers=api.admin).status == 204
    second = api.create_channel("website")
    result = api.call("GET", f"/v1/messages/{sent_id}", headers=api.channel("website", second))
    assert result.status == 404 and result.json["error"] == "message_not_found"


def test_wrong_admin_keys_are_braked_per_source_address_and_counted(api: Api, caplog):
    allowed = int(TEMPLATE.doc["Parameters"]["AdminFailuresPerMinute"]["Default"])
    wrong = {"Authorization": "Bearer not-the-admin-key-0123456789"}
    answers = [
        api.call("GET", "/v1/channels", headers=wrong, source_ip="203.0.113.9").status for _ in range(allowed + 2)
    ]
    assert answers[:allowed] == [401] * allowed
    assert answers[allowed:] == [429, 429]
    braked = api.call("GET", "/v1/channels", headers=wrong, source_ip="203.0.113.9")
    assert braked.json["error"] == "rate_limited" and int(braked.headers["Retry-After"]) >= 1
    assert api.call("GET", "/v1/channels", headers=wrong, source_ip="198.51.100.20").status == 401  # others: 401
    assert api.call("GET", "/v1/channels", headers=api.admin, source_ip="198.51.100.20").status == 200


def _multipart_post(api: Api, fields: dict, filenames: list[str]):
    boundary = "mailrelay-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\nhi\r\n"
        for name in filenames
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    headers = {
        "Origin": ORIGIN,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Accept": "application/json",
    }
    return api.call("POST", "/v1/forms/contact", headers=headers, data=body)


def test_a_file_name_with_control_characters_is_cleaned_not_a_500(api: Api, contact, sent):
    result = _multipart_post(api, signed(api), ["report\x0b2026\u2028.txt"])
    assert result.status == 200, result.body
    [mail] = sent()
    assert "report_2026_.txt" in mail["raw"]


def test_too_many_files_is_a_422_before_the_nonce_is_used(api: Api, contact, sent):
    fields = signed(api)
    result = _multipart_post(api, fields, [f"f{i}.txt" for i in range(25)])
    assert result.status == 422 and result.json["error"] == "validation_error", result.body
    assert "f24.txt" not in result.body  # no submitted value in the answer
    assert _multipart_post(api, fields, ["one.txt"]).status == 200  # the same nonce still works
    assert len(sent()) == 1


SIGNING_KEY = "mailgun-signing-key-0123456789"


@pytest.fixture
def stack_options():
    return {"parameters": {}, "secret_values": {"mailgun_webhook_signing_key": SIGNING_KEY}}


@pytest.mark.parametrize(
    "event_data",
    [
        "not an object",
        [{"event": "failed"}],
        {**mailgun_event("failed", "team@example.com"), "recipient": ["team@example.com"]},
        {**mailgun_event("complained", "team@example.com"), "user-variables": "x"},
        {**mailgun_event("failed", "team@example.com"), "user-variables": {"mailrelay_id": 7}},
        {**mailgun_event("failed", "team@example.com"), "severity": ["permanent"]},
    ],
)
def test_a_signed_webhook_of_the_wrong_shape_is_406_and_changes_nothing(api: Api, event_data):
    result = api.call("POST", "/v1/webhooks/mailgun", json_body=mailgun_webhook(SIGNING_KEY, event_data))
    assert result.status == 406 and result.json["error"] == "invalid_payload", result.body
    assert api.call("GET", "/v1/suppressions/team@example.com", headers=api.admin).status == 404


# ---------------------------------------------------------------- routes and methods (the $default route)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/v1/channels/website", "DELETE, GET, PUT"),
        ("PATCH", "/v1/messages", "POST"),
        ("OPTIONS", "/v1/health", "GET"),
        ("GET", "/v1/channels/website/token", "POST"),
    ],
)
def test_a_method_the_path_does_not_have_is_a_json_405_with_allow(api: Api, method, path, allow):
    result = api.call(method, path, headers=api.admin)
    assert result.status == 405 and result.json["error"] == "method_not_allowed", result.body
    assert result.headers["Allow"] == allow


@pytest.mark.parametrize("path", ["/v1/nowhere", "/v1/channels/a/b", "/", "/v1/m\u00e9ssages"])
def test_a_path_the_api_does_not_have_is_a_json_404(api: Api, path):
    result = api.call("GET", path, headers=api.admin)
    assert result.status == 404 and result.json["error"] == "no_route", result.body


@pytest.mark.parametrize("address", ["\u00a1x@example.com", "%15", "E@\u00a1K\U000f3b3b", "a\u0085b@example.com"])
def test_path_parameters_in_any_characters_reach_the_routes_own_validation(api: Api, address):
    """API Gateway routes `{address}` whatever its characters: the route decides, never a 404 `no_route`."""
    checked = api.call("GET", f"/v1/validation/{address}", headers=api.admin)
    assert checked.status == 200 and checked.json["valid_syntax"] is False, checked.body
    suppressed = api.call("PUT", f"/v1/suppressions/{address}", headers=api.admin)
    assert suppressed.status == 422 and suppressed.json["error"] == "invalid_address", suppressed.body


def test_a_recipient_that_needs_smtputf8_is_refused_when_the_channel_is_created(api: Api):
    """Neither SES nor Mailgun's MIME API takes SMTPUTF8: the channel would be created and then fail every send."""
    body = {"sender": "noreply@example.com", "recipients": ["j\u00f6rg@example.com"]}
    result = api.call("PUT", "/v1/channels/website", headers=api.admin, json_body=body)
    assert result.status == 422 and result.json["error"] == "validation_error", result.body
    assert api.call("GET", "/v1/channels/website", headers=api.admin).status == 404
    international_domain = {**body, "recipients": ["team@stra\u00dfe.de"]}
    assert api.call("PUT", "/v1/channels/website", headers=api.admin, json_body=international_domain).status == 201


@pytest.mark.parametrize("body", [[None, None], [], "x", 3, {"grace_seconds": 5, "extra": 1}])
def test_a_token_is_rotated_only_for_an_object_body_or_none(api: Api, body):
    token = api.create_channel()
    result = api.call("POST", "/v1/channels/website/token", headers=api.admin, json_body=body)
    assert result.status == 422, result.body
    assert api.call("GET", "/v1/messages/x", headers=api.channel("website", token)).status == 404  # old token works


def test_a_wrong_or_partial_channel_credential_is_refused_even_with_the_admin_key(api: Api):
    """A request that presents channel credentials is judged by them: a valid admin key beside does not excuse them."""
    for presented in ({"X-Token": "wrong"}, {"X-Descriptor": "website"}, {"X-Descriptor": "website", "X-Token": "x"}):
        result = api.call("GET", "/v1/validation/a@example.com", headers={"X-Admin-Key": ADMIN_KEY, **presented})
        assert result.status == 401, (presented, result.body)
    assert api.call("GET", "/v1/validation/a@example.com", headers={"X-Admin-Key": ADMIN_KEY}).status == 200


# ---------------------------------------------------------------- constant-shaped authentication


def test_an_unknown_channel_and_a_wrong_token_cost_the_same_work(api: Api, monkeypatch):
    """Timing cannot tell which channels exist when both refusals do the same work: the same AWS calls reading the same
    number of keys, and one token hash each (a decoy record's for an unknown channel), also after the container has
    sent through the channel. `make bench` measures the medians themselves over HTTP."""
    import botocore.client

    from mailrelay.domain import tokens

    token = api.create_channel()
    work: list[str] = []
    make_api_call, hash_token = botocore.client.BaseClient._make_api_call, tokens.hash_token

    def aws_call(client, operation, params):
        keys = sum(len(wanted["Keys"]) for wanted in params.get("RequestItems", {}).values())  # the read's size
        work.append(f"{client.meta.service_model.service_name}:{operation}:{keys}")
        return make_api_call(client, operation, params)

    def hashed(*args, **kwargs):
        work.append("hash_token")
        return hash_token(*args, **kwargs)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", aws_call)
    monkeypatch.setattr(tokens, "hash_token", hashed)
    # The container has sent through the channel: it knows its addresses and reads their suppression entries with
    # the channel, for the right token only (a larger first read for a wrong one would tell that the channel exists).
    sent = api.call("POST", "/v1/messages", headers=api.channel("website", token), json_body=MESSAGE)
    assert sent.status == 200, sent.body
    shapes = {}
    for name, headers in {
        "wrong token": api.channel("website", token[::-1]),
        "unknown channel": api.channel("no-such-channel", token),
    }.items():
        api.call("POST", "/v1/messages", headers=headers, json_body=MESSAGE)  # the container's first read is warm-up
        work.clear()
        started = time.monotonic()
        result = api.call("POST", "/v1/messages", headers=headers, json_body=MESSAGE)
        assert time.monotonic() - started >= AUTH_FAILURE_FLOOR_S  # what differs still is hidden under the floor
        assert result.status == 401 and result.json["message"] == "invalid channel credentials", result.body
        shapes[name] = sorted(work)
    assert shapes["wrong token"] == shapes["unknown channel"] and "hash_token" in shapes["wrong token"], shapes


@pytest.mark.parametrize("twice", ["Date", "Message-ID", "Subject", "In-Reply-To", "References"])
def test_a_raw_message_with_a_header_rfc_5322_allows_once_given_twice_is_refused(api: Api, sent, twice):
    token = api.create_channel()
    value = {"Date": "Sun, 29 Nov 2026 10:00:00 +0000", "Subject": "s"}.get(twice, "<a@example.org>")
    raw = f"Subject: hello\r\n{twice}: {value}\r\n{twice}: {value}\r\n\r\nbody\r\n".encode()
    if twice == "Subject":
        raw = raw.replace(b"Subject: hello\r\n", b"")
    headers = {**api.channel("website", token), "Content-Type": "message/rfc822"}
    result = api.call("POST", "/v1/messages", headers=headers, data=raw)
    assert result.status == 422 and result.json["error"] == "invalid_message", result.body
    assert sent() == []


# ---------------------------------------------------------------- what an outside attack run found (issue 11 review)

LONE = "=?utf-7?q?+2AA-?="  # an encoded word that decodes to a lone surrogate


def _nested(depth: int) -> bytes:
    head = b"Subject: deep\r\nMIME-Version: 1.0\r\n"
    body = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    return head + body + b"Content-Type: text/plain\r\n\r\nx\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        f"Subject: {LONE}\r\n\r\nbody\r\n".encode(),
        f"Subject: s\r\nContent-Type: {LONE}\r\n\r\nbody\r\n".encode(),
        b"Subject: s\r\nContent-Type: text/plain; name*=utf-7''+2AA-\r\n\r\nbody\r\n",
        b"Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\xff\r\n\r\n--\xff\r\n"
        b"Content-Type: text/plain\r\n\r\nx\r\n--\xff--\r\n",
        _nested(400),
        b"Subject: s\r\nX-Mailer: m\x0bX-SES-CONFIGURATION-SET: evil\r\n\r\nbody\r\n",
    ],
    ids=["subject-surrogate", "content-type-surrogate", "rfc2231-surrogate", "8bit-boundary", "nested", "vt-in-header"],
)
def test_a_raw_message_the_email_package_cannot_handle_is_a_422_not_a_500(api: Api, sent, raw):
    token = api.create_channel()
    headers = {**api.channel("website", token), "Content-Type": "message/rfc822"}
    result = api.call("POST", "/v1/messages", headers=headers, data=raw)
    assert result.status == 422 and result.json["error"] == "invalid_message", result.body
    assert sent() == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "visitor@example.org", "message": "m", "name": "\\ud800"}',
        b'{"email": "visitor@example.org", "message": "m", "company": "\\udfff"}',
        b'{"email": "visitor@example.org", "message": "m", "a": NaN}',
    ],
)
def test_a_form_post_that_is_not_text_or_not_json_is_refused_before_the_nonce_is_used(api: Api, contact, sent, body):
    fields = signed(api)
    spoiled = body.replace(
        b'"message": "m"', f'"message": "m", "nonce": "{fields["nonce"]}", "hash": "{fields["hash"]}"'.encode()
    )
    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
    result = api.call("POST", "/v1/forms/contact", headers=headers, data=spoiled)
    assert 400 <= result.status < 500, result.body
    assert sent() == []
    assert api.call("POST", "/v1/forms/contact", headers=headers, json_body=fields).status == 200  # nonce unused


def test_a_multipart_file_name_that_decodes_to_a_lone_surrogate_is_not_a_500(api: Api, contact, sent):
    fields = signed(api)
    boundary = "b0undary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    disposition = "Content-Disposition: form-data; name=\"f\"; filename*=utf-7''+2AA-"
    parts.append(f"--{boundary}\r\n{disposition}\r\n\r\nhi\r\n--{boundary}--\r\n")
    headers = {"Origin": ORIGIN, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    result = api.call("POST", "/v1/forms/contact", headers=headers, data="".join(parts).encode())
    assert result.status < 500, result.body


def test_a_webhook_signature_that_is_not_ascii_is_a_406(api: Api):
    body = b'{"signature": {"timestamp": "1700000000", "token": "t", "signature": "\\ud800"}, "event-data": {}}'
    result = api.call("POST", "/v1/webhooks/mailgun", headers={"Content-Type": "application/json"}, data=body)
    assert result.status == 406 and result.json["error"] == "invalid_signature", result.body


@pytest.mark.parametrize(
    ("content_type", "data", "status"),
    [
        ("Application/JSON", b'{"grace_seconds": 0}', 200),
        ("application/merge-patch+json", b'{"grace_seconds": 0}', 415),
        ("text/plain", b"", 415),
        ("application/json", b'{"a":' * 100_000, 400),
        ("application/json", b'{"grace_seconds": ' + b"9" * 5000 + b"}", 400),
    ],
)
def test_control_bodies_are_json_python_can_read_or_a_4xx(api: Api, content_type, data, status):
    api.create_channel()
    headers = {**api.admin, "Content-Type": content_type}
    result = api.call("POST", "/v1/channels/website/token", headers=headers, data=data)
    assert result.status == status, result.body


@pytest.mark.parametrize(
    "spec",
    [
        {"sender": {"email": "noreply@example.com", "name": "\ud800"}, "recipients": ["team@example.com"]},
        {
            "sender": "noreply@example.com",
            "recipients": ["team@example.com"],
            "form": {"allowed_origins": [ORIGIN], "redirect_url": f"{ORIGIN}/x\r\nSet-Cookie: a=b"},
        },
        {
            "sender": "noreply@example.com",
            "recipients": ["team@example.com"],
            "form": {"allowed_origins": [ORIGIN], "redirect_url": f"{ORIGIN}/x\u2028y"},
        },
    ],
)
def test_a_channel_that_would_break_a_header_later_is_refused_when_written(api: Api, spec):
    data = json.dumps(spec).encode()  # ensure_ascii: the lone surrogate travels as \ud800, as a client would send it
    result = api.call(
        "PUT", "/v1/channels/website", headers={**api.admin, "Content-Type": "application/json"}, data=data
    )
    assert result.status == 422, result.body
    assert api.call("GET", "/v1/channels/website", headers=api.admin).status == 404
