"""Channel administration: create/replace, read, list, delete, rotate (and the mailgun-relayery shapes)."""

from __future__ import annotations

import copy
import math
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from mailrelay import limits
from mailrelay.config import settings
from mailrelay.dal.channels import ChannelStore
from mailrelay.domain import tokens
from mailrelay.errors import NotFound
from mailrelay.models.channels import (
    AddressOut,
    ChannelPage,
    ChannelSpec,
    ChannelView,
    ChannelWithToken,
    RelayeryChannelPage,
    TokenResponse,
)
from mailrelay.models.forms import FormSettings, FormSettingsView
from mailrelay.providers import ses


class ChannelRecord(BaseModel):
    """What the channels table holds for one channel. Addresses are read as stored (checked when they were written):
    a rule made stricter later must not turn an existing channel into a 500 on every read; a send to an address
    that can no longer go out is a 422 (mime.ascii_address)."""

    descriptor: str
    sender: AddressOut
    recipients: list[AddressOut]
    cc: list[AddressOut] = []
    bcc: list[AddressOut] = []
    min_period: float = 0.0
    max_size: int
    domain: str | None = None
    test_mode: bool = False
    at_least_once: bool = False
    form: FormSettings | None = None
    created_at: str
    updated_at: str
    token: tokens.TokenHash
    previous_token: tokens.TokenHash | None = None
    previous_token_until: float | None = None
    # This channel's life: made when the descriptor is created, kept when it is replaced. A message record carries
    # it, so a deleted channel's messages stay unreadable to a new channel of the same name (None: made before).
    instance: str | None = None

    def view(self) -> ChannelView:
        data = self.model_dump(include=set(ChannelView.model_fields) - {"form"})
        if self.form is not None:
            data["form"] = FormSettingsView(
                **self.form.model_dump(exclude={"secret", "captcha"}),
                captcha_provider=self.form.captcha.provider if self.form.captcha else None,
            )
        return ChannelView.model_validate(data)

    def accepts(self, token: str, now: float) -> bool:
        current = tokens.matches(token, self.token)
        previous = False
        if self.previous_token is not None and (self.previous_token_until or 0) > now:
            previous = tokens.matches(token, self.previous_token)
        return current or previous


def now_iso(now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(), UTC).isoformat(timespec="seconds")


def store() -> ChannelStore:
    return ChannelStore(settings().channels_table)


_PARSED: OrderedDict[str, tuple[dict[str, Any], ChannelRecord]] = OrderedDict()
_PARSED_MAX = 256


def record_of(item: dict[str, Any]) -> ChannelRecord:
    """The channel an item holds. A container keeps the last few it validated: an unchanged item (compared whole, so
    a rotated token or any edit is seen at once) is not validated again on every send."""
    descriptor = item.get("descriptor", "")
    cached = _PARSED.get(descriptor)
    if cached is not None and cached[0] == item:
        return cached[1]
    record = ChannelRecord.model_validate(item)
    _PARSED[descriptor] = (copy.deepcopy(item), record)
    _PARSED.move_to_end(descriptor)
    while len(_PARSED) > _PARSED_MAX:
        _PARSED.popitem(last=False)
    return record


def load(descriptor: str) -> ChannelRecord | None:
    item = store().get(descriptor)
    return record_of(item) if item else None


def put_channel(descriptor: str, spec: ChannelSpec) -> tuple[ChannelWithToken, bool]:
    """Create (generating a token unless one is given) or replace (keeping the token unless one is given)."""
    while True:
        existing = load(descriptor)
        stamp = now_iso()
        fields = spec.model_dump(exclude={"token", "descriptor"})
        new_token = spec.token or (None if existing else tokens.generate())
        record = ChannelRecord(
            descriptor=descriptor,
            **fields,
            created_at=existing.created_at if existing else stamp,
            updated_at=stamp,
            token=tokens.hash_token(new_token) if new_token else existing.token,  # type: ignore[union-attr]
            previous_token=existing.previous_token if existing and not new_token else None,
            previous_token_until=existing.previous_token_until if existing and not new_token else None,
            instance=existing.instance if existing else uuid.uuid4().hex,
        )
        item = record.model_dump(mode="json")
        saved = store().replace(item) if existing else store().create(item)
        if saved:
            view = record.view().model_dump()
            return ChannelWithToken(**view, token=new_token, warnings=warnings(spec) or None), existing is None
        # A concurrent create or delete changed the picture: decide again on fresh state.


def warnings(spec: ChannelSpec) -> list[str]:
    """What a real deployment would refuse about this channel, said when it is saved rather than on its first send."""
    found = []
    status = ses.identity_status(spec.sender.email)
    if status != "SUCCESS":
        said = f"its status is {status}" if status else "SES could not be asked"
        found.append(
            f"the sender {spec.sender.email} is not verified in SES ({said}): SES refuses this channel's mail, which "
            "then goes to the next provider only; verify the address or its domain (README: Deploy)"
        )
    raw_ceiling = limits.ceiling("message/rfc822")
    if "max_size" in spec.model_fields_set and spec.max_size > raw_ceiling:  # chosen, not the default
        found.append(
            f"max_size {spec.max_size:,} is above what one raw (message/rfc822) or multipart request can carry through "
            f"API Gateway and Lambda ({raw_ceiling:,} bytes, base64-encoded on the way): such requests get 413 above it"
        )
    return found


def get_channel(descriptor: str) -> ChannelView:
    record = load(descriptor)
    if record is None:
        raise NotFound(f"no channel named {descriptor!r}", error="channel_not_found")
    return record.view()


def list_channels(limit: int, cursor: str | None) -> ChannelPage:
    items, next_cursor = store().page(limit, cursor)
    return ChannelPage(
        channels=[ChannelRecord.model_validate(i).view() for i in items],
        next_cursor=next_cursor,
    )


def all_records() -> list[ChannelRecord]:
    """Every channel, sorted by descriptor (reads the whole table: admin use only)."""
    return sorted((ChannelRecord.model_validate(i) for i in store().all()), key=lambda r: r.descriptor)


def list_channels_paged(page: int, per_page: int) -> RelayeryChannelPage:
    """mailgun-relayery's numbered pages (sorted by descriptor)."""
    records = all_records()
    start = (page - 1) * per_page
    return RelayeryChannelPage(
        page=page,
        page_count=math.ceil(len(records) / per_page),
        per_page=per_page,
        channels=[r.view() for r in records[start : start + per_page]],
    )


def delete_channel(descriptor: str) -> None:
    if not store().delete(descriptor):
        raise NotFound(f"no channel named {descriptor!r}", error="channel_not_found")


def rotate_token(descriptor: str, grace_seconds: int) -> TokenResponse:
    while True:
        record = load(descriptor)
        if record is None:
            raise NotFound(f"no channel named {descriptor!r}", error="channel_not_found")
        now = time.time()
        new_token = tokens.generate()
        rotated = record.model_copy(
            update={
                "token": tokens.hash_token(new_token),
                "previous_token": record.token if grace_seconds > 0 else None,
                "previous_token_until": now + grace_seconds if grace_seconds > 0 else None,
                "updated_at": now_iso(now),
            }
        )
        if store().replace(rotated.model_dump(mode="json")):
            until = now_iso(now + grace_seconds) if grace_seconds > 0 else None
            return TokenResponse(token=new_token, previous_token_valid_until=until)
