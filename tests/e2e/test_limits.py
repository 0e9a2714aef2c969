"""The body limits as a real deployment has them: the local gateway base64-encodes non-text bodies and applies
Lambda's 6,291,456-byte invocation limit to the event afterwards, exactly as API Gateway and Lambda do."""

import pytest
import requests
from mailrelay_client import Client, MailrelayError

from mailrelay.limits import ceiling
from tests.e2e.conftest import Stack

RAW = "message/rfc822"


def raw_message(size: int) -> bytes:
    head = b"Subject: big\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    line = b"x" * 74 + b"\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    return (head + body)[:size]


def post_raw(stack: Stack, token: str, data: bytes) -> requests.Response:
    headers = {"X-Descriptor": "big", "X-Token": token, "Content-Type": RAW}
    return requests.post(f"{stack.url}/v1/messages", data=data, headers=headers, timeout=120)


def test_raw_messages_up_to_the_base64_ceiling_go_out_and_above_it_get_our_413(stack: Stack):
    token = stack.create_channel("big")  # max_size 5,000,000: more than a raw request can carry
    limit = ceiling(RAW)
    assert 4_600_000 < limit < 4_700_000  # (6,291,456 - event reserve) * 3/4

    largest = post_raw(stack, token, raw_message(limit))
    assert largest.status_code == 200, largest.text[:300]

    over = post_raw(stack, token, raw_message(limit + 1))
    assert over.status_code == 413 and over.headers["Content-Type"] == "application/json"
    assert over.json()["error"] == "payload_too_large" and f"{limit:,}" in over.json()["message"]


def test_a_5_mb_raw_message_gets_what_api_gateway_answers(stack: Stack):
    """5,000,000 raw bytes are 6,666,668 in base64: Lambda refuses the event before any code runs, so the answer is
    API Gateway's own bare 413 - the same here as in AWS (clients should check `ceiling()` first)."""
    token = stack.create_channel("five-mb")
    response = requests.post(
        f"{stack.url}/v1/messages",
        data=raw_message(5_000_000),
        headers={"X-Descriptor": "five-mb", "X-Token": token, "Content-Type": RAW},
        timeout=120,
    )
    assert response.status_code == 413 and response.json() == {"message": "Request Entity Too Large"}
    client = Client(stack.url, descriptor="five-mb", token=token)
    with pytest.raises(MailrelayError) as refused:  # the client knows the ceiling and says it before sending
        client.send_raw(raw_message(5_000_000))
    assert refused.value.status == 413 and f"{ceiling(RAW):,}" in refused.value.message


def test_json_bodies_are_not_base64_encoded_so_they_reach_the_channel_max_size(stack: Stack):
    token = stack.create_channel("json-big", max_size=5_500_000)
    text = "y" * 5_200_000  # over the raw ceiling, under the JSON one
    response = requests.post(
        f"{stack.url}/v1/messages",
        json={"subject": "large json", "text": text},
        headers={"X-Descriptor": "json-big", "X-Token": token},
        timeout=120,
    )
    assert response.status_code == 200, response.text[:300]
