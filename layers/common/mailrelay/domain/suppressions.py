"""One suppression list for every provider: bounced or complaining addresses are never mailed again, whichever
provider learnt of it, until an admin removes them."""

from __future__ import annotations

from email_validator import EmailNotValidError

from mailrelay.config import settings
from mailrelay.dal.suppressions import SuppressionStore
from mailrelay.domain.channels import now_iso
from mailrelay.errors import InvalidBody, NotFound
from mailrelay.models.common import sendable_email
from mailrelay.models.suppressions import Suppression, SuppressionPage


def store() -> SuppressionStore:
    return SuppressionStore(settings().suppressions_table)


def normalize(address: str) -> str:
    """The key an address is suppressed under: email-validator's normal form, lower-cased."""
    try:
        return sendable_email(address).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidBody(f"invalid email address: {exc}", error="invalid_address") from None


def add(address: str, reason: str, source: str) -> tuple[Suppression, bool]:
    """Suppress; (entry, created). An existing entry is kept as it was (its first reason stands)."""
    key = normalize(address)
    entry = Suppression(address=key, reason=reason, source=source, created_at=now_iso())
    existing = store().put_if_absent(entry.model_dump())
    return (entry, True) if existing is None else (Suppression.model_validate(existing), False)


def get(address: str) -> Suppression:
    item = store().get(normalize(address))
    if item is None:
        raise NotFound("this address is not suppressed", error="not_suppressed")
    return Suppression.model_validate(item)


def remove(address: str) -> None:
    if not store().delete(normalize(address)):
        raise NotFound("this address is not suppressed", error="not_suppressed")


def list_page(limit: int, cursor: str | None) -> SuppressionPage:
    items, next_cursor = store().page(limit, cursor)
    return SuppressionPage(suppressions=[Suppression.model_validate(i) for i in items], next_cursor=next_cursor)


def is_suppressed(address: str) -> bool:
    return store().get(address.lower()) is not None
