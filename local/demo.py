"""The local stack's demo contact form: `GET /` serves web/contact-form.html wired to a demo form channel."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from local.template import ROOT

WEB = ROOT / "web"
DEMO_FORM = "demo-contact"


def create_demo_channel(gateway, admin_key: str, url: str, domain: str) -> str:
    """Create the demo form channel through the real control API; returns the form's page secret."""
    secret = secrets.token_urlsafe(24)
    host_port = url.split("://", 1)[1].split(":")[-1]
    body = {
        "sender": {"email": f"noreply@{domain}", "name": "Demo contact form"},
        "recipients": [f"contact@{domain}"],
        "form": {
            "allowed_origins": [url, f"http://localhost:{host_port}"],
            "require_nonce": True,
            "secret": secret,
            "per_ip_min_period": 0,
            "redirect_url": f"{url}/thanks",
        },
    }
    builder = EnvironBuilder(
        method="PUT",
        path=f"/v1/channels/{DEMO_FORM}",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
    )
    response = gateway.handle(Request(builder.get_environ()))
    if response.status_code not in (200, 201):
        raise RuntimeError(f"could not create the demo form channel: {response.get_data(as_text=True)}")
    return secret


class DemoSite:
    def __init__(self, url: str, secret: str):
        self.url = url
        self.secret = secret

    def page(self) -> str:
        html = (WEB / "contact-form.html").read_text(encoding="utf-8")
        for name, value in {
            "API": self.url,
            "FORM": DEMO_FORM,
            "SECRET": self.secret,
            "NEXT": f"{self.url}/thanks",
            "SCRIPT": "/mailrelay-form.js",
        }.items():
            html = html.replace("{{" + name + "}}", value)
        return html

    def handle(self, request: Request) -> Response | None:
        if request.method != "GET":
            return None
        if request.path == "/":
            return Response(self.page(), content_type="text/html; charset=utf-8")
        if request.path == "/mailrelay-form.js":
            return Response(Path(WEB / "mailrelay-form.js").read_bytes(), content_type="text/javascript")
        if request.path == "/thanks":
            return Response(
                "<!doctype html><meta charset=utf-8><title>Thanks</title><h1>Thank you!</h1>"
                '<p>Your message was sent. <a href="/">Back</a></p>',
                content_type="text/html",
            )
        return None
