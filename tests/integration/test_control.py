"""Control API through the real handler: admin auth, CRUD, validation errors, rotation, relayery aliases."""

import pytest

from tests.integration.conftest import Api

CHANNEL = {
    "sender": {"email": "noreply@example.com", "name": "Site"},
    "recipients": ["team@example.com"],
    "cc": ["boss@example.com"],
    "bcc": [{"email": "audit@example.com"}],
    "min_period": 2.5,
}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": "Basic abc"}, {"X-Admin-Key": "nope"}],
)
def test_admin_key_required_before_body_is_read(api: Api, headers):
    result = api.call(
        "PUT",
        "/v1/channels/website",
        headers=headers,
        data=b"{not json",
    )
    assert result.status == 401
    assert result.json["error"] == "unauthorized"


def test_admin_key_accepted_in_x_admin_key_for_sigv4_callers(api: Api):
    result = api.call("GET", "/v1/channels", headers={"X-Admin-Key": api.admin["Authorization"][7:]})
    assert result.status == 200


def test_create_read_replace_delete(api: Api):
    created = api.call("PUT", "/v1/channels/website", headers=api.admin, json_body=CHANNEL)
    assert created.status == 201
    token = created.json["token"]
    assert len(token) >= 43
    assert created.json["bcc"] == [{"email": "audit@example.com", "name": None}]

    read = api.call("GET", "/v1/channels/website", headers=api.admin)
    assert read.status == 200 and read.json["min_period"] == 2.5 and read.json["max_size"] == 5_000_000
    assert "token" not in read.json and token not in read.body and "digest" not in read.body

    replaced = api.call("PUT", "/v1/channels/website", headers=api.admin, json_body={**CHANNEL, "min_period": 0})
    assert replaced.status == 200 and "token" not in replaced.json
    assert replaced.json["created_at"] == created.json["created_at"]
    # the token survived the replace
    assert api.call("GET", "/v1/messages/x", headers=api.channel("website", token)).status == 404

    assert api.call("DELETE", "/v1/channels/website", headers=api.admin).status == 204
    assert api.call("GET", "/v1/channels/website", headers=api.admin).status == 404
    missing = api.call("DELETE", "/v1/channels/website", headers=api.admin)
    assert missing.status == 404 and missing.json["error"] == "channel_not_found"


def test_replace_with_new_token(api: Api):
    old = api.create_channel()
    result = api.call(
        "PUT", "/v1/channels/website", headers=api.admin, json_body={**CHANNEL, "token": "my-own-token-0123456789"}
    )
    assert result.status == 200 and result.json["token"] == "my-own-token-0123456789"
    assert api.call("GET", "/v1/messages/x", headers=api.channel("website", old)).status == 401


@pytest.mark.parametrize(
    "body, status, error",
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"sender": "noreply@example.com", "recipients": []}', 422, "validation_error"),
        (
            b'{"sender": "noreply@example.com", "recipients": ["a@example.com"], "to": ["b@example.com"]}',
            422,
            "validation_error",
        ),
        (
            b'{"sender": "x@example.com\\r\\nBcc: y@example.com", "recipients": ["a@example.com"]}',
            422,
            "validation_error",
        ),
        (
            b'{"sender": "noreply@example.com", "recipients": ["a@example.com"], "max_size": 10000000}',
            422,
            "validation_error",
        ),
    ],
)
def test_put_validation_errors(api: Api, body, status, error):
    result = api.call(
        "PUT", "/v1/channels/website", headers={**api.admin, "Content-Type": "application/json"}, data=body
    )
    assert result.status == status, result.body
    assert result.json["error"] == error and result.json["message"]


def test_bad_descriptor_in_path_is_422(api: Api):
    result = api.call("GET", "/v1/channels/" + "x" * 65, headers=api.admin)
    assert result.status == 422


def test_list_pages_with_cursor(api: Api):
    for i in range(5):
        api.create_channel(f"ch-{i}")
    seen, cursor = [], None
    while True:
        path = "/v1/channels?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", path, headers=api.admin)
        assert page.status == 200 and len(page.json["channels"]) <= 2
        assert all("token" not in c for c in page.json["channels"])
        seen += [c["descriptor"] for c in page.json["channels"]]
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"ch-{i}" for i in range(5)]
    assert api.call("GET", "/v1/channels?cursor=garbage", headers=api.admin).status == 400
    assert api.call("GET", "/v1/channels?limit=0", headers=api.admin).status == 422


def test_rotation_without_grace_refuses_old_token(api: Api):
    old = api.create_channel()
    rotated = api.call("POST", "/v1/channels/website/token", headers=api.admin)
    assert rotated.status == 200
    new = rotated.json["token"]
    assert new != old and "previous_token_valid_until" not in rotated.json
    assert api.call("GET", "/v1/messages/x", headers=api.channel("website", old)).status == 401
    assert api.call("GET", "/v1/messages/x", headers=api.channel("website", new)).status == 404


def test_rotation_with_grace_keeps_old_token_valid(api: Api):
    old = api.create_channel()
    rotated = api.call("POST", "/v1/channels/website/token", headers=api.admin, json_body={"grace_seconds": 60})
    assert rotated.status == 200 and rotated.json["previous_token_valid_until"]
    assert api.call("GET", "/v1/messages/x", headers=api.channel("website", old)).status == 404
    assert api.call("POST", "/v1/channels/nope/token", headers=api.admin).status == 404
    assert (
        api.call("POST", "/v1/channels/website/token", headers=api.admin, json_body={"grace_seconds": -1}).status == 422
    )


def test_relayery_aliases(api: Api):
    body = {
        "descriptor": "some-channel",
        "token": "oqiwdJKNsdK-0123456",
        "domain": "marketing.example.com",
        "sender": {"email": "your-name@example.com", "name": "Some Sender"},
        "recipients": [{"email": "your-client@example.com", "name": "Recipient"}],
        "cc": [],
        "bcc": [],
        "min_period": 0.1,
        "max_size": 5000000,
    }
    created = api.call("PUT", "/api/channel", headers=api.admin, json_body=body)
    assert created.status == 201 and created.json["token"] == "oqiwdJKNsdK-0123456"
    too_big = api.call("PUT", "/api/channel", headers=api.admin, json_body={**body, "max_size": 10_000_000})
    assert too_big.status == 422 and "6 MB" in too_big.json["message"]
    api.create_channel("another")
    listed = api.call("GET", "/api/list_channels?page=1&per_page=1", headers=api.admin)
    assert listed.status == 200
    assert listed.json["page_count"] == 2 and [c["descriptor"] for c in listed.json["channels"]] == ["another"]
    assert "token" not in listed.body
    assert api.call("DELETE", "/api/channel", headers=api.admin, json_body="some-channel").status == 204
    assert api.call("DELETE", "/api/channel", headers=api.admin, json_body="some-channel").status == 404


def test_put_warns_when_ses_would_refuse_the_sender_but_saves_the_channel(api: Api):
    body = {"sender": "noreply@not-verified.org", "recipients": ["team@example.com"]}
    created = api.call("PUT", "/v1/channels/unverified", headers=api.admin, json_body=body)
    assert created.status == 201 and created.json["token"]
    [warning] = created.json["warnings"]
    assert "noreply@not-verified.org is not verified in SES" in warning and "NOT_FOUND" in warning
    verified = api.call(
        "PUT", "/v1/channels/verified", headers=api.admin, json_body={**body, "sender": "noreply@example.com"}
    )
    assert verified.status == 201 and "warnings" not in verified.json  # example.com is a verified domain identity


def test_put_warns_when_max_size_is_beyond_what_a_raw_request_can_carry(api: Api):
    body = {"sender": "noreply@example.com", "recipients": ["team@example.com"], "max_size": 5_000_000}
    result = api.call("PUT", "/v1/channels/large", headers=api.admin, json_body=body)
    assert result.status == 201
    [warning] = result.json["warnings"]
    assert "4,694,016" in warning and "base64" in warning
