"""Mailgun's HTTP API (`POST /v3/{domain}/messages.mime`), through urllib3 (mailrelay.web), with explicit timeouts."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from mailrelay import timebox, web
from mailrelay.providers.base import Deadline, Failure, Outgoing, ProviderError

US_BASE_URL = "https://api.mailgun.net"
EU_BASE_URL = "https://api.eu.mailgun.net"
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 8.0
RETRY_STATUSES = {429, 500, 502, 503, 504}
# 400 and 413: the message is bad. 401/403/404: our key, domain or sandbox limits - another provider may work.
MESSAGE_STATUSES = {400, 413, 422}


@dataclass(frozen=True)
class MailgunSettings:
    api_key: str
    domain: str
    base_url: str = US_BASE_URL


def _reason(response: web.Response) -> str:
    try:
        detail = response.json().get("message") or response.text
    except (ValueError, AttributeError):
        detail = response.text
    return f"HTTP {response.status}: {str(detail)[:300]}"


class MailgunProvider:
    name = "mailgun"

    def __init__(
        self,
        load_settings: Callable[[], MailgunSettings | None],
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ):
        self._load_settings = load_settings  # read only when Mailgun is actually tried
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def configured(self) -> bool:
        return self._load_settings() is not None

    def send(self, message: Outgoing, deadline: Deadline) -> str:
        settings = self._load_settings()
        if settings is None:
            raise ProviderError(Failure.PROVIDER, "Mailgun is not configured (mailgun_api_key / mailgun_domain)")

        domain = message.domain or settings.domain
        url = f"{settings.base_url.rstrip('/')}/v3/{domain}/messages.mime"
        fields: list[tuple[str, object]] = [("to", address) for address in message.destinations]
        fields += [("o:tag", f"{k}:{v}") for k, v in message.tags.items()]
        if message.message_id:
            fields.append(("v:mailrelay_id", message.message_id))
        fields.append(("message", ("message.mime", message.raw, "message/rfc822")))
        for attempt in (1, 2):
            read_timeout = min(self._read_timeout, deadline.remaining() - self._connect_timeout)
            if read_timeout < 0.1:
                raise ProviderError(Failure.PROVIDER, "no time left to try Mailgun")
            try:
                response = web.request(
                    "POST",
                    url,
                    multipart=fields,
                    basic_auth=f"api:{settings.api_key}",
                    connect=self._connect_timeout,
                    read=read_timeout,
                )
            except web.NoAnswer as exc:
                raise ProviderError(Failure.UNKNOWN, f"no answer from Mailgun within {read_timeout:.1f} s") from exc
            except web.Unreachable as exc:  # connect timeout, refused, DNS, TLS
                raise ProviderError(Failure.PROVIDER, f"cannot reach Mailgun: {exc}") from exc
            if response.status == 200:
                return _message_id(response)
            if response.status in MESSAGE_STATUSES:
                raise ProviderError(Failure.MESSAGE, _reason(response))
            backoff = random.uniform(0.3, 0.8)  # noqa: S311 (jitter, not security)
            retry = response.status in RETRY_STATUSES and attempt == 1
            if not retry or deadline.remaining() < backoff + self._connect_timeout + self._read_timeout:
                raise ProviderError(Failure.PROVIDER, _reason(response))
            time.sleep(backoff)
        raise AssertionError("unreachable")  # pragma: no cover


def _message_id(response: web.Response) -> str:
    try:
        return str(response.json().get("id", ""))
    except (ValueError, AttributeError):
        return ""  # it said 200: the message is accepted, whatever the body


def check_domain(api_key: str, domain: str, base_url: str) -> tuple[str, str]:
    """("ok" | "warn" | "fail", why) for the key and the sending domain (`GET /v3/domains/{domain}`)."""
    read_timeout = timebox.left(5.0)
    if read_timeout < 0.5:
        return "warn", "no time left in this request to ask Mailgun"
    try:
        response = web.request(
            "GET",
            f"{base_url.rstrip('/')}/v3/domains/{domain}",
            basic_auth=f"api:{api_key}",
            connect=CONNECT_TIMEOUT,
            read=read_timeout,
        )
    except (web.Unreachable, web.NoAnswer) as exc:
        return "fail", f"cannot reach Mailgun at {base_url}: {type(exc).__name__}"
    if response.status == 200:
        try:
            state = (response.json().get("domain") or {}).get("state", "unknown")
        except (ValueError, AttributeError):
            state = "unknown"
        return ("ok" if state == "active" else "warn"), f"key accepted; domain {domain} is {state}"
    if response.status in (401, 403):
        return "fail", "Mailgun refused the API key (mailgun_api_key)"
    if response.status == 404:
        return "fail", f"Mailgun does not know the domain {domain} for this key (mailgun_domain, or the EU/US region)"
    return "fail", f"Mailgun answered {_reason(response)}"
