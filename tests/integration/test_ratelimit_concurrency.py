"""The min_period slot is one conditional write: under real concurrency (the local stack's moto server, 20 threads
released at once by a barrier) exactly one caller wins, and giving a slot back never clobbers a later winner.
A read-then-write limiter fails the first test (checked by hand: 3 of 3 runs)."""

import threading
import time

import boto3
import pytest

from local.aws import MotoServer, provision
from local.template import Template
from mailrelay import aws
from mailrelay.dal.ratelimit import Busy, MinPeriodLimiter


@pytest.fixture
def rate_table(monkeypatch):
    server = MotoServer().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    aws.clear_caches()
    local = provision(Template(), server.endpoint, {"SenderDomain": ""}, "k" * 32)
    yield local.refs["RateTable"]
    aws.clear_caches()
    server.stop()


def test_twenty_simultaneous_takes_one_winner(rate_table):
    limiter = MinPeriodLimiter(rate_table)
    barrier = threading.Barrier(20)
    outcomes: list[object] = []

    def contend():
        barrier.wait()
        try:
            outcomes.append(limiter.take("channel#burst", 30.0, time.time()))
        except Busy as busy:
            outcomes.append(busy)

    threads = [threading.Thread(target=contend) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if not isinstance(o, Busy)]
    assert len(winners) == 1
    assert all(1 <= o.retry_after <= 30 for o in outcomes if isinstance(o, Busy))


def test_give_back_restores_the_slot_but_not_over_a_newer_one(rate_table):
    limiter = MinPeriodLimiter(rate_table)
    now = time.time()
    slot = limiter.take("k", 30.0, now)
    limiter.give_back(slot)
    second = limiter.take("k", 30.0, now + 1)  # free again after the give-back
    with pytest.raises(Busy):
        limiter.take("k", 30.0, now + 2)
    limiter.give_back(slot)  # stale: the slot is `second`'s now, and stays taken
    with pytest.raises(Busy):
        limiter.take("k", 30.0, now + 3)
    assert limiter.take("k", 30.0, now + 32).next_at > second.next_at  # period over: free
    dynamodb = boto3.resource("dynamodb")
    assert dynamodb.Table(rate_table).get_item(Key={"key": "k"})["Item"]["expires_at"] > now + 60
