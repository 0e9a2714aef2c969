"""The README's flow against the running local stack, over HTTP, as a user would run it."""

import base64
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.conftest import Stack


def test_readme_flow_create_send_outbox(stack: Stack):
    token = stack.create_channel("readme", cc=["boss@example.com"], bcc=["audit@example.com"])
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    response = requests.post(
        f"{stack.url}/v1/messages",
        headers={"X-Descriptor": "readme", "X-Token": token},
        json={
            "subject": "Hello",
            "text": "It works.",
            "html": "<p>It works.</p>",
            "reply_to": "me@example.org",
            "attachments": [
                {"filename": "hi.txt", "content_type": "text/plain", "content": base64.b64encode(b"hi there").decode()}
            ],
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["provider_used"] == "ses"
    [mail] = stack.outbox()
    assert mail["provider"] == "ses"
    assert mail["from"] == "Site <noreply@example.com>"
    assert (mail["to"], mail["cc"], mail["bcc"]) == (["team@example.com"], ["boss@example.com"], ["audit@example.com"])
    assert mail["subject"] == "Hello" and mail["reply_to"] == "me@example.org"
    assert mail["text"].strip() == "It works." and mail["html"].strip() == "<p>It works.</p>"
    assert mail["attachments"] == [{"filename": "hi.txt", "content_type": "text/plain", "size": 8}]

    status = requests.get(
        f"{stack.url}/v1/messages/{response.json()['id']}",
        headers={"Authorization": f"Bearer readme:{token}"},
        timeout=30,
    )
    assert status.status_code == 200 and status.json()["status"] == "sent"

    assert requests.delete(f"{stack.url}/_local/outbox", timeout=30).status_code == 204
    assert stack.outbox() == []


def test_raw_message_over_http(stack: Stack):
    token = stack.create_channel("cron")
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    response = requests.post(
        f"{stack.url}/v1/messages",
        data=b"Subject: nightly\r\n\r\nall good\r\n",
        timeout=30,
        headers={"X-Descriptor": "cron", "X-Token": token, "Content-Type": "message/rfc822"},
    )
    assert response.status_code == 200, response.text
    [mail] = stack.outbox()
    assert mail["subject"] == "nightly" and mail["text"].strip() == "all good"


def test_twenty_concurrent_sends_inside_min_period_exactly_one_accepted(stack: Stack):
    token = stack.create_channel("burst", min_period=30)
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)

    def send(i: int) -> requests.Response:
        return requests.post(
            f"{stack.url}/v1/messages",
            headers={"X-Descriptor": "burst", "X-Token": token},
            json={"subject": f"burst {i}", "text": "x"},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(send, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [429] * 19, statuses
    for response in responses:
        if response.status_code == 429:
            assert 1 <= int(response.headers["Retry-After"]) <= 30
            assert response.json()["error"] == "rate_limited"
    assert len(stack.outbox()) == 1


def test_auth_errors_and_size_limit_over_http(stack: Stack):
    token = stack.create_channel("limits", max_size=1000)
    url = f"{stack.url}/v1/messages"
    unknown = requests.post(url, headers={"X-Descriptor": "nobody", "X-Token": token}, json={}, timeout=30)
    wrong = requests.post(url, headers={"X-Descriptor": "limits", "X-Token": "x" * 43}, json={}, timeout=30)
    assert unknown.status_code == wrong.status_code == 401 and unknown.json() == wrong.json()
    too_big = requests.post(
        url, headers={"X-Descriptor": "limits", "X-Token": token}, json={"subject": "s", "text": "x" * 2000}, timeout=30
    )
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    no_admin = requests.get(f"{stack.url}/v1/channels", timeout=30)
    assert no_admin.status_code == 401
    unknown_route = requests.get(f"{stack.url}/v1/nothing-here", timeout=30)
    assert unknown_route.status_code == 404


def test_docs_are_served(stack: Stack):
    spec = requests.get(f"{stack.url}/v1/openapi.json", timeout=30).json()
    assert "/v1/messages" in spec["paths"]
    assert "text/html" in requests.get(f"{stack.url}/v1/docs", timeout=30).headers["Content-Type"]
