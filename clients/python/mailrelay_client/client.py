"""`Client`: every route of the mailrelay API, typed results, errors as exceptions with status and code."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Type, TypeVar, Union
from urllib.parse import quote

import requests

T = TypeVar("T")
# The largest raw (message/rfc822) body one request can carry: API Gateway hands it to Lambda base64-encoded, and
# Lambda refuses an event over 6,291,456 bytes with API Gateway's bare 413. The server's mailrelay.limits.ceiling()
# computes the same number (a test keeps the two equal); the client checks first, so the caller gets a clear error.
RAW_MESSAGE_CEILING = 4_694_016
Attachment = Union[Tuple[str, bytes], Tuple[str, bytes, str]]  # (filename, content[, content type])


class MailrelayError(Exception):
    """An error answer of the API (`status`, `error` code, `message`), or `status` None when it was not reached."""

    def __init__(self, status: Optional[int], error: str, message: str, body: Optional[Dict[str, Any]] = None):
        super().__init__(f"{status or 'no answer'} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.body = body or {}

    @property
    def temporary(self) -> bool:
        """Worth retrying later: no answer, rate limited, or the providers / the relay failed."""
        return self.status is None or self.status == 429 or self.status >= 500


def _typed(cls: Type[T], data: Dict[str, Any]) -> T:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    known = {k: v for k, v in data.items() if k in names and k != "raw"}
    return cls(**known, raw=data)  # type: ignore[call-arg]


@dataclass
class Attempt:
    provider: str
    outcome: str
    error: Optional[str] = None
    provider_message_id: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class MessageStatus:
    id: str
    status: str
    provider_used: Optional[str] = None
    providers: List[Attempt] = field(default_factory=list)
    created_at: Optional[str] = None
    suppressed: List[str] = field(default_factory=list)
    test_mode: bool = False
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, data: Dict[str, Any]) -> MessageStatus:
        status = _typed(cls, data)
        status.providers = [_typed(Attempt, a) for a in data.get("providers", [])]
        return status


@dataclass
class Channel:
    descriptor: str
    sender: Dict[str, Any]
    recipients: List[Dict[str, Any]]
    cc: List[Dict[str, Any]] = field(default_factory=list)
    bcc: List[Dict[str, Any]] = field(default_factory=list)
    min_period: float = 0.0
    max_size: int = 0
    domain: Optional[str] = None
    test_mode: bool = False
    at_least_once: bool = False
    form: Optional[Dict[str, Any]] = None
    created_at: Optional[str] = None
    updated_at: Optional[str] = None
    token: Optional[str] = None  # only in the answer that created or set it
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class ChannelPage:
    channels: List[Channel]
    next_cursor: Optional[str]


@dataclass
class Suppression:
    address: str
    reason: str
    source: str
    created_at: str
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class SuppressionPage:
    suppressions: List[Suppression]
    next_cursor: Optional[str]


@dataclass
class AddressCheck:
    address: str
    valid_syntax: bool
    normalized: Optional[str] = None
    domain: Optional[str] = None
    mx_found: Optional[bool] = None
    role_address: bool = False
    disposable: bool = False
    suppressed: bool = False
    ses_identity_status: Optional[str] = None
    reason: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Nonce:
    nonce: str
    expires_at: str
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


class Client:
    """One client for every route. Admin routes need `admin_key`; relay routes `descriptor` + `token`.

    Unset arguments come from MAILRELAY_URL, MAILRELAY_ADMIN_KEY, MAILRELAY_DESCRIPTOR, MAILRELAY_TOKEN.
    With `sigv4=True` (needs the `aws` extra) control requests are signed for API Gateway's IAM authorization and
    the admin key travels in X-Admin-Key.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        admin_key: Optional[str] = None,
        descriptor: Optional[str] = None,
        token: Optional[str] = None,
        timeout: float = 30.0,
        sigv4: bool = False,
        region: Optional[str] = None,
        session: Optional[requests.Session] = None,
    ):
        url = url or os.environ.get("MAILRELAY_URL")
        if not url:
            raise ValueError("no URL: pass url= or set MAILRELAY_URL")
        self.url = url.rstrip("/")
        self.admin_key = admin_key or os.environ.get("MAILRELAY_ADMIN_KEY")
        self.descriptor = descriptor or os.environ.get("MAILRELAY_DESCRIPTOR")
        self.token = token or os.environ.get("MAILRELAY_TOKEN")
        self.timeout = timeout
        self.sigv4 = sigv4
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.session = session or requests.Session()

    # ------------------------------------------------------------------ plumbing

    def _admin_headers(self) -> Dict[str, str]:
        if not self.admin_key:
            raise ValueError("this call needs the admin key: pass admin_key= or set MAILRELAY_ADMIN_KEY")
        if self.sigv4:
            return {"X-Admin-Key": self.admin_key}
        return {"Authorization": f"Bearer {self.admin_key}"}

    def _channel_headers(self) -> Dict[str, str]:
        if not self.descriptor or not self.token:
            raise ValueError(
                "this call needs channel credentials: descriptor= and token= (or MAILRELAY_DESCRIPTOR "
                "and MAILRELAY_TOKEN)"
            )
        return {"X-Descriptor": self.descriptor, "X-Token": self.token}

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Optional[Dict[str, str]] = None,
        json_body: Any = None,
        data: Optional[bytes] = None,
        params: Optional[Dict[str, Any]] = None,
        sign: bool = False,
    ) -> Any:
        """Send one request; the decoded JSON answer (None for 204), or MailrelayError."""
        headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        prepared = self.session.prepare_request(
            requests.Request(
                method,
                self.url + path,
                headers=headers,
                data=data,
                params={k: v for k, v in (params or {}).items() if v is not None},
            )
        )
        if sign and self.sigv4:
            self._sign(prepared)
        try:
            response = self.session.send(prepared, timeout=self.timeout)
        except requests.RequestException as exc:
            raise MailrelayError(None, "connection_error", f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 204 or not response.content:
            if response.status_code >= 400:
                raise MailrelayError(response.status_code, "http_error", response.reason or "error")
            return None
        try:
            body = response.json()
        except ValueError:
            body = {"error": "http_error", "message": response.text[:500]}
        if response.status_code >= 400:
            if not isinstance(body, dict):
                body = {"message": str(body)}
            raise MailrelayError(
                response.status_code,
                str(body.get("error") or "http_error"),
                str(body.get("message") or response.reason),
                body,
            )
        return body

    def _sign(self, prepared: requests.PreparedRequest) -> None:
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.session import Session
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ValueError("SigV4 needs botocore: pip install 'mailrelay-client[aws]'") from exc
        credentials = Session().get_credentials()
        if credentials is None:
            raise ValueError("SigV4: no AWS credentials found")
        aws_request = AWSRequest(
            method=prepared.method, url=prepared.url, data=prepared.body, headers=dict(prepared.headers)
        )
        SigV4Auth(credentials, "execute-api", self.region or "us-east-1").add_auth(aws_request)
        prepared.headers.update(dict(aws_request.headers))

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, headers=self._admin_headers(), sign=True, **kwargs)

    # ------------------------------------------------------------------ meta

    def health(self) -> Dict[str, Any]:
        return self.request("GET", "/v1/health")

    def openapi(self) -> Dict[str, Any]:
        return self.request("GET", "/v1/openapi.json")

    # ------------------------------------------------------------------ channels (admin)

    def put_channel(
        self,
        descriptor: str,
        *,
        sender: Union[str, Dict[str, str]],
        recipients: Sequence[Union[str, Dict[str, str]]],
        cc: Sequence[Union[str, Dict[str, str]]] = (),
        bcc: Sequence[Union[str, Dict[str, str]]] = (),
        min_period: Optional[float] = None,
        max_size: Optional[int] = None,
        token: Optional[str] = None,
        **settings: Any,
    ) -> Channel:
        """Create or replace; the answer's `token` is set when this call created or set it."""
        body: Dict[str, Any] = {
            "sender": sender,
            "recipients": list(recipients),
            "cc": list(cc),
            "bcc": list(bcc),
            **settings,
        }
        if min_period is not None:
            body["min_period"] = min_period
        if max_size is not None:
            body["max_size"] = max_size
        if token is not None:
            body["token"] = token
        return _typed(Channel, self._admin("PUT", f"/v1/channels/{quote(descriptor, safe='')}", json_body=body))

    def get_channel(self, descriptor: str) -> Channel:
        return _typed(Channel, self._admin("GET", f"/v1/channels/{quote(descriptor, safe='')}"))

    def list_channels(self, limit: int = 50, cursor: Optional[str] = None) -> ChannelPage:
        page = self._admin("GET", "/v1/channels", params={"limit": limit, "cursor": cursor})
        return ChannelPage([_typed(Channel, c) for c in page["channels"]], page.get("next_cursor"))

    def iter_channels(self) -> Iterable[Channel]:
        cursor = None
        while True:
            page = self.list_channels(100, cursor)
            yield from page.channels
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def delete_channel(self, descriptor: str) -> None:
        self._admin("DELETE", f"/v1/channels/{quote(descriptor, safe='')}")

    def rotate_token(self, descriptor: str, grace_seconds: int = 0) -> str:
        answer = self._admin(
            "POST", f"/v1/channels/{quote(descriptor, safe='')}/token", json_body={"grace_seconds": grace_seconds}
        )
        return answer["token"]

    # ------------------------------------------------------------------ relay (channel)

    def send(
        self,
        *,
        subject: str,
        text: Optional[str] = None,
        html: Optional[str] = None,
        reply_to: Optional[str] = None,
        attachments: Sequence[Attachment] = (),
        tags: Optional[Dict[str, str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> MessageStatus:
        body: Dict[str, Any] = {"subject": subject}
        for name, value in (("text", text), ("html", html), ("reply_to", reply_to), ("tags", tags)):
            if value is not None:
                body[name] = value
        if attachments:
            body["attachments"] = [
                {
                    "filename": a[0],
                    "content": base64.b64encode(a[1]).decode(),
                    "content_type": a[2] if len(a) > 2 else "application/octet-stream",
                }  # type: ignore[misc]
                for a in attachments
            ]
        headers = self._channel_headers()
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return MessageStatus.parse(self.request("POST", "/v1/messages", headers=headers, json_body=body))

    def send_raw(self, message: bytes, idempotency_key: Optional[str] = None) -> MessageStatus:
        """Relay an RFC 822 message as is; From/To/Cc/Bcc are the channel's."""
        if len(message) > RAW_MESSAGE_CEILING:
            raise MailrelayError(
                413,
                "payload_too_large",
                f"the message is {len(message):,} bytes; one raw request can carry at most {RAW_MESSAGE_CEILING:,} "
                "(API Gateway hands it to Lambda base64-encoded)",
            )
        headers = {**self._channel_headers(), "Content-Type": "message/rfc822"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return MessageStatus.parse(self.request("POST", "/v1/messages", headers=headers, data=message))

    def message_status(self, message_id: str) -> MessageStatus:
        return MessageStatus.parse(
            self.request("GET", f"/v1/messages/{quote(message_id, safe='')}", headers=self._channel_headers())
        )

    # ------------------------------------------------------------------ suppressions (admin)

    def list_suppressions(self, limit: int = 50, cursor: Optional[str] = None) -> SuppressionPage:
        page = self._admin("GET", "/v1/suppressions", params={"limit": limit, "cursor": cursor})
        return SuppressionPage([_typed(Suppression, s) for s in page["suppressions"]], page.get("next_cursor"))

    def get_suppression(self, address: str) -> Suppression:
        return _typed(Suppression, self._admin("GET", f"/v1/suppressions/{quote(address, safe='@')}"))

    def add_suppression(self, address: str, reason: str = "manual") -> Suppression:
        return _typed(
            Suppression,
            self._admin("PUT", f"/v1/suppressions/{quote(address, safe='@')}", json_body={"reason": reason}),
        )

    def remove_suppression(self, address: str) -> None:
        self._admin("DELETE", f"/v1/suppressions/{quote(address, safe='@')}")

    # ------------------------------------------------------------------ validation

    def validate(self, address: str) -> AddressCheck:
        """With channel credentials when the client has them, else the admin key."""
        headers = self._channel_headers() if self.descriptor and self.token else self._admin_headers()
        return _typed(AddressCheck, self.request("GET", f"/v1/validation/{quote(address, safe='@')}", headers=headers))

    def request_verification(self, address: str) -> Dict[str, Any]:
        return self._admin("POST", f"/v1/validation/{quote(address, safe='@')}")

    # ------------------------------------------------------------------ deployment

    def doctor(self) -> Dict[str, Any]:
        """Can the deployment really send? {"ok": bool, "checks": [{"name", "status", "detail", "fix"?}]}."""
        return self._admin("GET", "/v1/doctor")

    # ------------------------------------------------------------------ public forms

    def nonce(self, form: str) -> Nonce:
        return _typed(Nonce, self.request("GET", "/v1/nonce", params={"form": form}))

    def submit_form(self, form: str, fields: Dict[str, str]) -> Dict[str, Any]:
        return self.request(
            "POST", f"/v1/forms/{quote(form, safe='')}", json_body=fields, headers={"Accept": "application/json"}
        )
