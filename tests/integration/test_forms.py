"""Public contact forms through the real handlers (nonce function + relay function), AWS under moto."""

import hashlib
import time

import boto3
import pytest
from werkzeug.wrappers import Response

from mailrelay import config
from tests.integration.conftest import Api

ORIGIN = "https://www.example.com"
SECRET = "page-secret-0123456789"
FORM = {
    "allowed_origins": [ORIGIN],
    "require_nonce": True,
    "secret": SECRET,
    "allow_list": ["sales@example.com", "support@example.com"],
    "redirect_url": f"{ORIGIN}/thanks",
}
FIELDS = {"email": "visitor@example.org", "name": "Ada", "message": "Hello there", "company": "Example Ltd"}


def nonce(api: Api, form: str = "contact", origin: str = ORIGIN) -> str:
    result = api.call("GET", f"/v1/nonce?form={form}", headers={"Origin": origin})
    assert result.status == 200, result.body
    assert result.headers["Access-Control-Allow-Origin"] == origin and result.json["expires_at"]
    return result.json["nonce"]


def signed(api: Api, **fields) -> dict:
    value = nonce(api)
    return {**FIELDS, "nonce": value, "hash": hashlib.sha256((value + SECRET).encode()).hexdigest(), **fields}


def post(api: Api, body: dict, origin: str = ORIGIN, ip: str = "198.51.100.7", **headers):
    return api.call("POST", "/v1/forms/contact", headers={"Origin": origin, **headers}, json_body=body, source_ip=ip)


@pytest.fixture
def form(api: Api):
    api.create_channel("contact", form=FORM)
    return FORM


def test_documented_flow_nonce_hash_post_delivers(api: Api, form, sent):
    result = post(api, signed(api, subject="Pricing question"))
    assert result.status == 200, result.body
    assert result.json["ok"] is True and result.json["id"]
    assert result.headers["Access-Control-Allow-Origin"] == ORIGIN
    [mail] = sent()
    assert mail["reply_to"] == "Ada <visitor@example.org>"
    assert mail["from"] == "Site <noreply@example.com>" and mail["to"] == ["team@example.com"]
    assert mail["subject"] == "Pricing question"
    assert mail["text"].startswith("Hello there") and "company: Example Ltd" in mail["text"]
    assert "nonce" not in mail["text"] and SECRET not in mail["raw"]


@pytest.mark.parametrize(
    "tamper, error",
    [
        (lambda api, b: {**b, "hash": "0" * 64}, "nonce_invalid"),
        (lambda api, b: {k: v for k, v in b.items() if k != "nonce"}, "nonce_required"),
        (
            lambda api, b: {**b, "nonce": "made-up", "hash": hashlib.sha256(b"made-up" + SECRET.encode()).hexdigest()},
            "nonce_invalid",
        ),
    ],
)
def test_bad_nonce_or_hash_is_403(api: Api, form, sent, tamper, error):
    result = post(api, tamper(api, signed(api)))
    assert result.status == 403 and result.json["error"] == error
    assert sent() == []


def test_nonce_is_single_use(api: Api, form):
    body = signed(api)
    assert post(api, body).status == 200
    again = post(api, body)
    assert again.status == 403 and again.json["error"] == "nonce_invalid"


def test_expired_nonce_is_refused_even_before_ttl_deletes_it(api: Api, form, aws_stack):
    body = signed(api)
    table = boto3.resource("dynamodb").Table(aws_stack.refs["NoncesTable"])
    table.update_item(
        Key={"nonce": body["nonce"]},
        UpdateExpression="SET valid_until = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )
    result = post(api, body)
    assert result.status == 403 and result.json["error"] == "nonce_invalid"
    assert "Item" in table.get_item(Key={"nonce": body["nonce"]})  # still stored: TTL is lazy, the check is not


def test_nonce_of_another_form_is_refused(api: Api, form):
    api.create_channel("other", form=FORM)
    value = nonce(api, "other")
    body = {**FIELDS, "nonce": value, "hash": hashlib.sha256((value + SECRET).encode()).hexdigest()}
    assert post(api, body).status == 403


def test_to_must_be_on_the_allow_list(api: Api, form, sent):
    refused = post(api, signed(api, to="anyone@example.org"))
    assert refused.status == 403 and refused.json["error"] == "to_not_allowed"
    chosen = post(api, signed(api, to="support@example.com"))
    assert chosen.status == 200
    assert sent()[0]["to"] == ["support@example.com"]


def test_disallowed_origin_is_403_everywhere(api: Api, form):
    evil = "https://evil.example.net"
    assert api.call("GET", "/v1/nonce?form=contact", headers={"Origin": evil}).status == 403
    result = post(api, signed(api), origin=evil)
    assert result.status == 403 and result.json["error"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in result.headers
    assert api.call("OPTIONS", "/v1/forms/contact", headers={"Origin": evil}).status == 403


def test_preflight_from_an_allowed_origin(api: Api, form):
    result = api.call(
        "OPTIONS",
        "/v1/forms/contact",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert result.status == 204
    assert result.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in result.headers["Access-Control-Allow-Methods"]
    assert result.headers["Access-Control-Allow-Headers"] == "content-type"


def test_per_ip_limit_is_429_with_retry_after(api: Api, sent):
    api.create_channel("contact", form={**FORM, "per_ip_min_period": 60})
    assert post(api, signed(api)).status == 200
    second = post(api, signed(api))
    assert second.status == 429 and 59 <= int(second.headers["Retry-After"]) <= 60
    assert second.headers["Access-Control-Allow-Origin"] == ORIGIN  # the page can read why ...
    assert second.headers["Access-Control-Expose-Headers"] == "Retry-After"  # ... and when to try again
    assert second.json["retry_after"] == int(second.headers["Retry-After"])
    assert post(api, signed(api), ip="203.0.113.99").status == 200  # another visitor is not affected
    assert len(sent()) == 2


def test_refused_submission_does_not_use_the_ip_slot(api: Api):
    api.create_channel("contact", form={**FORM, "per_ip_min_period": 60})
    assert post(api, signed(api, to="nobody@example.org")).status == 403
    assert post(api, signed(api)).status == 200


def post_urlencoded(api: Api, body: dict):
    data = "&".join(f"{k}={v}" for k, v in body.items()).encode()
    headers = {"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"}
    return api.call("POST", "/v1/forms/contact", data=data, headers=headers)


def test_urlencoded_post_with_next_is_303(api: Api, form, sent):
    result = post_urlencoded(api, signed(api, _next=f"{ORIGIN}/merci"))
    assert result.status == 303 and result.headers["Location"] == f"{ORIGIN}/merci"
    assert len(sent()) == 1


def test_next_to_a_foreign_site_falls_back_to_redirect_url(api: Api, form):
    result = post_urlencoded(api, signed(api, _next="https://evil.example.net/phish"))
    assert result.status == 303 and result.headers["Location"] == f"{ORIGIN}/thanks"


def test_plain_post_failure_is_an_html_page_with_the_real_status(api: Api, form, sent):
    data = b"email=visitor%40example.org&message=hi&nonce=x&hash=y"
    result = api.call(
        "POST",
        "/v1/forms/contact",
        data=data,
        headers={"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert result.status == 403 and "text/html" in result.headers["Content-Type"]
    assert "not sent" in result.body and sent() == []


def test_honeypot_filled_looks_like_success_and_sends_nothing(api: Api, form, sent):
    result = post(api, signed(api, _gotcha="http://spam.example"))
    assert result.status == 200 and result.json["ok"] is True and result.json["id"]
    assert sent() == []


def test_multipart_with_a_file_becomes_an_attachment(api: Api, form, sent):
    value = nonce(api)
    boundary = "XyZ"
    parts = {**FIELDS, "nonce": value, "hash": hashlib.sha256((value + SECRET).encode()).hexdigest()}
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in parts.items()
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="cv"; filename="cv.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nmy cv\r\n--{boundary}--\r\n"
    ).encode()
    result = api.call(
        "POST",
        "/v1/forms/contact",
        data=body,
        headers={
            "Origin": ORIGIN,
            "Accept": "application/json",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert result.status == 200, result.body
    [mail] = sent()
    assert mail["attachments"] == [{"filename": "cv.txt", "content_type": "text/plain", "size": 5}]
    assert "company: Example Ltd" in mail["text"]


@pytest.mark.parametrize(
    "drop, change",
    [
        ("email", {}),
        ("message", {}),
        (None, {"email": "not-an-address"}),
        (None, {"name": "Ada\r\nBcc: x@example.org"}),
    ],
)
def test_invalid_fields_are_422(api: Api, form, sent, drop, change):
    body = {k: v for k, v in signed(api, **change).items() if k != drop}
    result = post(api, body)
    assert result.status == 422 and result.json["error"] == "validation_error"
    assert sent() == []


def test_unknown_form_and_channel_without_form_are_404(api: Api):
    api.create_channel("plain")
    assert api.call("GET", "/v1/nonce?form=plain").status == 404
    assert post(api, FIELDS).status == 404
    assert api.call("POST", "/v1/forms/plain", json_body=FIELDS).json["error"] == "unknown_form"


def test_form_secrets_are_never_returned(api: Api):
    api.create_channel("contact", form={**FORM, "captcha": {"provider": "turnstile", "secret": "cf-secret-xyz"}})
    read = api.call("GET", "/v1/channels/contact", headers=api.admin)
    assert read.json["form"]["captcha_provider"] == "turnstile" and read.json["form"]["require_nonce"] is True
    assert SECRET not in read.body and "cf-secret-xyz" not in read.body


def test_require_nonce_needs_a_secret(api: Api):
    result = api.call(
        "PUT",
        "/v1/channels/contact",
        headers=api.admin,
        json_body={
            "sender": "noreply@example.com",
            "recipients": ["team@example.com"],
            "form": {"require_nonce": True},
        },
    )
    assert result.status == 422 and "secret" in result.json["message"]


def test_nonce_endpoint_is_rate_limited_per_ip(api: Api, form, monkeypatch):
    monkeypatch.setenv("NONCES_PER_IP_PER_MINUTE", "3")
    config.settings.cache_clear()
    statuses = [api.call("GET", "/v1/nonce?form=contact", source_ip="192.0.2.1").status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert api.call("GET", "/v1/nonce?form=contact", source_ip="192.0.2.2").status == 200


@pytest.fixture
def captcha_form(api: Api, httpserver, monkeypatch):
    monkeypatch.setenv("TURNSTILE_VERIFY_URL", httpserver.url_for("/siteverify"))
    config.settings.cache_clear()
    api.create_channel(
        "contact", form={"allowed_origins": [ORIGIN], "captcha": {"provider": "turnstile", "secret": "cf-secret"}}
    )


def test_captcha_passed(api: Api, captcha_form, httpserver, sent):
    httpserver.expect_oneshot_request("/siteverify", method="POST", data=None).respond_with_json({"success": True})
    result = post(api, {**FIELDS, "cf-turnstile-response": "token-1"})
    assert result.status == 200, result.body
    [(request, _)] = httpserver.log
    assert request.form["secret"] == "cf-secret" and request.form["response"] == "token-1"
    assert request.form["remoteip"] == "198.51.100.7"
    assert "cf-turnstile-response" not in sent()[0]["text"]


def test_captcha_failed_or_missing_is_403(api: Api, captcha_form, httpserver, sent):
    httpserver.expect_request("/siteverify").respond_with_json({"success": False, "error-codes": ["invalid"]})
    failed = post(api, {**FIELDS, "cf-turnstile-response": "bad"})
    missing = post(api, FIELDS)
    assert failed.status == missing.status == 403
    assert failed.json["error"] == missing.json["error"] == "captcha_failed"
    assert sent() == []


def test_captcha_service_down_is_502(api: Api, captcha_form, httpserver):
    httpserver.expect_request("/siteverify").respond_with_response(Response("oops", status=500))
    result = post(api, {**FIELDS, "cf-turnstile-response": "t"})
    assert result.status == 502 and result.json["error"] == "captcha_unavailable"
