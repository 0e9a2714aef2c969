"""Suppression happening end to end on the local stack: the local providers report bounce@ and complaint@
recipients the way SES (SNS notification) and Mailgun (signed webhook) do."""

import time

import requests

from tests.e2e.conftest import Stack


def wait_for(check, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def suppression(stack: Stack, address: str):
    response = requests.get(f"{stack.url}/v1/suppressions/{address}", headers=stack.admin, timeout=30)
    return response.json() if response.status_code == 200 else None


def test_ses_bounce_suppresses_and_the_next_send_skips_the_address(stack: Stack):
    token = stack.create_channel("bouncy", recipients=["bounce@example.com", "team@example.com"])
    channel = {"X-Descriptor": "bouncy", "X-Token": token}
    first = requests.post(f"{stack.url}/v1/messages", headers=channel, json={"subject": "1", "text": "x"}, timeout=30)
    assert first.status_code == 200 and first.json()["provider_used"] == "ses"
    entry = wait_for(lambda: suppression(stack, "bounce@example.com"))
    assert (entry["reason"], entry["source"]) == ("bounce", "ses")
    status = wait_for(
        lambda: (
            requests.get(f"{stack.url}/v1/messages/{first.json()['id']}", headers=channel, timeout=30).json()["status"]
            == "bounced"
        )
    )
    assert status
    second = requests.post(f"{stack.url}/v1/messages", headers=channel, json={"subject": "2", "text": "x"}, timeout=30)
    assert second.status_code == 200 and second.json()["suppressed"] == ["bounce@example.com"]
    requests.delete(f"{stack.url}/v1/suppressions/bounce@example.com", headers=stack.admin, timeout=30)


def test_mailgun_complaint_reaches_the_same_list(stack: Stack):
    token = stack.create_channel("complainy", recipients=["complaint@example.com"])
    requests.put(f"{stack.url}/_local/faults", json={"ses": "down"}, timeout=30)
    try:
        sent = requests.post(
            f"{stack.url}/v1/messages",
            json={"subject": "hi", "text": "x"},
            timeout=30,
            headers={"X-Descriptor": "complainy", "X-Token": token},
        )
        assert sent.status_code == 200 and sent.json()["provider_used"] == "mailgun"
    finally:
        requests.put(f"{stack.url}/_local/faults", json={}, timeout=30)
    entry = wait_for(lambda: suppression(stack, "complaint@example.com"))
    assert (entry["reason"], entry["source"]) == ("complaint", "mailgun")
    again = requests.post(
        f"{stack.url}/v1/messages",
        json={"subject": "again", "text": "x"},
        timeout=30,
        headers={"X-Descriptor": "complainy", "X-Token": token},
    )
    assert again.status_code == 422 and again.json()["error"] == "all_recipients_suppressed"
