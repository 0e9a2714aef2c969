"""Contact forms over HTTP against the local stack: the documented flow, single-use nonces under concurrency,
and the demo page (`GET /`)."""

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import Stack

SECRET = "e2e-page-secret-0123456789"
ORIGIN = "https://www.example.com"


@pytest.fixture(scope="module")
def form(stack: Stack) -> str:
    body = {
        "sender": "noreply@example.com",
        "recipients": ["team@example.com"],
        "form": {"allowed_origins": [ORIGIN], "require_nonce": True, "secret": SECRET},
    }
    response = requests.put(f"{stack.url}/v1/channels/e2e-form", json=body, headers=stack.admin, timeout=30)
    assert response.status_code == 201, response.text
    return "e2e-form"


def fields(stack: Stack, form: str) -> dict:
    issued = requests.get(f"{stack.url}/v1/nonce", params={"form": form}, headers={"Origin": ORIGIN}, timeout=30)
    assert issued.status_code == 200, issued.text
    nonce = issued.json()["nonce"]
    return {
        "email": "visitor@example.org",
        "name": "Vis",
        "message": "Hi!",
        "budget": "1000 EUR",
        "nonce": nonce,
        "hash": hashlib.sha256((nonce + SECRET).encode()).hexdigest(),
    }


def test_documented_flow_over_http(stack: Stack, form):
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    response = requests.post(
        f"{stack.url}/v1/forms/{form}", json=fields(stack, form), headers={"Origin": ORIGIN}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True and response.json()["id"]
    [mail] = stack.outbox()
    assert mail["reply_to"] == "Vis <visitor@example.org>" and "budget: 1000 EUR" in mail["text"]


def test_ten_concurrent_uses_of_one_nonce_exactly_one_accepted(stack: Stack, form):
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    body = fields(stack, form)

    def post(_):
        return requests.post(f"{stack.url}/v1/forms/{form}", json=body, headers={"Origin": ORIGIN}, timeout=60)

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(r.status_code for r in pool.map(post, range(10)))
    assert statuses == [200] + [403] * 9, statuses
    assert len(stack.outbox()) == 1


def test_demo_page_is_served_and_wired(stack: Stack):
    page = requests.get(f"{stack.url}/", timeout=30)
    assert page.status_code == 200 and 'data-mailrelay-form="demo-contact"' in page.text
    assert f'data-mailrelay-api="{stack.url}"' in page.text and "{{" not in page.text
    script = requests.get(f"{stack.url}/mailrelay-form.js", timeout=30)
    assert script.status_code == 200 and "crypto.subtle.digest" in script.text
