"""The delivery path shared by the relay and the public forms. Each opens the channel through it (one BatchGetItem:
the channel, the providers' circuit state, the recipients' suppression entries), then calls `prepare` (drop the
suppressed recipients, compose, the envelope) and `deliver` (take the rate slots, send through the provider chain,
record the outcome) once per message.

AWS round trips of an accepted JSON send, warm container, no Idempotency-Key (README "Round trips"):
  1. BatchGetItem  channel + suppression entries of the channel's addresses (+ circuit state every CACHE_SECONDS)
  2. UpdateItem    the min_period slot (only when the channel has a min_period)
  3. SendEmail     SES (Mailgun's HTTP call instead when SES fails)
  4. PutItem       the message record, written once with its outcome
A container learns a channel's addresses from its first read; until then (or after the channel's recipients change)
the suppression entries take a second BatchGetItem.

Everything that talks to AWS comes in through `Stores`, so the rules here run against in-memory fakes in unit tests
as well as against moto.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from functools import cache
from typing import Any, Protocol

from mailrelay.config import Settings, settings
from mailrelay.dal.circuit import circuit_key, open_until_of
from mailrelay.dal.lookup import Lookup, Tables
from mailrelay.dal.messages import MessageStore
from mailrelay.dal.ratelimit import Busy, MinPeriodLimiter, Slot
from mailrelay.domain import mime
from mailrelay.domain.channels import now_iso
from mailrelay.errors import AllProvidersFailed, MessageRejected, RateLimited, RelayError
from mailrelay.models.common import Address
from mailrelay.observability import MetricUnit, logger, metrics
from mailrelay.providers import chain, circuit, configured
from mailrelay.providers.base import Deadline, Failure, Outgoing, Provider
from mailrelay.providers.circuit import Breaker

_ADDRESSES_REMEMBERED = 1024  # channels whose addresses a container remembers (a few KB)


@dataclass(frozen=True)
class Stores:
    """What delivery reads and writes, and whom it sends through."""

    lookup: Lookup
    limiter: MinPeriodLimiter
    messages: MessageStore
    breaker: Breaker
    providers: Sequence[Provider]
    retention_days: int = 30


@cache
def _stores(config: Settings) -> Stores:
    return Stores(
        lookup=Lookup(Tables(config.channels_table, config.rate_table, config.suppressions_table)),
        limiter=MinPeriodLimiter(config.rate_table),
        messages=MessageStore(config.messages_table),
        breaker=configured.breaker(config),
        providers=configured.providers(config),
        retention_days=config.message_retention_days,
    )


def stores() -> Stores:
    """This deployment's stores (built once per container from the environment)."""
    return _stores(settings())


class AllRecipientsSuppressed(RelayError):
    status = 422
    code = "all_recipients_suppressed"


class _AddressBook:
    """Per container: which addresses each channel mailed last, so the next send asks for their suppression entries
    in the same BatchGetItem as the channel itself. Kept under a key that only the channel's own credentials give
    (auth.credential_proof; a public form's name for forms): a wrong token must cost the read an unknown channel
    costs, else the larger read tells that the channel exists. Addresses and keyed digests only; nothing secret."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def clear(self) -> None:
        self._seen.clear()

    def guess(self, descriptor: str) -> tuple[str, ...]:
        return self._seen.get(descriptor, ())

    def remember(self, descriptor: str, addresses: Iterable[str]) -> None:
        self._seen[descriptor] = tuple(sorted(set(addresses)))
        self._seen.move_to_end(descriptor)
        while len(self._seen) > _ADDRESSES_REMEMBERED:
            self._seen.popitem(last=False)


ADDRESS_BOOK = _AddressBook()


def forget() -> None:
    """Drop every per-container memory of delivery: stores, addresses, circuit state (tests switch stacks)."""
    _stores.cache_clear()
    ADDRESS_BOOK.clear()
    circuit.forget()


@dataclass
class Opened:
    """A channel's item as read (None: no such channel) and what is known of its addresses' suppression."""

    descriptor: str
    item: dict[str, Any] | None
    checked: set[str] = field(default_factory=set)  # lower-cased addresses whose suppression entry was read
    suppressed: set[str] = field(default_factory=set)
    book_key: str = ""  # where the address book keeps this channel's addresses ("": the descriptor)


class ChannelReader:
    """What authentication calls to read a channel's item, keeping what the same read learnt for the send.
    `book_key`: the address book's key for this caller (None: the descriptor, for public forms)."""

    opened: Opened | None = None

    def __init__(self, book_key: str | None = None):
        self.book_key = book_key

    def __call__(self, descriptor: str) -> dict[str, Any] | None:
        self.opened = open_channel(descriptor, book_key=self.book_key)
        return self.opened.item


def open_channel(descriptor: str, store: Stores | None = None, book_key: str | None = None) -> Opened:
    """Read the channel with everything else a send needs, in one round trip."""
    store = store or stores()
    key = book_key or descriptor
    names = [p.name for p in store.providers]
    stale = store.breaker.stale(names)
    guess = ADDRESS_BOOK.guess(key)
    found = store.lookup.read(descriptor, [circuit_key(p)["key"] for p in stale], guess)
    for provider in stale:
        store.breaker.learn(provider, open_until_of(found.circuits.get(circuit_key(provider)["key"])))
    return Opened(descriptor, found.channel, set(guess), found.suppressed, key)


def keep_deliverable(
    opened: Opened, to: list[Address], cc: list[Address], bcc: list[Address], store: Stores | None = None
) -> tuple[list[Address], list[Address], list[Address], list[str]]:
    """Drop suppressed addresses from every list (reading entries not read yet); 422 when nobody is left."""
    everyone = {a.email.lower() for a in (*to, *cc, *bcc)}
    unread = everyone - opened.checked
    if unread:
        opened.suppressed |= (store or stores()).lookup.read(addresses=unread).suppressed
        opened.checked |= unread
    ADDRESS_BOOK.remember(opened.book_key or opened.descriptor, everyone)
    suppressed = opened.suppressed & everyone
    if not suppressed:
        return to, cc, bcc, []

    def kept(addresses: list[Address]) -> list[Address]:
        return [a for a in addresses if a.email.lower() not in suppressed]

    dropped = sorted({a.email for a in (*to, *cc, *bcc) if a.email.lower() in suppressed})
    if not kept(to) and not kept(cc) and not kept(bcc):
        raise AllRecipientsSuppressed(
            "every recipient of this message is on the suppression list; nothing was sent", suppressed=dropped
        )
    return kept(to), kept(cc), kept(bcc), dropped


def prepare(
    opened: Opened,
    sender: Address,
    recipients: tuple[list[Address], list[Address], list[Address]],
    compose: Callable[[mime.ChannelAddresses], Message],
    message_id: str,
    domain: str | None,
    tags: dict[str, str] | None = None,
    store: Stores | None = None,
) -> Outgoing:
    """The message, ready for the providers: suppressed recipients dropped (422 when nobody is left), the MIME
    message composed for the addresses that remain (`compose`), the envelope (Bcc in it, not in the headers)."""
    to, cc, bcc, suppressed = keep_deliverable(opened, *recipients, store=store)
    message = compose(mime.ChannelAddresses(sender, to, cc, bcc))
    return Outgoing(
        sender=mime.ascii_address(sender.email),
        to=[mime.ascii_address(a.email) for a in to],
        cc=[mime.ascii_address(a.email) for a in cc],
        bcc=[mime.ascii_address(a.email) for a in bcc],
        raw=mime.as_bytes(message),
        message_id=message_id,
        domain=domain,
        tags=tags or {},
        suppressed=suppressed,
    )


@dataclass(frozen=True)
class Limit:
    """A min-period slot to take before sending (None period or 0: no limit), refused with `refusal`."""

    key: str
    period: float
    refusal: str


class Channel(Protocol):
    """What delivery needs to know of the channel (a ChannelRecord has it)."""

    descriptor: str
    instance: str | None
    test_mode: bool
    at_least_once: bool


def deliver(
    channel: Channel, outgoing: Outgoing, deadline: Deadline, limits: Sequence[Limit], store: Stores | None = None
) -> dict[str, Any]:
    """Take every slot in `limits` (all or none), send, record the outcome once; the message status, JSON-ready.

    A refusal (429), a rejection (422) or a failure (502) gives the slots back, unless the message may have gone
    out (a provider did not answer): then the slots stand, so a retry cannot double-send inside the period.
    """
    store = store or stores()
    now = time.time()
    taken = _take(store.limiter, limits, now)
    record: dict[str, Any] = {
        "id": outgoing.message_id,
        "status": "sent",
        "provider_used": None,
        "providers": [],
        "created_at": now_iso(now),
        "test_mode": channel.test_mode,
        "suppressed": outgoing.suppressed,
    }
    try:
        if channel.test_mode:
            logger.info("test mode: message recorded, not sent", extra={"message_id": outgoing.message_id})
        else:
            delivered = chain.send(store.providers, outgoing, deadline, store.breaker, channel.at_least_once)
            record["provider_used"] = delivered.provider
            record["providers"] = delivered.attempts
    except chain.Undelivered as undelivered:
        if undelivered.failure is not Failure.UNKNOWN:
            _give_back(store.limiter, taken)
        record.update(status="failed", providers=undelivered.attempts)
        _record(store, channel, _json(record), now)
        raise _failure(outgoing.message_id, undelivered) from None
    except BaseException:
        _give_back(store.limiter, taken)
        raise
    status = _json(record)
    _record(store, channel, status, now)
    metrics.add_metric(name="MessageAccepted", unit=MetricUnit.Count, value=1)
    logger.info("message accepted", extra={"message_id": outgoing.message_id, "provider": record["provider_used"]})
    return status


def _take(limiter: MinPeriodLimiter, limits: Sequence[Limit], now: float) -> list[Slot]:
    taken: list[Slot] = []
    for limit in limits:
        if limit.period <= 0:
            continue
        try:
            taken.append(limiter.take(limit.key, limit.period, now))
        except Busy as busy:
            _give_back(limiter, taken)
            metrics.add_metric(name="RateLimited", unit=MetricUnit.Count, value=1)
            raise RateLimited(limit.refusal, busy.retry_after) from None
    return taken


def _give_back(limiter: MinPeriodLimiter, taken: list[Slot]) -> None:
    for slot in reversed(taken):
        limiter.give_back(slot)


def _record(store: Stores, channel: Channel, record: dict[str, Any], now: float) -> None:
    """One write per message. Should it fail after the mail went out, the caller still hears the truth (sent), and
    the lost record is logged and counted rather than turned into an error that invites a duplicate send."""
    item = {
        **record,
        "descriptor": channel.descriptor,
        "channel_instance": channel.instance,
        "expires_at": int(now) + store.retention_days * 86_400,
    }
    try:
        store.messages.put(item)
    except Exception:
        if record["status"] != "sent":
            raise
        metrics.add_metric(name="MessageRecordLost", unit=MetricUnit.Count, value=1)
        logger.exception("message sent but its record could not be written", extra={"message_id": record["id"]})


def _attempts(attempts: Sequence[Any]) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json", exclude_none=True) for a in attempts]


def _json(record: dict[str, Any]) -> dict[str, Any]:
    """The message status as the API returns it (attempts without their empty fields)."""
    return {**record, "providers": _attempts(record["providers"])}


def _failure(message_id: str, undelivered: chain.Undelivered) -> RelayError:
    attempts = _attempts(undelivered.attempts)
    if undelivered.failure is Failure.MESSAGE:
        metrics.add_metric(name="MessageRejected", unit=MetricUnit.Count, value=1)
        reason = undelivered.attempts[-1].error or "rejected"
        return MessageRejected(
            f"the provider refused the message: {reason}", id=message_id, status="failed", providers=attempts
        )
    metrics.add_metric(name="AllProvidersFailed", unit=MetricUnit.Count, value=1)
    if undelivered.failure is Failure.UNKNOWN:
        return AllProvidersFailed(
            "a provider did not answer in time; the message may or may not have been sent",
            id=message_id,
            status="failed",
            providers=attempts,
        )
    return AllProvidersFailed("no provider could send the message", id=message_id, status="failed", providers=attempts)
