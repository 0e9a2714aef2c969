"""Outbound HTTP(S) for Mailgun and the CAPTCHA services, through urllib3.

urllib3 is what botocore itself sends with, so the Lambda runtime has it and the layer ships no HTTP library of its
own (requests, charset_normalizer and certifi were 1.8 MB of the layer). TLS is verified against the system's CA
store. No retries here: each caller decides about a second attempt against its own time budget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError, ReadTimeoutError


class Unreachable(Exception):
    """No usable answer: refused, DNS, TLS, connect timeout, or a connection that broke (a broken connection can
    also happen after the server read the request: callers treat it as "not sent", as `requests` users did)."""


class NoAnswer(Exception):
    """The request went out and no answer came within the read timeout: it may have been acted on."""


@dataclass(frozen=True)
class Response:
    status: int
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def json(self) -> Any:
        """The JSON body (ValueError when it is not JSON)."""
        return json.loads(self.data)


@cache
def _pool() -> urllib3.PoolManager:
    return urllib3.PoolManager()


def request(
    method: str,
    url: str,
    *,
    connect: float,
    read: float,
    form: list[tuple[str, Any]] | dict[str, str] | None = None,
    multipart: list[tuple[str, Any]] | None = None,
    basic_auth: str | None = None,
) -> Response:
    """One request. `form` is sent urlencoded, `multipart` as multipart/form-data (a file: (name, (filename, bytes,
    content type)))."""
    headers: dict[str, str] = {}
    body: bytes | str | None = None
    if basic_auth:
        headers.update(urllib3.util.make_headers(basic_auth=basic_auth))
    if multipart is not None:
        body, headers["Content-Type"] = urllib3.encode_multipart_formdata(multipart)
    elif form is not None:
        body, headers["Content-Type"] = urlencode(form), "application/x-www-form-urlencoded"
    try:
        answer = _pool().request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=connect, read=read),
            retries=False,
            redirect=False,
            preload_content=True,
        )
    except ReadTimeoutError as exc:
        raise NoAnswer(str(exc)) from exc
    except HTTPError as exc:
        raise Unreachable(type(exc).__name__) from exc
    return Response(answer.status, answer.data)
