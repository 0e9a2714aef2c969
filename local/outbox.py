"""What the local providers received, parsed from the raw MIME (GET/DELETE /_local/outbox)."""

from __future__ import annotations

import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

import requests


def _addresses(message: EmailMessage, header: str) -> list[str]:
    return [addr for _, addr in getaddresses([str(v) for v in message.get_all(header, [])]) if addr]


def describe(provider: str, raw: bytes, envelope: list[str] | None = None) -> dict[str, Any]:
    """The contract's outbox entry for one message: headers, bodies, attachments (Bcc = envelope minus To/Cc)."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    to, cc = _addresses(message, "To"), _addresses(message, "Cc")
    bcc = sorted({a for a in envelope or [] if a not in to and a not in cc})
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    attachments = [
        {
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "size": len(part.get_payload(decode=True) or b""),
        }
        for part in message.iter_attachments()
    ]
    return {
        "provider": provider,
        "from": str(message.get("From", "")),
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "reply_to": str(message["Reply-To"]) if message["Reply-To"] else None,
        "subject": str(message.get("Subject", "")),
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        "attachments": attachments,
        "raw": raw.decode("utf-8", "replace"),
    }


class Outbox:
    """SES messages come from moto's own record of what it received (clearing hides what was there before);
    Mailgun messages from the local stand-in."""

    def __init__(self, moto_endpoint: str, mailgun=None):
        self._moto = moto_endpoint
        self._mailgun = mailgun
        self._lock = threading.Lock()
        self._ses_seen = 0

    def _ses_raw(self) -> list[dict[str, Any]]:
        data = requests.get(f"{self._moto}/moto-api/data.json", timeout=10).json()
        return data.get("ses", {}).get("RawMessage", [])

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            fresh = self._ses_raw()[self._ses_seen :]
        ses = [describe("ses", m["raw_data"].encode(), m.get("destinations")) for m in fresh]
        return ses + (self._mailgun.messages() if self._mailgun else [])

    def clear(self) -> None:
        with self._lock:
            self._ses_seen = len(self._ses_raw())
        if self._mailgun:
            self._mailgun.clear()
