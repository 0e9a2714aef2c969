"""CAPTCHA checks through each provider's siteverify HTTP API (the URL is configurable, so tests use a local one)."""

from __future__ import annotations

from mailrelay import timebox, web
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
    try:
        response = web.request(
            "POST",
            _verify_url(captcha.provider),
            form={"secret": captcha.secret, "response": token, "remoteip": remote_ip},
            connect=CONNECT_TIMEOUT,
            read=max(0.1, timebox.left(READ_TIMEOUT)),
        )
        if response.status >= 500:
            raise web.Unreachable(f"HTTP {response.status}")
        outcome = response.json() if response.status < 400 else {}
        if not isinstance(outcome, dict):
            raise ValueError("not a JSON object")
    except (web.Unreachable, web.NoAnswer, ValueError):
        raise UpstreamUnavailable(
            "the CAPTCHA service could not be reached; try again", error="captcha_unavailable"
        ) from None
    if outcome.get("success") is not True:
        raise Forbidden("the CAPTCHA check failed", error="captcha_failed")
