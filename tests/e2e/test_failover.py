"""Watching the failover happen on the local stack: PUT /_local/faults, then send over HTTP."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import Stack


def faults(stack: Stack, **state) -> None:
    response = requests.put(f"{stack.url}/_local/faults", json=state, timeout=30)
    assert response.status_code == 200, response.text


def send(stack: Stack, token: str, name: str, **headers) -> requests.Response:
    return requests.post(
        f"{stack.url}/v1/messages",
        json={"subject": "failover", "text": "hello"},
        timeout=60,
        headers={"X-Descriptor": name, "X-Token": token, **headers},
    )


_counter = iter(range(1_000_000))


@pytest.fixture
def named(stack: Stack):
    """A fresh channel, an empty outbox, and no faults afterwards."""
    name = f"failover-{next(_counter)}"
    token = stack.create_channel(name)
    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    yield name, token
    faults(stack)


@pytest.mark.parametrize("fault", ["down", "throttle", "quota", "paused"])
def test_ses_trouble_falls_over_to_mailgun(stack: Stack, named, fault):
    name, token = named
    faults(stack, ses=fault)
    response = send(stack, token, name)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider_used"] == "mailgun"
    assert body["providers"][0]["provider"] == "ses" and body["providers"][0]["outcome"] == "failed"
    [mail] = stack.outbox()
    assert mail["provider"] == "mailgun" and mail["to"] == ["team@example.com"] and mail["subject"] == "failover"


def test_ses_reject_is_4xx_and_nothing_is_sent(stack: Stack, named):
    name, token = named
    faults(stack, ses="reject")
    response = send(stack, token, name)
    assert response.status_code == 422 and response.json()["error"] == "message_rejected"
    assert [p["provider"] for p in response.json()["providers"]] == ["ses"]
    assert stack.outbox() == []


def test_both_down_is_502_and_the_message_is_failed_then_ses_again(stack: Stack, named):
    name, token = named
    faults(stack, ses="down", mailgun="down")
    response = send(stack, token, name)
    assert response.status_code == 502
    body = response.json()
    assert [(p["provider"], p["outcome"]) for p in body["providers"]] == [("ses", "failed"), ("mailgun", "failed")]
    status = requests.get(
        f"{stack.url}/v1/messages/{body['id']}", timeout=30, headers={"X-Descriptor": name, "X-Token": token}
    )
    assert status.json()["status"] == "failed"
    assert stack.outbox() == []
    faults(stack, ses=None, mailgun=None)
    again = send(stack, token, name)
    assert again.status_code == 200 and again.json()["provider_used"] == "ses"
    assert [m["provider"] for m in stack.outbox()] == ["ses"]


def test_circuit_opens_and_skips_ses(stack: Stack, named):
    name, token = named
    faults(stack, ses="down")
    for _ in range(3):
        assert send(stack, token, name).json()["providers"][0]["outcome"] == "failed"
    skipped = send(stack, token, name).json()
    assert skipped["providers"][0]["outcome"] == "skipped" and skipped["provider_used"] == "mailgun"


def test_ten_concurrent_requests_with_one_idempotency_key(stack: Stack, named):
    name, token = named
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: send(stack, token, name, **{"Idempotency-Key": "order-7"}), range(10)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert len(stack.outbox()) == 1


def test_faults_are_validated(stack: Stack):
    bad = requests.put(f"{stack.url}/_local/faults", json={"ses": "melting"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_faults"
    assert requests.get(f"{stack.url}/_local/faults", timeout=30).json() == {"ses": None, "mailgun": None}
