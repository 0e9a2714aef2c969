"""A local Mailgun stand-in: a real HTTP server speaking Mailgun's `POST /v3/{domain}/messages.mime` and
`GET /v3/domains/{domain}`, for the domains its account has (like Mailgun, it knows no other)."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local.faults import Faults
from local.outbox import describe


class MailgunStandIn:
    def __init__(
        self, api_key: str, faults: Faults, domains: tuple[str, ...] = (), host="127.0.0.1", port=0, on_sent=None
    ):
        self.api_key = api_key
        self.domains = set(domains)
        self.faults = faults
        self.on_sent = on_sent  # (recipients, user variables) of each accepted message
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._server = make_server(host, port, self.wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.endpoint = f"http://{host}:{self._server.server_port}"

    def start(self) -> MailgunStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def wsgi(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        domain_info = request.method == "GET" and len(parts) == 3 and parts[:2] == ["v3", "domains"]
        send = request.method == "POST" and len(parts) == 3 and parts[0] == "v3" and parts[2] == "messages.mime"
        if not (domain_info or send):
            return _json(404, {"message": "Not Found"})
        expected = "Basic " + base64.b64encode(f"api:{self.api_key}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return Response("Forbidden", status=401)
        error = self.faults.mailgun_error()
        if error and not (domain_info and error[0] < 500):  # a refused message says nothing about the account
            return _json(error[0], {"message": error[1]})
        domain = parts[2] if domain_info else parts[1]
        if self.domains and domain not in self.domains:
            return _json(404, {"message": "Domain not found"})
        if domain_info:
            return _json(200, {"domain": {"name": domain, "state": "active"}})
        upload = request.files.get("message")
        recipients = request.form.getlist("to")
        if upload is None or not recipients:
            return _json(400, {"message": "'message' and 'to' are required"})
        entry = describe("mailgun", upload.read(), recipients)
        entry["mailgun"] = {
            "domain": parts[1],
            "tags": request.form.getlist("o:tag"),
            "variables": {k[2:]: v for k, v in request.form.items() if k.startswith("v:")},
        }
        with self._lock:
            self._messages.append(entry)
        if self.on_sent is not None:
            self.on_sent(recipients, entry["mailgun"]["variables"])
        return _json(200, {"id": f"<{uuid.uuid4().hex}@{parts[1]}>", "message": "Queued. Thank you."})


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
