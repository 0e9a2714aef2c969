"""The delivery rules against in-memory stores (the same paths run against moto in tests/integration): which reads a
send makes, slots taken all-or-none and given back unless the mail may be out, one record per message, the circuit
state a container reuses for a moment."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mailrelay.dal import lookup
from mailrelay.dal.lookup import Found
from mailrelay.dal.ratelimit import Busy, Slot
from mailrelay.domain import delivery, mime
from mailrelay.errors import AllProvidersFailed, MessageRejected, RateLimited
from mailrelay.models.common import Address
from mailrelay.models.messages import MessageRequest
from mailrelay.providers.base import Deadline, Failure, Outgoing, ProviderError
from mailrelay.providers.circuit import Breaker, BreakerSettings


@dataclass
class FakeLookup:
    channels: dict[str, dict] = field(default_factory=dict)
    circuits: dict[str, dict] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)
    calls: list[tuple] = field(default_factory=list)

    def read(self, descriptor=None, circuit_keys=(), addresses=()) -> Found:
        circuit_keys, addresses = list(circuit_keys), sorted(addresses)
        self.calls.append((descriptor, circuit_keys, addresses))
        return Found(
            channel=self.channels.get(descriptor) if descriptor else None,
            circuits={k: self.circuits[k] for k in circuit_keys if k in self.circuits},
            suppressed={a for a in addresses if a in self.suppressed},
        )


@dataclass
class FakeLimiter:
    held: dict[str, float] = field(default_factory=dict)
    given_back: list[str] = field(default_factory=list)

    def take(self, key: str, period: float, now: float) -> Slot:
        if self.held.get(key, 0) > now:
            raise Busy(int(self.held[key] - now) + 1)
        self.held[key] = now + period
        return Slot(key=key, next_at=now + period, previous_next_at=None)  # type: ignore[arg-type]

    def give_back(self, slot: Slot) -> None:
        self.given_back.append(slot.key)
        self.held.pop(slot.key, None)


@dataclass
class FakeMessages:
    records: list[dict] = field(default_factory=list)
    broken: bool = False

    def put(self, record: dict[str, Any]) -> None:
        if self.broken:
            raise RuntimeError("DynamoDB is unavailable")
        self.records.append(record)


@dataclass
class FakeCircuitStore:
    table_name: str = "rate"
    failures: int = 0
    opened_until: float = 0.0
    reads: int = 0

    def open_until(self, provider: str) -> float:
        self.reads += 1
        return self.opened_until

    def count_failure(self, provider: str, now: float, window: float) -> int:
        self.failures += 1
        return self.failures

    def open(self, provider: str, now: float, until: float) -> bool:
        self.opened_until = until
        return True


class FakeProvider:
    def __init__(self, name: str, failure: Failure | None = None):
        self.name, self.failure, self.sent = name, failure, []

    def configured(self) -> bool:
        return True

    def send(self, message: Outgoing, deadline: Deadline) -> str:
        if self.failure is not None:
            raise ProviderError(self.failure, f"{self.name} says no")
        self.sent.append(message)
        return f"{self.name}-id"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_memory():
    delivery.forget()
    yield
    delivery.forget()


def make_stores(*providers: FakeProvider, clock: Clock | None = None, **lookup: Any) -> delivery.Stores:
    clock = clock or Clock()
    return delivery.Stores(
        lookup=FakeLookup(**lookup),  # type: ignore[arg-type]
        limiter=FakeLimiter(),  # type: ignore[arg-type]
        messages=FakeMessages(),  # type: ignore[arg-type]
        breaker=Breaker(FakeCircuitStore(), BreakerSettings(cache_seconds=2.0), monotonic=clock),  # type: ignore[arg-type]
        providers=list(providers) or [FakeProvider("ses")],
        retention_days=30,
    )


CHANNEL = SimpleNamespace(descriptor="site", instance="i-1", test_mode=False, at_least_once=False)
OUTGOING = Outgoing(sender="a@example.com", to=["b@example.com"], cc=[], bcc=[], raw=b"x", message_id="m-1")


def limits(*periods: float) -> list[delivery.Limit]:
    return [delivery.Limit(f"key{i}", p, f"limit {i}") for i, p in enumerate(periods)]


def test_an_accepted_message_is_sent_once_and_recorded_once_with_its_outcome():
    stores = make_stores()
    status = delivery.deliver(CHANNEL, OUTGOING, Deadline(10), limits(0, 30), stores)
    assert status["status"] == "sent" and status["provider_used"] == "ses" and status["id"] == "m-1"
    assert status["providers"] == [{"provider": "ses", "outcome": "sent", "provider_message_id": "ses-id"}]
    assert len(stores.providers[0].sent) == 1
    [record] = stores.messages.records
    assert record["status"] == "sent" and record["descriptor"] == "site" and record["expires_at"] > 0
    assert record["channel_instance"] == "i-1"  # a later channel of the same name cannot read it
    assert set(stores.limiter.held) == {"key1"}  # a zero period takes no slot


def test_slots_are_all_or_none_a_busy_one_gives_back_those_taken_and_nothing_is_sent():
    stores = make_stores()
    stores.limiter.held["key1"] = 10**12  # the second limit is busy
    with pytest.raises(RateLimited):
        delivery.deliver(CHANNEL, OUTGOING, Deadline(10), limits(5, 5), stores)
    assert stores.limiter.given_back == ["key0"]
    assert stores.providers[0].sent == [] and stores.messages.records == []


def test_a_rejected_message_gives_the_slots_back_and_is_recorded_failed():
    stores = make_stores(FakeProvider("ses", Failure.MESSAGE))
    with pytest.raises(MessageRejected) as raised:
        delivery.deliver(CHANNEL, OUTGOING, Deadline(10), limits(5), stores)
    assert raised.value.status == 422
    assert stores.limiter.given_back == ["key0"]
    assert [r["status"] for r in stores.messages.records] == ["failed"]


def test_when_the_mail_may_be_out_the_slots_stand():
    stores = make_stores(FakeProvider("ses", Failure.UNKNOWN))
    with pytest.raises(AllProvidersFailed):
        delivery.deliver(CHANNEL, OUTGOING, Deadline(10), limits(5), stores)
    assert stores.limiter.given_back == [] and "key0" in stores.limiter.held


def test_a_provider_failure_falls_over_to_the_next_provider():
    stores = make_stores(FakeProvider("ses", Failure.PROVIDER), FakeProvider("mailgun"))
    status = delivery.deliver(CHANNEL, OUTGOING, Deadline(10), [], stores)
    assert status["provider_used"] == "mailgun"
    assert [a["outcome"] for a in status["providers"]] == ["failed", "sent"]


def test_a_record_that_cannot_be_written_after_the_send_does_not_turn_the_send_into_an_error():
    stores = make_stores()
    stores.messages.broken = True
    assert delivery.deliver(CHANNEL, OUTGOING, Deadline(10), limits(5), stores)["status"] == "sent"
    assert stores.limiter.given_back == []  # it went out: the slot stands


def test_test_mode_records_and_sends_nothing():
    stores = make_stores()
    status = delivery.deliver(
        SimpleNamespace(**{**vars(CHANNEL), "test_mode": True}), OUTGOING, Deadline(10), [], stores
    )
    assert status["status"] == "sent" and status["provider_used"] is None and status["test_mode"] is True
    assert stores.providers[0].sent == [] and len(stores.messages.records) == 1


def test_one_read_for_channel_circuit_and_the_addresses_this_container_saw_the_channel_use():
    clock = Clock()
    stores = make_stores(clock=clock, channels={"site": {"descriptor": "site"}}, suppressed={"gone@example.com"})
    team, gone = Address(email="Team@Example.com"), Address(email="gone@example.com")

    first = delivery.open_channel("site", stores)  # cold: channel and circuit; addresses not known yet
    assert stores.lookup.calls == [("site", ["circuit#ses"], [])]
    to, _, _, dropped = delivery.keep_deliverable(first, [team, gone], [], [], stores)
    assert [a.email for a in to] == [team.email] and dropped == ["gone@example.com"]
    assert stores.lookup.calls[-1] == (None, [], ["gone@example.com", "team@example.com"])  # the second read

    stores.lookup.calls.clear()
    clock.now += 1  # circuit state still fresh
    warm = delivery.open_channel("site", stores)
    assert stores.lookup.calls == [("site", [], ["gone@example.com", "team@example.com"])]
    delivery.keep_deliverable(warm, [team, gone], [], [], stores)
    assert len(stores.lookup.calls) == 1  # everything came with the channel

    clock.now += 2  # circuit state is stale again: it rides along in the same read
    delivery.open_channel("site", stores)
    assert stores.lookup.calls[-1] == ("site", ["circuit#ses"], ["gone@example.com", "team@example.com"])


def test_nobody_left_is_a_422_and_nothing_is_sent():
    stores = make_stores(channels={"site": {}}, suppressed={"gone@example.com"})
    opened = delivery.open_channel("site", stores)
    with pytest.raises(delivery.AllRecipientsSuppressed) as raised:
        delivery.keep_deliverable(opened, [Address(email="gone@example.com")], [], [], stores)
    assert raised.value.status == 422


def test_the_breaker_uses_the_state_the_send_read_and_learns_what_it_opens():
    clock = Clock()
    store = FakeCircuitStore()
    breaker = Breaker(
        store, BreakerSettings(failure_threshold=2, cache_seconds=2.0), clock=lambda: 5000.0, monotonic=clock
    )
    assert breaker.stale(["ses"]) == ["ses"]
    breaker.learn("ses", 0.0)
    assert breaker.stale(["ses"]) == [] and breaker.open_until("ses") is None and store.reads == 0
    breaker.failed("ses")
    breaker.failed("ses")  # the threshold: opened, and this container knows at once
    assert breaker.open_until("ses") == 5060.0 and store.reads == 0
    clock.now += 2
    assert breaker.stale(["ses"]) == ["ses"]


def test_prepare_composes_for_the_recipients_left_and_keeps_bcc_in_the_envelope_only():
    stores = make_stores(channels={"site": {}}, suppressed={"gone@example.com"})
    opened = delivery.open_channel("site", stores)
    seen = []

    def compose(who):
        seen.append(who)
        return mime.compose(who, MessageRequest.model_validate({"subject": "s", "text": "t"}), "m-9")

    to = [Address(email="team@example.com"), Address(email="gone@example.com")]
    bcc = [Address(email="audit@example.com")]
    outgoing = delivery.prepare(opened, Address(email="a@example.com"), (to, [], bcc), compose, "m-9", None, {}, stores)
    assert [a.email for a in seen[0].to] == ["team@example.com"]
    assert outgoing.to == ["team@example.com"] and outgoing.bcc == ["audit@example.com"]
    assert outgoing.suppressed == ["gone@example.com"]
    assert b"audit@example.com" not in outgoing.raw and b"team@example.com" in outgoing.raw


def test_unprocessed_keys_are_asked_again_with_backoff_and_never_dropped(monkeypatch):
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    tables = lookup.Tables("channels", "rate", "suppressions")
    key = {"descriptor": {"S": "site"}}
    asked = {"channels": {"Keys": [key], "ConsistentRead": True}}
    monkeypatch.setattr(lookup.time, "sleep", lambda seconds: None)
    with Stubber(client) as stub:
        stub.add_response("batch_get_item", {"Responses": {}, "UnprocessedKeys": asked}, {"RequestItems": asked})
        stub.add_response("batch_get_item", {"Responses": {"channels": [key]}}, {"RequestItems": asked})
        assert lookup.Lookup(tables, client).read("site").channel == {"descriptor": "site"}
        stub.assert_no_pending_responses()
        for _ in range(lookup._ATTEMPTS):  # throttled for good: an error, not a channel that seems not to exist
            stub.add_response("batch_get_item", {"Responses": {}, "UnprocessedKeys": asked}, {"RequestItems": asked})
        with pytest.raises(lookup.LookupThrottled):
            lookup.Lookup(tables, client).read("site")
        stub.assert_no_pending_responses()
