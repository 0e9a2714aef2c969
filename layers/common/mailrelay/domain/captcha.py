"""CAPTCHA checks through each provider's siteverify HTTP API (the URL is configurable, so tests use a local one)."""

from __future__ import annotations

from mailrelay import timebox
from mailrelay.config import settings
from mailrelay.errors import Forbidden, UpstreamUnavailable
from mailrelay.models.forms import Captcha

CONNECT_TIMEOUT, READ_TIMEOUT = 2.0, 5.0


def _verify_url(provider: str) -> str:
    config = settings()
    return {
        "turnstile": config.turnstile_verify_url,
        "hcaptcha": config.hcaptcha_verify_url,
        "recaptcha": config.recaptcha_verify_url,
    }[provider]


def verify(captcha: Captcha, token: str | None, remote_ip: str) -> None:
    if not token:
        raise Forbidden("the CAPTCHA was not solved", error="captcha_failed")
    import requests  # only forms with a CAPTCHA need it

    try:
        response = requests.post(
            _verify_url(captcha.provider),
            data={"secret": captcha.secret, "response": token, "remoteip": remote_ip},
            timeout=(CONNECT_TIMEOUT, max(0.1, timebox.left(READ_TIMEOUT))),
        )
        if response.status_code >= 500:
            raise requests.HTTPError(f"HTTP {response.status_code}")
        outcome = response.json() if response.ok else {}
    except (requests.RequestException, ValueError):
        raise UpstreamUnavailable(
            "the CAPTCHA service could not be reached; try again", error="captcha_unavailable"
        ) from None
    if outcome.get("success") is not True:
        raise Forbidden("the CAPTCHA check failed", error="captcha_failed")
